#include "core/tracker.hpp"

#include <algorithm>
#include <map>

#include "common/units.hpp"

namespace cwt
{

namespace
{

std::vector<ProcessRef> owners_from(const CloseWaitInfo& info)
{
    if (info.owner == OwnerKind::Process && info.accepted)
        return {info.accepted->by};
    return {};
}
} // namespace

Tracker::Tracker(TrackerConfig cfg, const ListenerState& listeners) : cfg_(cfg), listeners_(listeners) {}

Tracker::Tracked& Tracker::upsert(SockId sk, const CloseWaitInfo& info, MonoNs now)
{
    auto it = open_.find(sk);
    // Same address, different CLOSE_WAIT entry time: the kernel reused the
    // address for a new socket; forget the old one.
    if (it == open_.end() || it->second.info.enter_ns != info.enter_ns) {
        Tracked t;
        t.sk = sk;
        t.info = info;
        t.owners = owners_from(info);
        t.first_seen_ns = now;
        t.filtered_out = !passes_filter(t);
        return open_[sk] = std::move(t);
    }
    Tracked& t = it->second;
    if (info.owner == OwnerKind::Process && t.info.owner != OwnerKind::Process) {
        t.info.owner = info.owner;
        t.info.accepted = info.accepted;
        t.owners = owners_from(info);
        t.filtered_out = !passes_filter(t);
    }
    return t;
}

bool Tracker::passes_filter(const Tracked& t) const
{
    if (!cfg_.target.active() || cfg_.target.wants_any(t.owners))
        return true;
    if (t.info.owner == OwnerKind::AcceptQueue) {
        const ListenerInfo* l = queue_listener(t);
        return l && cfg_.target.wants_any(l->owners);
    }
    // Owner not resolved yet: keep it until the threshold resolution decides.
    return t.owners.empty() && t.info.owner == OwnerKind::Unknown;
}

void Tracker::fill_age(SocketFacts& f, const Tracked& t, MonoNs now) const
{
    if (t.info.enter_ns && now >= t.info.enter_ns) {
        f.age_s = ns_to_seconds(now - t.info.enter_ns);
    } else if (t.info.enter_ns == 0) {
        MonoNs since = std::min(t.first_seen_ns, cfg_.started_ns ? cfg_.started_ns : t.first_seen_ns);
        if (t.info.fin_by_ns)
            since = std::min(since, t.info.fin_by_ns); // the kernel's bound, when it has one
        f.min_age_s = now >= since ? ns_to_seconds(now - since) : 0.0;
    } else {
        f.age_s = 0.0;
    }
}

template <typename F> F Tracker::make_finding(SockId sk, const Tracked& t, MonoNs now) const
{
    F out;
    out.ts_ns = now;
    SocketFacts& f = out.sock;
    f.sk = sk;
    f.owner = t.info.owner;
    f.processes = t.owners;
    f.tuple = t.info.tuple;
    f.netns = t.info.netns;
    f.recv_q = t.info.recv_q;
    f.preexisting = t.info.preexisting;
    fill_age(f, t, now);

    const ListenerInfo* l = nullptr;
    if (t.info.owner == OwnerKind::AcceptQueue)
        l = queue_listener(t);
    else if (t.info.accepted && t.info.accepted->listener_sk)
        l = listeners_.by_sk(t.info.accepted->listener_sk);
    if (!l && t.info.owner == OwnerKind::Process && !(t.info.accepted && t.info.accepted->listener_sk))
        // Accept not seen (it predates us): an accepted child shares its
        // listener's local address, so match on that.
        l = listeners_.find(t.info.netns, t.info.tuple.local, t.owners.empty() ? 0 : t.owners.front().pid);
    if (l) {
        f.listener = listener_view(*l);
    } else if (t.info.owner == OwnerKind::AcceptQueue) {
        // No listener in the inventory: it closed, or lives in a netns we missed.
        ListenerView v;
        v.local = t.info.tuple.local;
        f.listener = v;
        out.detail = "listener not found";
    }
    return out;
}

void Tracker::on_event(const SockEvent& ev, Findings& out)
{
    switch (ev.kind) {
    case SockEventKind::EnteredCloseWait: {
        Tracked& t = upsert(ev.sk, ev.info, ev.ts_ns);
        if (t.filtered_out)
            return;
        if (cfg_.verbose || t.info.owner == OwnerKind::AcceptQueue) {
            out.emplace_back(make_finding<CloseWaitFinding>(ev.sk, t, ev.ts_ns));
        }
        return;
    }
    case SockEventKind::QueuedAccepted: {
        Tracked& t = upsert(ev.sk, ev.info, ev.ts_ns);
        if (!t.filtered_out && cfg_.verbose) {
            auto f = make_finding<CloseWaitFinding>(ev.sk, t, ev.ts_ns);
            f.detail = "accepted after the peer closed";
            out.push_back(std::move(f));
        }
        return;
    }
    case SockEventKind::LeftCloseWait: {
        auto it = open_.find(ev.sk);
        bool reported_before = false;
        if (it == open_.end() || it->second.info.enter_ns != ev.info.enter_ns) {
            // Not tracked: it closed between scans, or a scan already dropped
            // it while this close record was still in the ring buffer.
            auto g = reported_gone_.find(ev.sk);
            reported_before = g != reported_gone_.end() && g->second.first == ev.info.enter_ns;
            if (reported_before)
                reported_gone_.erase(g);
            upsert(ev.sk, ev.info, ev.ts_ns);
            it = open_.find(ev.sk);
        }
        Tracked t = std::move(it->second);
        open_.erase(it);
        t.leak_reported |= reported_before;
        if (t.filtered_out)
            return;
        auto f = make_finding<ClosedFinding>(ev.sk, t, ev.ts_ns);
        bool past_threshold = t.info.enter_ns && ev.ts_ns - t.info.enter_ns >= cfg_.leak_threshold_ns;
        if (!t.leak_reported && past_threshold && passes_filter(t)) {
            // It outlived the threshold but closed before a scan noticed:
            // still a leak suspect, reported late rather than never.
            auto leak = make_finding<LeakFinding>(ev.sk, t, ev.ts_ns);
            leak.detail = "closed before the periodic scan";
            out.push_back(std::move(leak));
            ++leaks_reported_;
            t.leak_reported = true;
        }
        f.was_leak = t.leak_reported;
        // LAST_ACK: an orderly close(). Straight to CLOSE: the listener went
        // away under a queued socket, close() aborted a socket with unread
        // data (we had shut down sending), or the peer reset it.
        f.closed_by = ev.new_state == 9 /* LAST_ACK */         ? "application"
                      : t.info.owner == OwnerKind::AcceptQueue ? "listener_closed"
                      : ev.local_shutdown                      ? "application"
                                                               : "reset";
        if (cfg_.verbose || f.was_leak || t.info.preexisting)
            out.push_back(std::move(f));
        return;
    }
    }
}

void Tracker::on_scan(MonoNs now, const std::vector<std::pair<SockId, CloseWaitInfo>>& entries)
{
    std::unordered_map<SockId, MonoNs> present;
    present.reserve(entries.size());
    for (const auto& [sk, info] : entries) {
        upsert(sk, info, now);
        present.emplace(sk, info.enter_ns);
    }
    constexpr MonoNs kTombstoneNs = 10 * kNsPerSec;
    for (auto g = reported_gone_.begin(); g != reported_gone_.end();)
        g = now - g->second.second > kTombstoneNs ? reported_gone_.erase(g) : std::next(g);
    for (auto it = open_.begin(); it != open_.end();) {
        auto p = present.find(it->first);
        if (p == present.end() || p->second != it->second.info.enter_ns) {
            if (it->second.leak_reported)
                reported_gone_[it->first] = {it->second.info.enter_ns, now};
            it = open_.erase(it);
        } else {
            ++it;
        }
    }
}

std::vector<SockId> Tracker::due_for_leak_report(MonoNs now) const
{
    std::vector<SockId> due;
    for (const auto& [sk, t] : open_) {
        if (t.leak_reported || t.filtered_out)
            continue;
        bool old_enough = t.info.enter_ns == 0 ||
                          (now >= t.info.enter_ns && now - t.info.enter_ns >= cfg_.leak_threshold_ns);
        if (old_enough)
            due.push_back(sk);
    }
    std::sort(due.begin(), due.end());
    return due;
}

void Tracker::report_leak(SockId sk, const Enrichment& e, MonoNs now, Findings& out)
{
    auto it = open_.find(sk);
    if (it == open_.end())
        return;
    Tracked& t = it->second;
    if (e.gone) {
        open_.erase(it);
        return;
    }
    if (!e.owners.empty()) {
        // An fd refers to it, so it left the accept queue if it was ever in it.
        t.owners = e.owners;
        t.info.owner = OwnerKind::Process;
    } else if (t.info.owner == OwnerKind::Unknown) {
        // A struct socket but no fd in any process: in flight over SCM_RIGHTS,
        // an io_uring fixed file, or a kernel socket.
        t.info.owner = OwnerKind::NoFd;
    }
    if (e.recv_q)
        t.info.recv_q = *e.recv_q;
    t.leak_reported = true;
    t.filtered_out = !passes_filter(t);
    if (t.filtered_out)
        return;
    auto f = make_finding<LeakFinding>(sk, t, now);
    if (t.info.owner == OwnerKind::NoFd)
        f.detail = "socket has a file but no process fd (SCM_RIGHTS in flight, io_uring or kernel)";
    out.push_back(std::move(f));
    ++leaks_reported_;
}

const ListenerInfo* Tracker::queue_listener(const Tracked& t) const
{
    return listeners_.queue_of(t.sk, t.info.netns, t.info.tuple.local);
}

std::size_t Tracker::queued_close_waits(const ListenerInfo& l) const
{
    std::size_t n = 0;
    for (const auto& [sk, t] : open_) {
        if (t.info.owner != OwnerKind::AcceptQueue)
            continue;
        const ListenerInfo* m = queue_listener(t);
        if (m && m->sk == l.sk)
            ++n;
    }
    return n;
}

std::unordered_map<SockId, std::size_t> Tracker::queued_close_waits() const
{
    std::unordered_map<SockId, std::size_t> n;
    for (const auto& [sk, t] : open_) {
        if (t.info.owner != OwnerKind::AcceptQueue)
            continue;
        if (const ListenerInfo* m = queue_listener(t))
            ++n[m->sk];
    }
    return n;
}

void Tracker::on_lost(std::uint64_t total, MonoNs now, Findings& out)
{
    if (total <= lost_reported_)
        return;
    LostFinding f;
    f.ts_ns = now;
    f.count = total - lost_reported_;
    f.detail = "kernel could not record events (ring buffer or map full); see summary";
    lost_reported_ = total;
    out.push_back(std::move(f));
}

Summary Tracker::summary(MonoNs now) const
{
    Summary s;
    s.ts_ns = now;
    s.lost_events = lost_reported_;
    s.leaks_reported = leaks_reported_;
    std::map<std::uint32_t, ProcessSummary> procs;
    // By listener when known: SO_REUSEPORT listeners share an address.
    std::map<std::pair<std::uint32_t, std::string>, ListenerSummary> lsums;

    auto age_of = [&](const Tracked& t, bool& predates) {
        SocketFacts f;
        fill_age(f, t, now);
        predates = !f.age_s.has_value();
        return f.age_s ? *f.age_s : f.min_age_s.value_or(0.0);
    };

    for (const auto& [sk, t] : open_) {
        if (t.filtered_out)
            continue;
        ++s.open_close_waits;
        bool predates = false;
        double age = age_of(t, predates);
        if (t.info.owner == OwnerKind::AcceptQueue) {
            const ListenerInfo* l = queue_listener(t);
            Endpoint local = l ? l->local : t.info.tuple.local;
            auto key = std::make_pair(t.info.netns,
                                      std::string(reinterpret_cast<const char*>(local.addr.data()), 16) +
                                          std::to_string(local.port) + "/" + std::to_string(l ? l->sk : 0));
            ListenerSummary& ls = lsums[key];
            ls.netns = t.info.netns;
            ls.listener = l ? listener_view(*l) : ListenerView{local, {}, {}, {}};
            ++ls.queued_close_waits;
            if (age >= ls.oldest_age_s) {
                ls.oldest_age_s = age;
                ls.oldest_predates_start = predates;
            }
            continue;
        }
        if (t.owners.empty()) {
            // Under -p an unresolved socket is most likely someone else's:
            // count it only once its owner is known.
            if (cfg_.target.active())
                --s.open_close_waits;
            else
                ++s.unknown_owner;
            continue;
        }
        // Attributed to every process holding it (fork, dup, SCM_RIGHTS).
        std::vector<std::uint32_t> seen;
        for (const auto& p : t.owners) {
            if (!cfg_.target.wants(p.pid))
                continue;
            ProcessSummary& ps = procs[p.pid];
            ps.process.pid = p.pid;
            ps.process.comm = p.comm;
            ps.fds.push_back(p.fd);
            if (std::find(seen.begin(), seen.end(), p.pid) == seen.end()) {
                seen.push_back(p.pid);
                ++ps.open_close_waits;
                if (age >= ps.oldest_age_s) {
                    ps.oldest_age_s = age;
                    ps.oldest_predates_start = predates;
                }
            }
        }
    }
    for (auto& [pid, ps] : procs) {
        std::sort(ps.fds.begin(), ps.fds.end());
        s.processes.push_back(std::move(ps));
    }
    for (auto& [k, ls] : lsums)
        s.listeners.push_back(std::move(ls));
    std::sort(s.processes.begin(), s.processes.end(),
              [](const auto& a, const auto& b) { return a.open_close_waits > b.open_close_waits; });
    std::sort(s.listeners.begin(), s.listeners.end(),
              [](const auto& a, const auto& b) { return a.queued_close_waits > b.queued_close_waits; });
    return s;
}

} // namespace cwt
