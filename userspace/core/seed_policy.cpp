#include "core/seed_policy.hpp"

#include <set>
#include <unordered_map>
#include <utility>

#include "closewait_trace/events.h"

namespace cwt
{

namespace
{

struct Held {
    std::vector<ProcessRef> owners;
    std::size_t seed_fd = 0; // the fd a seed names: the first, or under -p the target's first
};

std::unordered_map<SockId, Held> owners_by_sock(const std::vector<InventoryFd>& fds,
                                                const TargetFilter& target)
{
    std::unordered_map<SockId, Held> held;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        auto [it, added] = held.try_emplace(fds[i].sk);
        Held& h = it->second;
        if (added)
            h.seed_fd = i;
        else if (target.is_target(fds[i].process.pid) && !target.is_target(fds[h.seed_fd].process.pid))
            h.seed_fd = i;
        h.owners.push_back(fds[i].process);
    }
    return held;
}

} // namespace

SeedPlan plan_seeds(const std::vector<InventorySock>& socks, const std::vector<InventoryFd>& fds,
                    const TargetFilter& target)
{
    SeedPlan plan;
    auto held = owners_by_sock(fds, target);

    std::set<std::pair<std::uint32_t, std::uint16_t>> target_listen_ports;
    for (const auto& s : socks) {
        auto it = held.find(s.sk);
        if (s.state == CWT_TCP_LISTEN && it != held.end() && target.wants_any(it->second.owners))
            target_listen_ports.emplace(s.netns, s.local_port);
    }
    for (std::size_t i = 0; i < socks.size(); ++i) {
        const InventorySock& s = socks[i];
        auto it = held.find(s.sk);
        bool owned = it != held.end();
        if (owned && !target.wants_any(it->second.owners))
            continue;
        if (target.active() && !s.has_socket && !target_listen_ports.count({s.netns, s.local_port}))
            continue;
        if (s.state != CWT_TCP_CLOSE_WAIT) {
            if (owned && s.state == CWT_TCP_ESTABLISHED)
                plan.owners.push_back(OwnerSeed{i, it->second.seed_fd});
            continue;
        }
        CloseWaitSeed seed;
        seed.sock = i;
        if (!s.has_socket) {
            seed.owner = OwnerKind::AcceptQueue;
        } else if (owned) {
            seed.owner = OwnerKind::Process;
            seed.owner_fd = it->second.seed_fd;
        }
        seed.enrich.recv_q = s.recv_q;
        if (owned)
            seed.enrich.owners = it->second.owners;
        plan.close_waits.push_back(std::move(seed));
    }
    return plan;
}

} // namespace cwt
