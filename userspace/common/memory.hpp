// Returning freed heap to the kernel after a large one-off batch.
#pragma once

#include <malloc.h>

#include <cstddef>

namespace cwt
{

// After work on many sockets at once (a leak resolution of thousands, which
// builds and frees per-socket maps), glibc keeps the freed heap mapped: RSS
// would stay at the batch's peak for good. Small batches are left alone.
inline void trim_heap_after(std::size_t items)
{
    constexpr std::size_t kLargeBatch = 1024;
    if (items >= kLargeBatch)
        malloc_trim(0);
}

} // namespace cwt
