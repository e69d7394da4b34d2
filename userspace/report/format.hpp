// report/: text forms shared by every reporter: addresses, states, ages, wall
// clock. Safe process names and errno names live in common/text.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/text.hpp"
#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

// "10.0.0.1:80", "[2001:db8::1]:80"; v4-mapped addresses print as IPv4.
std::string format_endpoint(const Endpoint& e);
std::string format_addr(const Endpoint& e);

const char* tcp_state_name(std::uint8_t state);

// Converts CLOCK_MONOTONIC to wall-clock time, fixed once at startup.
class WallClock
{
  public:
    WallClock(); // samples both clocks now
    WallClock(std::int64_t realtime_minus_mono_ns) : offset_ns_(realtime_minus_mono_ns) {}
    std::int64_t to_unix_ns(MonoNs mono) const { return static_cast<std::int64_t>(mono) + offset_ns_; }
    std::string rfc3339(MonoNs mono) const; // 2026-11-23T18:10:00.123Z
    std::string hms(MonoNs mono) const;     // 18:10:00 (local time)

  private:
    std::int64_t offset_ns_ = 0;
};

std::string format_age(double seconds); // "12.3s", "5m03s", "2h14m", "3d04h"

// "ipv4", "ipv6", or "" for both.
const char* family_name(std::uint16_t family);
// The socket filters as the start line shows them: " port=80,81 lport=8080 ipv6" ("" for none).
std::string describe_filter(const SocketFilter& f);

} // namespace cwt
