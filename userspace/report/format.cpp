#include "report/format.hpp"

#include <arpa/inet.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ctime>

#include "common/clock.hpp"
#include "common/units.hpp"

namespace cwt
{

std::string format_addr(const Endpoint& e)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (e.is_v4_mapped()) {
        inet_ntop(AF_INET, e.addr.data() + 12, buf, sizeof(buf));
        return buf;
    }
    inet_ntop(AF_INET6, e.addr.data(), buf, sizeof(buf));
    return buf;
}

std::string format_endpoint(const Endpoint& e)
{
    if (e.is_v4_mapped())
        return fmt::format("{}:{}", format_addr(e), e.port);
    return fmt::format("[{}]:{}", format_addr(e), e.port);
}

const char* tcp_state_name(std::uint8_t state)
{
    static const char* names[] = {"UNKNOWN",   "ESTABLISHED", "SYN_SENT",    "SYN_RECV",   "FIN_WAIT1",
                                  "FIN_WAIT2", "TIME_WAIT",   "CLOSE",       "CLOSE_WAIT", "LAST_ACK",
                                  "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "UNKNOWN";
}

WallClock::WallClock() : offset_ns_(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC)) {}

std::string WallClock::rfc3339(MonoNs mono) const
{
    std::int64_t ns = to_unix_ns(mono);
    auto secs = static_cast<std::time_t>(ns / static_cast<std::int64_t>(kNsPerSec));
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(secs),
                       (ns / static_cast<std::int64_t>(kNsPerMs)) % 1000);
}

std::string WallClock::hms(MonoNs mono) const
{
    auto secs = static_cast<std::time_t>(to_unix_ns(mono) / static_cast<std::int64_t>(kNsPerSec));
    return fmt::format("{:%H:%M:%S}", fmt::localtime(secs));
}

std::string format_age(double s)
{
    auto i = static_cast<long long>(s);
    if (s < 60)
        return fmt::format("{:.1f}s", s);
    if (s < 3600)
        return fmt::format("{}m{:02d}s", i / 60, i % 60);
    if (s < 86400)
        return fmt::format("{}h{:02d}m", i / 3600, (i % 3600) / 60);
    return fmt::format("{}d{:02d}h", i / 86400, (i % 86400) / 3600);
}

const char* family_name(std::uint16_t family)
{
    return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "";
}

std::string describe_filter(const SocketFilter& f)
{
    std::string s;
    if (!f.ports.empty())
        s += fmt::format(" port={}", fmt::join(f.ports, ","));
    if (!f.lports.empty())
        s += fmt::format(" lport={}", fmt::join(f.lports, ","));
    if (!f.rports.empty())
        s += fmt::format(" rport={}", fmt::join(f.rports, ","));
    if (f.family)
        s += fmt::format(" {}", family_name(f.family));
    return s;
}

} // namespace cwt
