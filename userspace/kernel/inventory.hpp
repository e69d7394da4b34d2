// Reads kernel state on demand: BPF iterators over TCP sockets and fd tables,
// scans of the per-socket maps, and the loss counters.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "closewait_trace/events.h"
#include "kernel/loader.hpp"
#include "kernel/netns_set.hpp"
#include "core/leak_resolution.hpp"
#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

class Inventory
{
  public:
    // netns: the namespaces to walk (iter/tcp sees only the namespace its fd
    // was created in, see kernel/netns.hpp); null: only the tool's own.
    // filter: the -P/-L/-D/-4/-6 filters, for the walks that do not pass
    // through the BPF programs (the sock_diag listener check).
    explicit Inventory(BpfSession& s, NetnsSet* netns = nullptr, SocketFilter filter = {})
        : s_(s), netns_(netns), filter_(std::move(filter))
    {
    }

    // Whether the last socket walk covered this namespace (a namespace whose
    // setns failed, or one that appeared since the set was refreshed, is not).
    bool walked(std::uint32_t netns) const;
    // Namespaces that could not be entered, summed over the run.
    std::size_t netns_skipped() const { return netns_ ? netns_->skipped() : 0; }
    // Namespaces the last audit took from the fd walk alone (every socket had an fd).
    std::size_t netns_from_fds() const { return complete_netns_; }

    // Which listener's queue held each queued child, as of the last walk.
    const QueuedOn& queued_on() const { return queued_on_; }

    // The one-shot audit in two walks: listeners, CLOSE_WAITs and queued
    // children; then the fds of those sockets in every process, while the
    // kernel counts each process's open fds (read with audit_fd_count).
    struct AuditWalk {
        std::vector<SocketRecord> socks;
        std::vector<SocketFd> files;
        QueuedOn queued_on;
        bool full_fd_walk = false; // the `wanted` map overflowed: every socket fd
    };
    AuditWalk audit_walk();
    struct FdCount {
        std::uint64_t open_fds = 0;
        std::uint64_t nofile_soft = 0; // RLIMIT_NOFILE
        std::uint64_t nofile_hard = 0;
    };
    std::optional<FdCount> audit_fd_count(std::uint32_t tgid);

    // One pass over the kernel: every listener (with owners and last accept)
    // plus the current state and owners of the `sks` sockets.
    struct Refresh {
        std::vector<ListenerInfo> listeners;
        std::unordered_map<SockId, SeenSock> socks; // the `sks` iter/tcp found
        std::unordered_map<SockId, std::vector<ProcessRef>> owners;
        QueuedOn queued_on;
    };
    // Also remembers each listener's owners for listeners().
    Refresh refresh(const std::vector<SockId>& sks, std::uint32_t tgid = 0);
    // Every listener with its queue and last accept now; owners as of the last
    // refresh(), which runs again only when a listener is new. Refreshes queued_on().
    std::vector<ListenerInfo> listeners();
    // The same from sock_diag with only TCPF_LISTEN asked, per namespace
    // through netlink sockets kept open in each: the kernel walks only the
    // listening hash, never the connections and TIME_WAITs that iter/tcp
    // would visit. For the periodic queue check. Listeners are matched to the
    // last iterator walk by inode; one it did not see (or no sock_diag) makes
    // this listeners(). Does not refresh queued_on().
    std::vector<ListenerInfo> listener_queues();

    std::vector<std::pair<SockId, CloseWaitInfo>> scan_close_waits();
    // The same, one entry at a time (no copy of the whole map at 100k sockets).
    using CloseWaitSink = std::function<void(SockId, const CloseWaitInfo&)>;
    void scan_close_waits(const CloseWaitSink& each);
    std::vector<AcceptErrorSample> accept_errors();
    // Open fds of a process and how many are TCP sockets / in CLOSE_WAIT.
    FdContext fd_context(std::uint32_t pid);
    // Sum over CPUs of each loss counter.
    std::uint64_t lost_total();
    std::uint64_t counter(cwt_counter idx);

    // The CLOSE_WAITs that exist before we start, seeded into the kernel maps
    // (as plan_seeds() decides) so that their closes are seen, and returned as
    // enrichment for the tracker.
    struct Preexisting {
        std::unordered_map<SockId, Enrichment> enrich;
        std::size_t close_waits = 0;
    };
    Preexisting seed_preexisting(const TargetFilter& target);

  private:
    // Every TCP socket, or (only_wanted) listeners plus the wanted sockets.
    // Also refreshes queued_on().
    std::vector<cwt_iter_sock> tcp_sockets(bool only_wanted);
    // Every fd that refers to a TCP socket, optionally of one process, or only
    // of wanted sockets.
    std::vector<cwt_iter_file> socket_fds(std::uint32_t tgid, bool only_wanted);
    void set_wanted(const std::vector<SockId>& sks);
    // Tell the kernel about sockets that predate the tool.
    void seed_close_wait(SockId sk, const cwt_cw_entry& e);
    void seed_owner(SockId sk, const cwt_owner& o);
    // Undo a seed that turned out stale (the socket moved on meanwhile);
    // entries the probes have written since are left alone.
    void unseed_close_wait(SockId sk);
    void unseed_owner(SockId sk);

    // The TCP iterator run once in each namespace (its fd made inside it),
    // records appended in namespace order.
    std::vector<cwt_iter_sock> walk_tcp(const std::vector<std::uint32_t>* only = nullptr);
    AuditWalk audit_walk_netns();
    void take_queued_on();
    void drop_closed_meanwhile(AuditWalk& w);
    QueuedOn queued_on_;
    std::unordered_map<SockId, std::vector<ProcessRef>> listener_owners_;
    std::unordered_map<std::uint64_t, SockId> listener_by_ino_; // as of the last iterator walk
    BpfSession& s_;
    NetnsSet* netns_ = nullptr;
    SocketFilter filter_;
    std::vector<std::uint32_t> walked_; // namespaces of the last walk_tcp()
    std::size_t complete_netns_ = 0;
};

} // namespace cwt
