#include "listener_index.hpp"

namespace cwt {

ListenerIndex::ListenerIndex(std::vector<ListenerInfo> listeners) : listeners_(std::move(listeners))
{
    for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
        by_port_[key(listeners_[i].netns, listeners_[i].local.port)].push_back(i);
        by_sk_.emplace(listeners_[i].sk, i);
    }
}

const ListenerInfo* ListenerIndex::find(std::uint32_t netns, const Endpoint& local) const
{
    auto it = by_port_.find(key(netns, local.port));
    if (it == by_port_.end())
        return nullptr;
    const ListenerInfo* same_family = nullptr;
    const ListenerInfo* dual_stack = nullptr;
    for (std::uint32_t i : it->second) {
        const ListenerInfo& l = listeners_[i];
        if (l.local.addr == local.addr)
            return &l;
        if (!l.local.is_unspecified())
            continue;
        if (l.local.is_v4_mapped() == local.is_v4_mapped())
            same_family = same_family ? same_family : &l;
        else if (local.is_v4_mapped())
            dual_stack = dual_stack ? dual_stack : &l;
    }
    return same_family ? same_family : dual_stack;
}

const ListenerInfo* ListenerIndex::by_sk(SockId sk) const
{
    auto it = by_sk_.find(sk);
    return it == by_sk_.end() ? nullptr : &listeners_[it->second];
}

} // namespace cwt
