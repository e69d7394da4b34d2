// The listeners as the last inventory saw them, with the kernel's word on
// which listener's queue holds each queued child. One owner (the live loop)
// updates it; the tracker and the accept watch read it by const reference.
#pragma once

#include <cstdint>
#include <vector>

#include "core/listener_index.hpp"
#include "core/model.hpp"

namespace cwt
{

class ListenerState
{
  public:
    // queued_on: which listener's queue holds each queued child, where the
    // kernel said; the others are matched by address.
    void update(std::vector<ListenerInfo> listeners, QueuedOn queued_on = {});

    const ListenerInfo* find(std::uint32_t netns, const Endpoint& local, std::uint32_t owner_pid = 0) const
    {
        return index_.find(netns, local, owner_pid);
    }
    const ListenerInfo* by_sk(SockId sk) const { return index_.by_sk(sk); }
    const std::vector<ListenerInfo>& all() const { return index_.all(); }
    // The listener whose accept queue holds this child: the kernel's word,
    // else the listener of its local address.
    const ListenerInfo* queue_of(SockId child, std::uint32_t netns, const Endpoint& local) const;

  private:
    ListenerIndex index_;
    QueuedOn queued_on_;
};

} // namespace cwt
