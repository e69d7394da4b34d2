// Time units and the defaults every stage agrees on: one place for the
// seconds <-> nanoseconds conversion and the 30 s / 5 s defaults.
#pragma once

#include <cstdint>

namespace cwt
{

constexpr std::uint64_t kNsPerSec = 1000000000ULL;
constexpr std::uint64_t kNsPerMs = 1000000ULL;

// Seconds (a CLI value, a report field) to nanoseconds; truncates.
constexpr std::uint64_t seconds_to_ns(double s)
{
    return static_cast<std::uint64_t>(s * static_cast<double>(kNsPerSec));
}
constexpr double ns_to_seconds(std::uint64_t ns)
{
    return static_cast<double>(ns) / static_cast<double>(kNsPerSec);
}

// -t/--threshold: seconds in CLOSE_WAIT before a socket is reported as a leak.
constexpr double kDefaultThresholdS = 30.0;
constexpr std::uint64_t kDefaultThresholdNs = seconds_to_ns(kDefaultThresholdS);
// --stall: seconds a listener may hold queued connections without accept().
constexpr double kDefaultStallS = 5.0;

} // namespace cwt
