// Listening sockets indexed for the one question every path asks: which
// listener did a child with this local address come from?
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

// What a finding shows of a listener: address, first owner, queue and backlog.
ListenerView listener_view(const ListenerInfo& l);

class ListenerIndex
{
  public:
    ListenerIndex() = default;
    explicit ListenerIndex(std::vector<ListenerInfo> listeners);

    // Exact address first; then the wildcard of the same family (0.0.0.0 for
    // IPv4); an IPv4 child may also come from a dual-stack [::] listener, but
    // an IPv6 child never from 0.0.0.0. Among equals (SO_REUSEPORT), one that
    // `owner_pid` holds, if given: an accepted child's owner accepted it there.
    const ListenerInfo* find(std::uint32_t netns, const Endpoint& local, std::uint32_t owner_pid = 0) const;
    const ListenerInfo* by_sk(SockId sk) const;
    const std::vector<ListenerInfo>& all() const { return listeners_; }
    // Every owner of every listener, to fill in what the index does not key on.
    template <typename F> void for_each_owner(F&& f)
    {
        for (auto& l : listeners_)
            for (auto& p : l.owners)
                f(p);
    }
    std::size_t index_of(const ListenerInfo* l) const
    {
        return static_cast<std::size_t>(l - listeners_.data());
    }

  private:
    static std::uint64_t key(std::uint32_t netns, std::uint16_t port)
    {
        return (static_cast<std::uint64_t>(netns) << 16) | port;
    }
    std::vector<ListenerInfo> listeners_;
    std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> by_port_; // (netns, port) -> indexes
    std::unordered_map<SockId, std::uint32_t> by_sk_;
};

} // namespace cwt
