// Which network namespaces' ListenOverflows counters the live loop reads in
// each drain period. Reading /proc/net/netstat costs ~50 us of kernel time per
// namespace (the kernel formats every TcpExt and MPTcpExt counter), so reading
// every namespace ten times a second was most of the daemon's CPU with 100
// namespaces. An overflow needs a full accept queue: only namespaces where one
// can be filling (a listener with a non-empty queue at the last listener
// check) or whose counter moved lately are read every drain period; every
// namespace is read at least every `all_period`. The counters the accept
// watch sees are always complete: the last value read of each namespace.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/units.hpp"
#include "core/accept_watch.hpp"
#include "core/model.hpp"

namespace cwt
{

class OverflowPoll
{
  public:
    // all_period: every namespace is read this often; hot_hold: a namespace
    // whose counter moved stays hot this long.
    OverflowPoll(MonoNs all_period, MonoNs hot_hold) : all_period_(all_period), hot_hold_(hot_hold) {}

    // True when every namespace is due (the first call, then every all_period).
    bool all_due(MonoNs now) const { return now >= next_all_; }
    // The namespaces to read now when not all are due (sorted, unique).
    std::vector<std::uint32_t> hot(MonoNs now) const;

    // After a listener check: namespaces with a listener holding queued
    // connections are hot until the next check.
    void on_listeners(const std::vector<ListenerInfo>& listeners);

    // Merges what was read (every namespace if `all`) into the complete view
    // and returns it. A full read replaces the view, so namespaces that are
    // gone leave it; a partial read updates only what it read.
    const NetnsCounters& merge(MonoNs now, const NetnsCounters& read, bool all);

    const NetnsCounters& counters() const { return view_; }

  private:
    MonoNs all_period_;
    MonoNs hot_hold_;
    MonoNs next_all_ = 0;
    NetnsCounters view_;
    std::unordered_set<std::uint32_t> queued_;              // from the last listener check
    std::unordered_map<std::uint32_t, MonoNs> moved_until_; // counter moved: hot until then
};

} // namespace cwt
