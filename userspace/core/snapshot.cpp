#include "core/snapshot.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "common/units.hpp"
#include "core/decoder.hpp"

namespace cwt
{

namespace
{

constexpr const char* kNoFdDetail =
    "socket has a file but no process fd (SCM_RIGHTS in flight, io_uring or kernel)";

bool by_sk_pid_fd(const SocketFd& a, const SocketFd& b)
{
    return std::tie(a.sk, a.process.pid, a.process.fd) < std::tie(b.sk, b.process.pid, b.process.fd);
}

// The fds of one socket in `files` (sorted by sk).
std::pair<const SocketFd*, const SocketFd*> fds_of(const std::vector<SocketFd>& files, SockId sk)
{
    auto lo = std::lower_bound(files.begin(), files.end(), sk,
                               [](const SocketFd& f, SockId k) { return f.sk < k; });
    auto hi = lo;
    while (hi != files.end() && hi->sk == sk)
        ++hi;
    return {files.data() + (lo - files.begin()), files.data() + (hi - files.begin())};
}

} // namespace

Snapshot classify_snapshot(const std::vector<SocketRecord>& socks, std::vector<SocketFd> files,
                           const QueuedOn& queued_on, const TargetFilter& target, MonoNs now)
{
    Snapshot snap;
    snap.ts_ns = now;
    std::sort(files.begin(), files.end(), by_sk_pid_fd);

    // Listeners first: queued children are matched to them by address.
    std::vector<ListenerInfo> listeners;
    for (const auto& s : socks) {
        if (s.state != CWT_TCP_LISTEN)
            continue;
        ListenerInfo l = listener_of(s);
        auto [b, e] = fds_of(files, s.sk);
        for (const auto* f = b; f != e; ++f)
            l.owners.push_back(f->process);
        listeners.push_back(std::move(l));
    }
    snap.all_listeners = ListenerIndex(std::move(listeners));
    const auto& all = snap.all_listeners.all();
    std::vector<SnapshotListener> rows(all.size());
    std::vector<bool> shown(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        rows[i].info = all[i];
        shown[i] = target.wants_any(all[i].owners);
    }

    std::unordered_map<std::uint32_t, std::size_t> proc_row; // pid -> index in snap.processes
    // By listener when known (SO_REUSEPORT listeners share an address).
    using ListenerKey = std::tuple<std::uint32_t, std::array<std::uint8_t, 16>, std::uint16_t, SockId>;
    std::map<ListenerKey, ListenerSummary> queued;
    Summary& sum = snap.summary;
    sum.ts_ns = now;

    // A walk may show a socket twice around a read boundary: count it once.
    std::unordered_set<SockId> seen;
    seen.reserve(socks.size());
    for (const auto& s : socks) {
        if (s.state == CWT_TCP_LISTEN || !seen.insert(s.sk).second)
            continue;
        const bool in_queue = !s.has_socket; // accepted sockets always have one
        if (!in_queue && s.state != CWT_TCP_CLOSE_WAIT)
            continue;
        const Tuple& t = s.tuple;
        const ListenerInfo* l = nullptr;
        if (in_queue) {
            auto q = queued_on.find(s.sk);
            if (q != queued_on.end())
                l = snap.all_listeners.by_sk(q->second);
        }
        if (!l) {
            auto [b, e] = fds_of(files, s.sk); // an owner accepted it: prefer its listener
            l = snap.all_listeners.find(s.netns, t.local, b != e ? b->process.pid : 0);
        }
        if (in_queue && l) {
            std::size_t i = snap.all_listeners.index_of(l);
            if (s.state == CWT_TCP_CLOSE_WAIT)
                ++rows[i].queued_close_wait;
            else if (s.state == CWT_TCP_ESTABLISHED)
                ++rows[i].queued_established;
        }
        if (s.state != CWT_TCP_CLOSE_WAIT)
            continue;

        SnapshotCloseWait cw;
        cw.sk = s.sk;
        cw.tuple = t;
        cw.netns = s.netns;
        cw.recv_q = s.recv_q;
        cw.fin_by_ns = s.fin_by_ns;
        cw.listener = l ? static_cast<std::int32_t>(snap.all_listeners.index_of(l)) : -1;
        cw.owners_begin = static_cast<std::uint32_t>(snap.owner_refs.size());
        auto [b, e] = fds_of(files, s.sk);
        for (const auto* f = b; f != e; ++f)
            snap.owner_refs.push_back(f->process);
        cw.owners_count = static_cast<std::uint32_t>(snap.owner_refs.size() - cw.owners_begin);
        // An fd means it left the accept queue; a file with no fd anywhere is
        // in flight over SCM_RIGHTS, an io_uring fixed file or a kernel socket.
        cw.owner = cw.owners_count ? OwnerKind::Process : in_queue ? OwnerKind::AcceptQueue : OwnerKind::NoFd;

        const auto owners_begin = snap.owner_refs.begin() + cw.owners_begin;
        const auto owners_end = owners_begin + cw.owners_count;
        if (target.active()) {
            bool mine = cw.owner == OwnerKind::AcceptQueue ? l && target.wants_any(l->owners)
                                                           : target.wants_any(owners_begin, owners_end);
            if (!mine) {
                snap.owner_refs.resize(cw.owners_begin);
                continue;
            }
        }
        ++sum.open_close_waits;
        if (cw.owner == OwnerKind::AcceptQueue) {
            Endpoint local = l ? l->local : t.local;
            ListenerSummary& ls = queued[{cw.netns, local.addr, local.port, l ? l->sk : 0}];
            ls.netns = cw.netns;
            ls.listener = l ? listener_view(*l) : ListenerView{local, {}, {}, {}};
            ++ls.queued_close_waits;
            ls.oldest_predates_start = true;
        } else if (cw.owner == OwnerKind::NoFd) {
            ++sum.unknown_owner;
        } else {
            // Attributed to every process holding it (fork, dup, SCM_RIGHTS).
            std::uint32_t last_pid = 0;
            for (auto it = owners_begin; it != owners_end; ++it) {
                if (!target.wants(it->pid))
                    continue;
                auto [pos, added] = proc_row.emplace(it->pid, snap.processes.size());
                if (added) {
                    SnapshotProcess p;
                    p.pid = it->pid;
                    p.comm = it->comm;
                    snap.processes.push_back(std::move(p));
                }
                SnapshotProcess& p = snap.processes[pos->second];
                p.fds.push_back(it->fd);
                if (it->pid != last_pid) // owners are sorted by pid: count the socket once
                    ++p.close_wait;
                last_pid = it->pid;
            }
        }
        snap.close_waits.push_back(cw);
    }

    std::sort(snap.close_waits.begin(), snap.close_waits.end(),
              [](const SnapshotCloseWait& a, const SnapshotCloseWait& b) {
                  return std::tie(a.tuple.local.port, a.tuple.remote.port, a.sk) <
                         std::tie(b.tuple.local.port, b.tuple.remote.port, b.sk);
              });
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (shown[i])
            snap.listeners.push_back(std::move(rows[i]));
    std::sort(snap.listeners.begin(), snap.listeners.end(),
              [](const SnapshotListener& a, const SnapshotListener& b) {
                  return std::tie(a.info.local.port, a.info.local.addr, a.info.netns, a.info.sk) <
                         std::tie(b.info.local.port, b.info.local.addr, b.info.netns, b.info.sk);
              });

    std::stable_sort(
        snap.processes.begin(), snap.processes.end(),
        [](const SnapshotProcess& a, const SnapshotProcess& b) { return a.close_wait > b.close_wait; });
    for (auto& p : snap.processes) {
        std::sort(p.fds.begin(), p.fds.end());
        ProcessSummary ps;
        ps.process.pid = p.pid;
        ps.process.comm = p.comm;
        ps.open_close_waits = p.close_wait;
        ps.oldest_predates_start = true; // nothing bounds the age in a one-shot audit
        ps.fds = p.fds;
        sum.processes.push_back(std::move(ps));
    }
    for (auto& [key, ls] : queued)
        sum.listeners.push_back(std::move(ls));
    std::stable_sort(sum.listeners.begin(), sum.listeners.end(), [](const auto& a, const auto& b) {
        return a.queued_close_waits > b.queued_close_waits;
    });
    return snap;
}

CloseWaitFinding Snapshot::finding(const SnapshotCloseWait& cw) const
{
    CloseWaitFinding out;
    out.ts_ns = ts_ns;
    SocketFacts& f = out.sock;
    f.sk = cw.sk;
    f.owner = cw.owner;
    f.processes.assign(owner_refs.begin() + cw.owners_begin,
                       owner_refs.begin() + cw.owners_begin + cw.owners_count);
    f.tuple = cw.tuple;
    f.netns = cw.netns;
    f.recv_q = cw.recv_q;
    f.preexisting = true;
    if (cw.fin_by_ns && cw.fin_by_ns <= ts_ns)
        f.min_age_s = ns_to_seconds(ts_ns - cw.fin_by_ns);
    // An accepted child shares its listener's local address; a NoFd socket
    // may not come from a listener at all, so it gets none.
    if (cw.listener >= 0 && cw.owner != OwnerKind::NoFd) {
        f.listener = listener_view(all_listeners.all()[static_cast<std::size_t>(cw.listener)]);
    } else if (cw.owner == OwnerKind::AcceptQueue) {
        // No listener in the inventory: it closed, or lives in a netns we missed.
        ListenerView v;
        v.local = cw.tuple.local;
        f.listener = v;
        out.detail = "listener not found";
    }
    if (cw.owner == OwnerKind::NoFd)
        out.detail = kNoFdDetail;
    return out;
}

} // namespace cwt
