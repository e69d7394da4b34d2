// Classifies one inventory (iterator records) into the one-shot audit.
// Pure: the iterator records come in as values, so tests can build them.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "closewait_trace/events.h"
#include "model.hpp"

namespace cwt {

struct SnapshotListener {
    ListenerInfo info;
    std::size_t queued_close_wait = 0;
    std::size_t queued_established = 0;
};

struct SnapshotProcess {
    std::uint32_t pid = 0;
    std::string comm;
    std::size_t close_wait = 0;
    std::vector<std::int32_t> fds;
    // Filled in by the caller from /proc (not pure).
    std::optional<std::size_t> open_fds;
    std::optional<std::uint64_t> nofile_soft;
    std::optional<std::uint64_t> nofile_hard;
};

struct Snapshot {
    std::vector<Finding> close_waits; // type CloseWait, preexisting
    std::vector<SnapshotListener> listeners;
    std::vector<SnapshotProcess> processes;
    Summary summary;
    bool has_findings() const { return !close_waits.empty(); }
};

// filter_pid: only that process's sockets and the queues of its listeners.
// `files` must cover every process (not only filter_pid), so that another
// process's socket is never mistaken for one that no process holds.
Snapshot classify_snapshot(const std::vector<cwt_iter_sock>& socks, const std::vector<cwt_iter_file>& files,
                           std::uint32_t filter_pid, MonoNs now);

} // namespace cwt
