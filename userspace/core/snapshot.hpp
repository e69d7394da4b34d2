// Classifies one inventory (iterator records) into the one-shot audit.
// Pure: the inventory comes in as model values, so tests can build them.
// Built for 100k sockets: one pass over compact records, no per-socket
// Finding until a line is printed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "closewait_trace/events.h"
#include "core/listener_index.hpp"
#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

struct SnapshotListener {
    ListenerInfo info;
    std::size_t queued_close_wait = 0;
    std::size_t queued_established = 0;
};

struct SnapshotProcess {
    std::uint32_t pid = 0;
    std::string comm;
    std::shared_ptr<const ProcessMeta> meta; // filled in by the caller (annotate())
    std::size_t close_wait = 0;
    std::vector<std::int32_t> fds;
    // Filled in by the caller from the kernel's fd count or /proc (not pure).
    std::optional<std::size_t> open_fds;
    std::optional<std::uint64_t> nofile_soft;
    std::optional<std::uint64_t> nofile_hard;
};

// One CLOSE_WAIT socket, compact: owners and listener are indexes.
struct SnapshotCloseWait {
    SockId sk = 0;
    Tuple tuple;
    std::uint32_t netns = 0;
    std::uint32_t recv_q = 0;
    MonoNs fin_by_ns = 0;                 // the FIN had arrived by then (0: unknown)
    OwnerKind owner = OwnerKind::Unknown; // Process, AcceptQueue or NoFd
    std::uint32_t owners_begin = 0;       // [begin, begin + count) in Snapshot::owner_refs
    std::uint32_t owners_count = 0;
    std::int32_t listener = -1; // index in Snapshot::all_listeners, -1 if none matched
};

struct Snapshot {
    MonoNs ts_ns = 0;
    ListenerIndex all_listeners;                // every listener, whoever owns it
    std::vector<ProcessRef> owner_refs;         // owners of the close_waits, by range
    std::vector<SnapshotCloseWait> close_waits; // by local port, then remote port
    std::vector<SnapshotListener> listeners;    // the rows shown (under -p: the target's)
    std::vector<SnapshotProcess> processes;
    Summary summary;
    bool has_findings() const { return !close_waits.empty(); }
    // The `close_wait` line of one socket, as the live stream would print it.
    CloseWaitFinding finding(const SnapshotCloseWait& cw) const;
};

// target: under -p only that process's sockets and the queues of its listeners.
// `files` must cover every process (not only the target), so that another
// process's socket is never mistaken for one that no process holds; it may
// be limited to the fds of listeners and CLOSE_WAITs.
// queued_on: the kernel's word on which listener holds each queued child;
// children it does not name are matched to a listener by address.
Snapshot classify_snapshot(const std::vector<SocketRecord>& socks, std::vector<SocketFd> files,
                           const QueuedOn& queued_on, const TargetFilter& target, MonoNs now);

} // namespace cwt
