// parse_listen_overflows() on real and broken /proc/net/netstat text.
#include <gtest/gtest.h>

#include <string>

#include "core/netstat.hpp"

namespace cwt
{
namespace
{

TEST(Netstat, ListenOverflowsFromTcpExt)
{
    std::string text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\n"
                       "TcpExt: 0 0 42 43\n"
                       "IpExt: InNoRoutes ListenOverflows\n"
                       "IpExt: 1 999\n";
    EXPECT_EQ(parse_listen_overflows(text), 42u);
}

TEST(Netstat, AfterAnotherSection)
{
    EXPECT_EQ(parse_listen_overflows("IpExt: A B\nIpExt: 1 2\nTcpExt: ListenOverflows\nTcpExt: 7\n"), 7u);
}

TEST(Netstat, MissingOrMalformed)
{
    EXPECT_FALSE(parse_listen_overflows(""));
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\n"));            // truncated
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\nTcpExt: x\n")); // not a number
    EXPECT_FALSE(parse_listen_overflows("TcpExt: A B\nTcpExt: 1 2\n"));           // absent
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\nTcpExt: 123456789012345678901\n"));
    EXPECT_FALSE(parse_listen_overflows(std::string(10000, '\n')));
}

TEST(Sockstat, TcpInuse)
{
    EXPECT_EQ(parse_tcp_inuse(
                  "sockets: used 12\nTCP: inuse 301 orphan 0 tw 0 alloc 1 mem 284\nUDP: inuse 0 mem 0\n"),
              301u);
    EXPECT_FALSE(parse_tcp_inuse("sockets: used 12\nUDP: inuse 0 mem 0\n"));
    EXPECT_FALSE(parse_tcp_inuse("TCP: inuse x\n"));
    EXPECT_FALSE(parse_tcp_inuse("TCP: inuse "));
    EXPECT_FALSE(parse_tcp_inuse(""));
}

} // namespace
TEST(Sockstat, Tcp6InUseIsCountedApart)
{
    const char* v6 = "TCP6: inuse 7\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
    EXPECT_EQ(parse_tcp6_inuse(v6), std::optional<std::uint64_t>(7));
    EXPECT_FALSE(parse_tcp_inuse(v6)) << "TCP6 is not TCP";
    EXPECT_FALSE(parse_tcp6_inuse("TCP: inuse 3 orphan 0 tw 0 alloc 1 mem 1\n"));
}

} // namespace cwt
