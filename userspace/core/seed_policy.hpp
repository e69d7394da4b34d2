// Which pre-existing sockets to seed into the kernel maps at start-up, and
// with which owner. Pure: the start-up inventory comes in as values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

// A TCP socket of the start-up inventory, as far as seeding needs it.
struct InventorySock {
    SockId sk = 0;
    std::uint8_t state = 0;  // CWT_TCP_*
    bool has_socket = false; // false: still in an accept queue
    std::uint32_t netns = 0;
    std::uint16_t local_port = 0;
    std::uint32_t recv_q = 0;
};

// One fd of one process that refers to a TCP socket.
struct InventoryFd {
    SockId sk = 0;
    ProcessRef process;
};

// A socket already in CLOSE_WAIT: seeded so that its close is seen.
struct CloseWaitSeed {
    std::size_t sock = 0;                 // index in the inventory's sockets
    OwnerKind owner = OwnerKind::Unknown; // Process, AcceptQueue or Unknown
    std::optional<std::size_t> owner_fd;  // Process: index in the inventory's fds
    Enrichment enrich;                    // for the tracker: Recv-Q and (target) owners
};

// An ESTABLISHED socket of a target: its owner seeded so that, if it later
// enters CLOSE_WAIT, the kernel already knows who holds it.
struct OwnerSeed {
    std::size_t sock = 0;
    std::size_t owner_fd = 0;
};

struct SeedPlan {
    std::vector<CloseWaitSeed> close_waits;
    std::vector<OwnerSeed> owners;
};

// `fds` must cover every process, even under -p: a socket held by another
// process must not be mistaken for one that no process holds. Under -p the
// seeded owner is the target's fd (the kernel map holds one owner, and the
// filter decides on it), and queued sockets count only on the target's
// listeners.
SeedPlan plan_seeds(const std::vector<InventorySock>& socks, const std::vector<InventoryFd>& fds,
                    const TargetFilter& target);

} // namespace cwt
