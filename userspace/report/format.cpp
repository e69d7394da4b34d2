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
        // inet_ntop's dotted quad goes through sprintf: a snapshot formats
        // 150k addresses, so the same text is written here directly.
        char* p = buf;
        for (int i = 12; i < 16; ++i) {
            unsigned v = e.addr[static_cast<std::size_t>(i)];
            if (i > 12)
                *p++ = '.';
            if (v >= 100)
                *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10)
                *p++ = static_cast<char>('0' + v / 10 % 10);
            *p++ = static_cast<char>('0' + v % 10);
        }
        return std::string(buf, static_cast<std::size_t>(p - buf));
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
    // The text depends on the millisecond only, and a snapshot stamps 50k
    // lines with the same one: the last one is kept (per thread).
    thread_local std::int64_t last_ms = -1;
    thread_local std::string last_text;
    std::int64_t ms = ns / static_cast<std::int64_t>(kNsPerMs);
    if (ms == last_ms && ns >= 0)
        return last_text;
    std::string text = rfc3339_uncached(ns);
    last_ms = ns >= 0 ? ms : -1;
    last_text = text;
    return text;
}

std::string WallClock::rfc3339_uncached(std::int64_t ns)
{
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
