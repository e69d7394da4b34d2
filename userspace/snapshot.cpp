#include "snapshot.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "decoder.hpp"
#include "tracker.hpp"

namespace cwt {

Snapshot classify_snapshot(const std::vector<cwt_iter_sock>& socks, const std::vector<cwt_iter_file>& files,
                           std::uint32_t filter_pid, MonoNs now)
{
    std::unordered_map<SockId, std::vector<ProcessRef>> owners;
    for (const auto& f : files)
        owners[f.sk].push_back(decode_process(f.tgid, f.comm, f.fd));
    for (auto& [sk, list] : owners)
        std::sort(list.begin(), list.end(),
                  [](const ProcessRef& a, const ProcessRef& b) { return a.pid != b.pid ? a.pid < b.pid : a.fd < b.fd; });

    auto owned_by_target = [&](const std::vector<ProcessRef>& list) {
        return std::any_of(list.begin(), list.end(), [&](const ProcessRef& p) { return p.pid == filter_pid; });
    };

    // Listeners first: queued children are matched to them by address.
    std::vector<ListenerInfo> listeners;
    for (const auto& s : socks) {
        if (s.state != CWT_TCP_LISTEN)
            continue;
        ListenerInfo l = decode_listener(s);
        auto it = owners.find(s.sk);
        if (it != owners.end())
            l.owners = it->second;
        listeners.push_back(std::move(l));
    }

    TrackerConfig cfg;
    cfg.filter_pid = filter_pid;
    cfg.started_ns = now;
    Tracker tracker(cfg);
    tracker.update_listeners(listeners);

    Snapshot snap;
    std::map<SockId, SnapshotListener> lrows;
    for (const auto& l : listeners)
        if (!filter_pid || owned_by_target(l.owners))
            lrows[l.sk].info = l;

    std::vector<std::pair<SockId, CloseWaitInfo>> entries;
    std::unordered_map<SockId, Enrichment> enrich;
    for (const auto& s : socks) {
        if (s.state == CWT_TCP_LISTEN)
            continue;
        Tuple t = decode_tuple(s.tuple);
        if (!s.has_socket) {
            if (const ListenerInfo* l = tracker.find_listener(s.netns, t.local)) {
                auto row = lrows.find(l->sk);
                if (row != lrows.end()) {
                    if (s.state == CWT_TCP_CLOSE_WAIT)
                        ++row->second.queued_close_wait;
                    else if (s.state == CWT_TCP_ESTABLISHED)
                        ++row->second.queued_established;
                }
            }
        }
        if (s.state != CWT_TCP_CLOSE_WAIT)
            continue;
        auto it = owners.find(s.sk);
        const std::vector<ProcessRef> none;
        const auto& who = it != owners.end() ? it->second : none;
        CloseWaitInfo info;
        info.netns = s.netns;
        info.recv_q = s.recv_q;
        info.preexisting = true;
        info.tuple = t;
        info.owner = !s.has_socket ? OwnerKind::AcceptQueue : OwnerKind::Unknown;
        entries.emplace_back(s.sk, info);
        Enrichment e;
        e.recv_q = s.recv_q;
        e.owners = who;
        enrich.emplace(s.sk, std::move(e));
    }

    tracker.on_scan(now, entries);
    Findings found;
    found.reserve(entries.size());
    snap.close_waits.reserve(entries.size());
    for (SockId sk : tracker.due_for_leak_report(now))
        tracker.report_leak(sk, enrich[sk], now, found);
    for (auto& f : found) {
        f.type = FindingType::CloseWait;
        f.min_age_s.reset(); // nothing bounds the age in a one-shot audit
        if (f.owner == OwnerKind::NoFd)
            f.detail = "socket has a file but no process fd (SCM_RIGHTS in flight, io_uring or kernel)";
        snap.close_waits.push_back(std::move(f));
    }
    std::sort(snap.close_waits.begin(), snap.close_waits.end(), [](const Finding& a, const Finding& b) {
        return a.tuple.local.port != b.tuple.local.port ? a.tuple.local.port < b.tuple.local.port
                                                        : a.tuple.remote.port < b.tuple.remote.port;
    });

    snap.summary = tracker.summary(now);
    for (const auto& ps : snap.summary.processes) {
        SnapshotProcess p;
        p.pid = ps.process.pid;
        p.comm = ps.process.comm;
        p.close_wait = ps.open_close_waits;
        p.fds = ps.fds;
        snap.processes.push_back(std::move(p));
    }
    for (auto& [sk, row] : lrows)
        snap.listeners.push_back(std::move(row));
    return snap;
}

} // namespace cwt
