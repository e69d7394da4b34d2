// What a socket past the leak threshold is, from the inventory taken then.
// Pure: the caller walks the kernel, this decides.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

// The socket as iter/tcp saw it at threshold time.
struct SeenSock {
    std::uint8_t state = 0; // CWT_TCP_*
    std::uint32_t recv_q = 0;
};

// seen: none when iter/tcp did not find the socket; owners: its fds in every
// process (fd tables are global), null if none. netns_walked: the walk
// covered the socket's network namespace. A socket of a namespace it did not
// cover (one that appeared, or could not be entered) is not gone: its close
// event will say when it is. Anything else that is no longer in CLOSE_WAIT is.
Enrichment resolve_at_threshold(const std::optional<SeenSock>& seen, const std::vector<ProcessRef>* owners,
                                bool netns_walked);

} // namespace cwt
