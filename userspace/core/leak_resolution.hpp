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
// process (fd tables are global), null if none. iter/tcp sees only our own
// netns, so a socket of another netns that it missed is not gone: its close
// event will say when it is. Anything else that is no longer in CLOSE_WAIT is.
Enrichment resolve_at_threshold(const std::optional<SeenSock>& seen, const std::vector<ProcessRef>* owners,
                                std::uint32_t sock_netns, std::uint32_t own_netns);

} // namespace cwt
