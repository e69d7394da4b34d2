#include "core/listener_state.hpp"

#include <utility>

namespace cwt
{

void ListenerState::update(std::vector<ListenerInfo> listeners, QueuedOn queued_on)
{
    index_ = ListenerIndex(std::move(listeners));
    queued_on_ = std::move(queued_on);
}

const ListenerInfo* ListenerState::queue_of(SockId child, std::uint32_t netns, const Endpoint& local) const
{
    auto q = queued_on_.find(child);
    if (q != queued_on_.end())
        if (const ListenerInfo* l = index_.by_sk(q->second))
            return l;
    return index_.find(netns, local);
}

} // namespace cwt
