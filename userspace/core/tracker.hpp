// The lifecycle tracker: a pure state machine over sockets in CLOSE_WAIT.
//
// Inputs are values (decoded kernel events, scans of the kernel's close_waits
// map, listener inventories, loss counters); outputs are Findings. It never
// touches BPF, the clock or /proc, so unit tests drive it with synthetic input.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/units.hpp"
#include "core/listener_state.hpp"
#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

struct TrackerConfig {
    MonoNs leak_threshold_ns = kDefaultThresholdNs;
    bool verbose = false;  // every close_wait and every close
    TargetFilter target;   // -p
    MonoNs started_ns = 0; // tool start, bounds the age of pre-existing sockets
};

using Findings = std::vector<Finding>;

class Tracker
{
  public:
    // listeners: owned by the caller, who keeps it current.
    Tracker(TrackerConfig cfg, const ListenerState& listeners);

    void on_event(const SockEvent& ev, Findings& out);

    // The full content of the kernel's close_waits map at `now`: adds sockets
    // the tracker has not seen, drops ones that left without an event.
    void on_scan(MonoNs now, const std::vector<std::pair<SockId, CloseWaitInfo>>& entries);

    // Sockets that crossed the threshold and still need a leak report. The
    // caller resolves their owners and Recv-Q, then calls report_leak().
    std::vector<SockId> due_for_leak_report(MonoNs now) const;
    void report_leak(SockId sk, const Enrichment& e, MonoNs now, Findings& out);

    // Sockets in CLOSE_WAIT still waiting in this listener's accept queue.
    std::size_t queued_close_waits(const ListenerInfo& l) const;
    // The same for every listener at once, by listener socket.
    std::unordered_map<SockId, std::size_t> queued_close_waits() const;

    // Cumulative loss counter from the kernel; emits a Lost finding on growth.
    void on_lost(std::uint64_t total, MonoNs now, Findings& out);

    Summary summary(MonoNs now) const;
    std::size_t tracked() const { return open_.size(); }
    std::uint32_t netns_of(SockId sk) const
    {
        auto it = open_.find(sk);
        return it == open_.end() ? 0 : it->second.info.netns;
    }
    std::uint64_t lost_total() const { return lost_reported_; }

  private:
    struct Tracked {
        SockId sk = 0;
        CloseWaitInfo info;
        std::vector<ProcessRef> owners; // resolved fds, possibly several
        bool leak_reported = false;
        bool filtered_out = false; // -p: belongs to someone else
        MonoNs first_seen_ns = 0;
    };

    // A CloseWait, Leak or Closed finding with the socket's facts filled in.
    template <typename F> F make_finding(SockId sk, const Tracked& t, MonoNs now) const;
    void fill_age(SocketFacts& f, const Tracked& t, MonoNs now) const;
    bool passes_filter(const Tracked& t) const;
    // The listener whose accept queue holds a queued socket.
    const ListenerInfo* queue_listener(const Tracked& t) const;
    Tracked& upsert(SockId sk, const CloseWaitInfo& info, MonoNs now);

    TrackerConfig cfg_;
    std::unordered_map<SockId, Tracked> open_;
    // Reported leaks that a scan no longer found, keyed by (sk, enter_ns): their
    // close record may still be in the ring buffer, and must not report the
    // leak a second time. Kept for kTombstoneNs.
    std::unordered_map<SockId, std::pair<MonoNs, MonoNs>> reported_gone_; // sk -> (enter_ns, dropped at)
    const ListenerState& listeners_;
    std::uint64_t lost_reported_ = 0;
    std::uint64_t leaks_reported_ = 0;
};

} // namespace cwt
