// The clocks every stage reads: CLOCK_MONOTONIC for event times, both clocks
// for the wall-clock offset of the reporters.
#pragma once

#include <time.h>

#include <cstdint>

#include "common/units.hpp"

namespace cwt
{

inline std::int64_t clock_ns(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * static_cast<std::int64_t>(kNsPerSec) + ts.tv_nsec;
}

// CLOCK_MONOTONIC nanoseconds, the time base of the kernel's records.
inline std::uint64_t mono_now_ns()
{
    return static_cast<std::uint64_t>(clock_ns(CLOCK_MONOTONIC));
}

} // namespace cwt
