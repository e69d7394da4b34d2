// The lifecycle tracker: a pure state machine over sockets in CLOSE_WAIT.
//
// Inputs are values (decoded kernel events, scans of the kernel's close_waits
// map, listener inventories, loss counters); outputs are Findings. It never
// touches BPF, the clock or /proc, so unit tests drive it with synthetic input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/units.hpp"
#include "core/listener_state.hpp"
#include "core/model.hpp"
#include "core/ref_table.hpp"
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
        return it == open_.end() ? 0 : it->second.netns;
    }
    std::uint64_t lost_total() const { return lost_reported_; }

    // The same scan, fed one entry at a time (no copy of the whole map):
    // begin_scan, scan_entry for every entry, end_scan.
    void begin_scan(MonoNs now);
    void scan_entry(SockId sk, const CloseWaitInfo& info);
    void end_scan();

    // Owner names interned right now (one per distinct process, not per socket).
    std::size_t process_names() const { return procs_.size(); }

  private:
    static constexpr std::uint32_t kNone = RefTable<SockId>::kNone;

    // An owner's name, shared by all the sockets of one process.
    struct ProcName {
        std::uint32_t pid = 0;
        std::string comm;
        bool operator==(const ProcName& o) const { return pid == o.pid && comm == o.comm; }
    };
    struct ProcNameHash {
        std::size_t operator()(const ProcName& p) const
        {
            return std::hash<std::string>()(p.comm) ^ (std::size_t{p.pid} * 0x9e3779b97f4a7c15ULL);
        }
    };

    // One compact record per socket in CLOSE_WAIT (issue #13: at most 300
    // bytes per tracked socket, kernel included; this is 56 bytes plus the
    // hash node). Fixed-size fields only: the owner's name and the listener
    // are shared (RefTable), an IPv4 tuple is kept in 12 bytes, and the rare
    // IPv6 tuples and several-owner sockets sit in side maps.
    struct Tracked {
        MonoNs enter_ns = 0;                  // 0: entered before the tool started
        MonoNs since_ns = 0;                  // enter_ns == 0: it was in CLOSE_WAIT by then at the latest
        std::uint32_t saddr4 = 0, daddr4 = 0; // IPv4 tuple (network order), unless v6
        std::uint16_t sport = 0, dport = 0;
        std::uint32_t netns = 0;
        std::uint32_t recv_q = 0;
        std::uint32_t proc = kNone;     // the one owner's name (procs_), kNone: none
        std::int32_t fd = -1;           // its fd
        std::uint32_t listener = kNone; // the listener it was accepted from (listener_sks_)
        OwnerKind owner = OwnerKind::Unknown;
        bool preexisting = false;
        bool v6 = false;    // tuple in v6_tuples_
        bool multi = false; // several owners: all of them in multi_owners_
        bool leak_reported = false;
        bool filtered_out = false; // -p: belongs to someone else
        std::uint8_t epoch = 0;    // the scan that last saw it
    };
    using Open = std::unordered_map<SockId, Tracked>;

    // A CloseWait, Leak or Closed finding with the socket's facts filled in.
    template <typename F> F make_finding(SockId sk, const Tracked& t, MonoNs now) const;
    void fill_age(SocketFacts& f, const Tracked& t, MonoNs now) const;
    bool passes_filter(SockId sk, const Tracked& t) const;
    // The listener whose accept queue holds a queued socket.
    const ListenerInfo* queue_listener(SockId sk, const Tracked& t) const;
    Tracked& upsert(SockId sk, const CloseWaitInfo& info, MonoNs now);

    Tuple tuple_of(SockId sk, const Tracked& t) const;
    void set_tuple(SockId sk, Tracked& t, const Tuple& tuple);
    SockId listener_sk_of(const Tracked& t) const
    {
        return t.listener == kNone ? 0 : listener_sks_[t.listener];
    }
    void set_listener(Tracked& t, SockId listener_sk);
    // Owners of a tracked socket (empty: not resolved).
    std::vector<ProcessRef> owners_of(SockId sk, const Tracked& t) const;
    bool has_owner(const Tracked& t) const { return t.multi || t.proc != kNone; }
    std::uint32_t first_owner_pid(SockId sk, const Tracked& t) const;
    void set_owners(SockId sk, Tracked& t, const std::vector<ProcessRef>& owners);
    void clear_owners(SockId sk, Tracked& t);
    // Drops what a record holds outside itself (names, side maps).
    void clear_refs(SockId sk, Tracked& t);
    // Forgets a socket and what it holds.
    Open::iterator forget(Open::iterator it);

    TrackerConfig cfg_;
    Open open_;
    // Reported leaks that a scan no longer found, keyed by (sk, enter_ns): their
    // close record may still be in the ring buffer, and must not report the
    // leak a second time. Kept for kTombstoneNs.
    std::unordered_map<SockId, std::pair<MonoNs, MonoNs>> reported_gone_; // sk -> (enter_ns, dropped at)
    // Sockets held by several processes or fds (rare): every owner.
    std::unordered_map<SockId, std::vector<ProcessRef>> multi_owners_;
    std::unordered_map<SockId, Tuple> v6_tuples_; // tuples that are not plain IPv4
    RefTable<ProcName, ProcNameHash> procs_;
    RefTable<SockId> listener_sks_;
    MonoNs scan_now_ = 0;
    std::uint8_t epoch_ = 0;
    const ListenerState& listeners_;
    std::uint64_t lost_reported_ = 0;
    std::uint64_t leaks_reported_ = 0;
};

} // namespace cwt
