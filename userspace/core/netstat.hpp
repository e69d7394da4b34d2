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
// "TCP6: inuse N" of /proc/net/sockstat6: the same for IPv6 sockets (tcpv6_prot
// is counted apart from tcp_prot; dual-stack sockets are IPv6 ones).
std::optional<std::uint64_t> parse_tcp6_inuse(std::string_view sockstat6);
// "PREFIX N ..." on a line of its own; nullopt if absent or malformed.
std::optional<std::uint64_t> parse_inuse(std::string_view text, std::string_view prefix);

} // namespace cwt
