#include "core/listener_index.hpp"

namespace cwt
{

ListenerView listener_view(const ListenerInfo& l)
{
    ListenerView v;
    v.local = l.local;
    if (!l.owners.empty())
        v.owner = l.owners.front();
    v.queue = l.queue;
    v.backlog = l.backlog;
    return v;
}

ListenerIndex::ListenerIndex(std::vector<ListenerInfo> listeners) : listeners_(std::move(listeners))
{
    for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
        by_port_[key(listeners_[i].netns, listeners_[i].local.port)].push_back(i);
        by_sk_.emplace(listeners_[i].sk, i);
    }
}

namespace
{

bool held_by(const ListenerInfo& l, std::uint32_t pid)
{
    for (const auto& p : l.owners)
        if (p.pid == pid)
            return true;
    return false;
}

// Keeps the first candidate, unless a later one is held by `pid` and it is not.
void consider(const ListenerInfo*& best, const ListenerInfo& l, std::uint32_t pid)
{
    if (!best || (pid && !held_by(*best, pid) && held_by(l, pid)))
        best = &l;
}

} // namespace

const ListenerInfo* ListenerIndex::find(std::uint32_t netns, const Endpoint& local,
                                        std::uint32_t owner_pid) const
{
    auto it = by_port_.find(key(netns, local.port));
    if (it == by_port_.end())
        return nullptr;
    const ListenerInfo* exact = nullptr;
    const ListenerInfo* same_family = nullptr;
    const ListenerInfo* dual_stack = nullptr;
    for (std::uint32_t i : it->second) {
        const ListenerInfo& l = listeners_[i];
        if (l.local.addr == local.addr)
            consider(exact, l, owner_pid);
        else if (!l.local.is_unspecified())
            continue;
        else if (l.local.is_v4_mapped() == local.is_v4_mapped())
            consider(same_family, l, owner_pid);
        else if (local.is_v4_mapped())
            consider(dual_stack, l, owner_pid);
    }
    return exact ? exact : same_family ? same_family : dual_stack;
}

const ListenerInfo* ListenerIndex::by_sk(SockId sk) const
{
    auto it = by_sk_.find(sk);
    return it == by_sk_.end() ? nullptr : &listeners_[it->second];
}

} // namespace cwt
