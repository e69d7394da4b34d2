#include "report/format.hpp"

#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
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
        return format_addr(e) + ":" + std::to_string(e.port);
    return "[" + format_addr(e) + "]:" + std::to_string(e.port);
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
    time_t secs = static_cast<time_t>(ns / static_cast<std::int64_t>(kNsPerSec));
    tm t{};
    gmtime_r(&secs, &t);
    char buf[80];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1,
                  t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                  static_cast<int>((ns / static_cast<std::int64_t>(kNsPerMs)) % 1000));
    return buf;
}

std::string WallClock::hms(MonoNs mono) const
{
    time_t secs = static_cast<time_t>(to_unix_ns(mono) / static_cast<std::int64_t>(kNsPerSec));
    tm t{};
    localtime_r(&secs, &t);
    char buf[16];
    std::strftime(buf, sizeof(buf), "%H:%M:%S", &t);
    return buf;
}

std::string format_age(double s)
{
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof(buf), "%.1fs", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    else if (s < 86400)
        std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600,
                      (static_cast<int>(s) % 3600) / 60);
    else
        std::snprintf(buf, sizeof(buf), "%dd%02dh", static_cast<int>(s) / 86400,
                      (static_cast<int>(s) % 86400) / 3600);
    return buf;
}

} // namespace cwt
