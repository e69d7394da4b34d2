// Counters in the text of /proc/net/netstat (per network namespace). Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace cwt
{

// TcpExt ListenOverflows; nullopt if absent or malformed.
std::optional<std::uint64_t> parse_listen_overflows(std::string_view netstat);

// "TCP: inuse N" of /proc/net/sockstat: hashed TCP sockets of the namespace
// (listeners, connections, children still in an accept queue; not TIME_WAIT).
std::optional<std::uint64_t> parse_tcp_inuse(std::string_view sockstat);

} // namespace cwt
