// Endpoint builders shared by the unit tests.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "core/model.hpp"

namespace cwt::test
{

// IPv4 endpoints are stored v4-mapped, as the kernel side writes them.
inline Endpoint v4(const char* addr, std::uint16_t port)
{
    Endpoint e;
    e.addr[10] = 0xff;
    e.addr[11] = 0xff;
    EXPECT_EQ(inet_pton(AF_INET, addr, e.addr.data() + 12), 1) << addr;
    e.port = port;
    return e;
}

inline Endpoint v6(const char* addr, std::uint16_t port)
{
    Endpoint e;
    EXPECT_EQ(inet_pton(AF_INET6, addr, e.addr.data()), 1) << addr;
    e.port = port;
    return e;
}

} // namespace cwt::test
