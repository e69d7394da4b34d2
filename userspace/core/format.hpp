// Text forms shared by every reporter: addresses, states, safe process names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/model.hpp"

namespace cwt
{

// "10.0.0.1:80", "[2001:db8::1]:80"; v4-mapped addresses print as IPv4.
std::string format_endpoint(const Endpoint& e);
std::string format_addr(const Endpoint& e);

// Process names are chosen by whoever runs the process: never let them reach a
// terminal or a JSON consumer raw. Printable ASCII passes, everything else
// (control bytes, escape sequences, invalid UTF-8) becomes \xNN; '\' is doubled.
std::string escape_comm(std::string_view raw);

const char* tcp_state_name(std::uint8_t state);
std::string errno_name(int err);

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

MonoNs mono_now_ns();
std::string format_age(double seconds); // "12.3s", "5m03s", "2h14m", "3d04h"

} // namespace cwt
