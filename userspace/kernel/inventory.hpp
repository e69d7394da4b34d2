// Reads kernel state on demand: BPF iterators over TCP sockets and fd tables,
// scans of the per-socket maps, and the loss counters.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "closewait_trace/events.h"
#include "kernel/loader.hpp"
#include "core/model.hpp"

namespace cwt
{

class Inventory
{
  public:
    explicit Inventory(BpfSession& s) : s_(s) {}

    // Every TCP socket, or (only_wanted) listeners plus the wanted sockets.
    // Also refreshes queued_on().
    std::vector<cwt_iter_sock> tcp_sockets(bool only_wanted);
    // Which listener's queue held each queued child, as of the last walk.
    const QueuedOn& queued_on() const { return queued_on_; }
    // Every fd that refers to a TCP socket, optionally of one process, or only
    // of wanted sockets.
    std::vector<cwt_iter_file> socket_fds(std::uint32_t tgid, bool only_wanted);
    void set_wanted(const std::vector<SockId>& sks);

    // The one-shot audit in two walks: listeners, CLOSE_WAITs and queued
    // children; then the fds of those sockets in every process, while the
    // kernel counts each process's open fds (read with audit_fd_count).
    struct AuditWalk {
        std::vector<cwt_iter_sock> socks;
        std::vector<cwt_iter_file> files;
        QueuedOn queued_on;
        bool full_fd_walk = false; // the `wanted` map overflowed: every socket fd
    };
    AuditWalk audit_walk();
    std::optional<cwt_fd_count> audit_fd_count(std::uint32_t tgid);

    // One pass over the kernel: every listener (with owners and last accept)
    // plus the current state and owners of the `sks` sockets.
    struct Refresh {
        std::vector<ListenerInfo> listeners;
        std::unordered_map<SockId, cwt_iter_sock> socks;
        std::unordered_map<SockId, std::vector<ProcessRef>> owners;
        QueuedOn queued_on;
    };
    Refresh refresh(const std::vector<SockId>& sks, std::uint32_t tgid = 0);

    std::vector<std::pair<SockId, CloseWaitInfo>> scan_close_waits();
    std::vector<AcceptErrorSample> accept_errors();
    // Open fds of a process and how many are TCP sockets / in CLOSE_WAIT.
    FdContext fd_context(std::uint32_t pid);
    // Sum over CPUs of each loss counter.
    std::uint64_t lost_total();
    std::uint64_t counter(cwt_counter idx);

    // Tell the kernel about sockets that predate the tool.
    void seed_close_wait(SockId sk, const cwt_cw_entry& e);
    void seed_owner(SockId sk, const cwt_owner& o);
    // Undo a seed that turned out stale (the socket moved on meanwhile);
    // entries the probes have written since are left alone.
    void unseed_close_wait(SockId sk);
    void unseed_owner(SockId sk);

  private:
    void take_queued_on();
    void drop_closed_meanwhile(AuditWalk& w);
    QueuedOn queued_on_;
    BpfSession& s_;
};

} // namespace cwt
