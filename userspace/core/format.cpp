#include "core/format.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/units.hpp"

namespace cwt
{

bool Endpoint::is_v4_mapped() const
{
    static constexpr std::array<std::uint8_t, 12> prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(addr.data(), prefix.data(), prefix.size()) == 0;
}

bool Endpoint::is_unspecified() const
{
    if (is_v4_mapped())
        return addr[12] == 0 && addr[13] == 0 && addr[14] == 0 && addr[15] == 0;
    for (auto b : addr)
        if (b)
            return false;
    return true;
}

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

std::string escape_comm(std::string_view raw)
{
    std::string out;
    out.reserve(raw.size());
    for (unsigned char c : raw) {
        if (c == '\0')
            break;
        if (c == '\\') {
            out += "\\\\";
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof(hex), "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

const char* tcp_state_name(std::uint8_t state)
{
    static const char* names[] = {"UNKNOWN",   "ESTABLISHED", "SYN_SENT",    "SYN_RECV",   "FIN_WAIT1",
                                  "FIN_WAIT2", "TIME_WAIT",   "CLOSE",       "CLOSE_WAIT", "LAST_ACK",
                                  "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "UNKNOWN";
}

std::string errno_name(int err)
{
    switch (err) {
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    default:
        return "E" + std::to_string(err);
    }
}

const char* owner_kind_name(OwnerKind k)
{
    switch (k) {
    case OwnerKind::Process:
        return "process";
    case OwnerKind::AcceptQueue:
        return "accept_queue";
    case OwnerKind::NoFd:
        return "no_fd";
    case OwnerKind::Unknown:
        break;
    }
    return "unknown";
}

const char* finding_type_name(FindingType t)
{
    switch (t) {
    case FindingType::CloseWait:
        return "close_wait";
    case FindingType::CloseWaitLeak:
        return "close_wait_leak";
    case FindingType::CloseWaitClosed:
        return "close_wait_closed";
    case FindingType::AcceptError:
        return "accept_error";
    case FindingType::Lost:
        return "lost";
    case FindingType::ListenOverflow:
        return "listen_overflow";
    case FindingType::AcceptStall:
        return "accept_stall";
    }
    return "unknown";
}

static std::int64_t clock_ns(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * static_cast<std::int64_t>(kNsPerSec) + ts.tv_nsec;
}

MonoNs mono_now_ns()
{
    return static_cast<MonoNs>(clock_ns(CLOCK_MONOTONIC));
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
