#include "core/tracker.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "common/units.hpp"

namespace cwt
{

Tracker::Tracker(TrackerConfig cfg, const ListenerState& listeners) : cfg_(std::move(cfg)), listeners_(listeners) {}

namespace
{

constexpr std::uint16_t kAfInet = 2;

bool plain_v4(const Tuple& t)
{
    return t.family == kAfInet && t.local.is_v4_mapped() && t.remote.is_v4_mapped();
}

std::uint32_t v4_of(const Endpoint& e)
{
    std::uint32_t a;
    std::memcpy(&a, &e.addr[12], 4);
    return a;
}

Endpoint endpoint_v4(std::uint32_t a, std::uint16_t port)
{
    Endpoint e;
    e.addr[10] = 0xff;
    e.addr[11] = 0xff;
    std::memcpy(&e.addr[12], &a, 4);
    e.port = port;
    return e;
}

} // namespace

Tuple Tracker::tuple_of(SockId sk, const Tracked& t) const
{
    if (t.v6) {
        auto it = v6_tuples_.find(sk);
        return it == v6_tuples_.end() ? Tuple{} : it->second;
    }
    Tuple out;
    out.family = kAfInet;
    out.local = endpoint_v4(t.saddr4, t.sport);
    out.remote = endpoint_v4(t.daddr4, t.dport);
    return out;
}

void Tracker::set_tuple(SockId sk, Tracked& t, const Tuple& tuple)
{
    t.v6 = !plain_v4(tuple);
    if (t.v6) {
        v6_tuples_[sk] = tuple;
        return;
    }
    t.saddr4 = v4_of(tuple.local);
    t.daddr4 = v4_of(tuple.remote);
    t.sport = tuple.local.port;
    t.dport = tuple.remote.port;
}

void Tracker::set_listener(Tracked& t, SockId listener_sk)
{
    listener_sks_.release(t.listener);
    t.listener = listener_sk ? listener_sks_.acquire(listener_sk) : kNone;
}

void Tracker::clear_owners(SockId sk, Tracked& t)
{
    procs_.release(t.proc);
    t.proc = kNone;
    t.fd = -1;
    if (t.multi)
        multi_owners_.erase(sk);
    t.multi = false;
}

void Tracker::clear_refs(SockId sk, Tracked& t)
{
    clear_owners(sk, t);
    set_listener(t, 0);
    if (t.v6)
        v6_tuples_.erase(sk);
    t.v6 = false;
}

void Tracker::set_owners(SockId sk, Tracked& t, const std::vector<ProcessRef>& owners)
{
    clear_owners(sk, t);
    if (owners.size() > 1) {
        t.multi = true;
        multi_owners_[sk] = owners;
    } else if (owners.size() == 1) {
        t.proc = procs_.acquire(ProcName{owners.front().pid, owners.front().comm});
        t.fd = owners.front().fd;
    }
}

std::vector<ProcessRef> Tracker::owners_of(SockId sk, const Tracked& t) const
{
    if (t.multi) {
        auto it = multi_owners_.find(sk);
        return it == multi_owners_.end() ? std::vector<ProcessRef>{} : it->second;
    }
    if (t.proc == kNone)
        return {};
    const ProcName& p = procs_[t.proc];
    return {ProcessRef{p.pid, p.comm, t.fd}};
}

std::uint32_t Tracker::first_owner_pid(SockId sk, const Tracked& t) const
{
    if (t.multi) {
        auto it = multi_owners_.find(sk);
        return it == multi_owners_.end() || it->second.empty() ? 0 : it->second.front().pid;
    }
    return t.proc == kNone ? 0 : procs_[t.proc].pid;
}

Tracker::Open::iterator Tracker::forget(Open::iterator it)
{
    clear_refs(it->first, it->second);
    return open_.erase(it);
}

Tracker::Tracked& Tracker::upsert(SockId sk, const CloseWaitInfo& info, MonoNs now)
{
    auto it = open_.find(sk);
    bool accepted = info.owner == OwnerKind::Process && info.accepted;
    // Same address, different CLOSE_WAIT entry time: the kernel reused the
    // address for a new socket; forget the old one.
    if (it == open_.end() || it->second.enter_ns != info.enter_ns) {
        if (it != open_.end())
            clear_refs(sk, it->second);
        Tracked& t = open_[sk];
        t = Tracked{};
        t.enter_ns = info.enter_ns;
        if (info.enter_ns == 0) {
            // Entered before the tool: in CLOSE_WAIT since the tool started
            // (or since first seen) at the latest, or since the kernel's bound.
            MonoNs since = std::min(now, cfg_.started_ns ? cfg_.started_ns : now);
            if (info.fin_by_ns)
                since = std::min(since, info.fin_by_ns);
            t.since_ns = since;
        }
        set_tuple(sk, t, info.tuple);
        t.netns = info.netns;
        t.recv_q = info.recv_q;
        t.owner = info.owner;
        t.preexisting = info.preexisting;
        t.epoch = epoch_;
        set_listener(t, info.accepted ? info.accepted->listener_sk : 0);
        if (accepted)
            set_owners(sk, t, {info.accepted->by});
        t.filtered_out = !passes_filter(sk, t);
        return t;
    }
    Tracked& t = it->second;
    t.epoch = epoch_;
    if (info.owner == OwnerKind::Process && t.owner != OwnerKind::Process) {
        t.owner = info.owner;
        set_listener(t, info.accepted ? info.accepted->listener_sk : 0);
        if (accepted)
            set_owners(sk, t, {info.accepted->by});
        else
            clear_owners(sk, t);
        t.filtered_out = !passes_filter(sk, t);
    }
    return t;
}

bool Tracker::passes_filter(SockId sk, const Tracked& t) const
{
    if (!cfg_.target.active())
        return true;
    if (t.multi) {
        if (cfg_.target.wants_any(multi_owners_.at(sk)))
            return true;
    } else if (t.proc != kNone && cfg_.target.wants(procs_[t.proc].pid)) {
        return true;
    }
    if (t.owner == OwnerKind::AcceptQueue) {
        const ListenerInfo* l = queue_listener(sk, t);
        return l && cfg_.target.wants_any(l->owners);
    }
    // Owner not resolved yet: keep it until the threshold resolution decides.
    return !has_owner(t) && t.owner == OwnerKind::Unknown;
}

void Tracker::fill_age(SocketFacts& f, const Tracked& t, MonoNs now) const
{
    if (t.enter_ns && now >= t.enter_ns)
        f.age_s = ns_to_seconds(now - t.enter_ns);
    else if (t.enter_ns == 0)
        f.min_age_s = now >= t.since_ns ? ns_to_seconds(now - t.since_ns) : 0.0;
    else
        f.age_s = 0.0;
}

template <typename F> F Tracker::make_finding(SockId sk, const Tracked& t, MonoNs now) const
{
    F out;
    out.ts_ns = now;
    SocketFacts& f = out.sock;
    f.sk = sk;
    f.owner = t.owner;
    f.processes = owners_of(sk, t);
    f.tuple = tuple_of(sk, t);
    f.netns = t.netns;
    f.recv_q = t.recv_q;
    f.preexisting = t.preexisting;
    fill_age(f, t, now);

    const ListenerInfo* l = nullptr;
    if (t.owner == OwnerKind::AcceptQueue)
        l = queue_listener(sk, t);
    else if (t.listener != kNone)
        l = listeners_.by_sk(listener_sk_of(t));
    if (!l && t.owner == OwnerKind::Process && t.listener == kNone)
        // Accept not seen (it predates us): an accepted child shares its
        // listener's local address, so match on that.
        l = listeners_.find(t.netns, f.tuple.local, first_owner_pid(sk, t));
    if (l) {
        f.listener = listener_view(*l);
    } else if (t.owner == OwnerKind::AcceptQueue) {
        // No listener in the inventory: it closed, or lives in a netns we missed.
        ListenerView v;
        v.local = f.tuple.local;
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
        if (cfg_.verbose || t.owner == OwnerKind::AcceptQueue) {
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
        if (it == open_.end() || it->second.enter_ns != ev.info.enter_ns) {
            // Not tracked: it closed between scans, or a scan already dropped
            // it while this close record was still in the ring buffer.
            auto g = reported_gone_.find(ev.sk);
            reported_before = g != reported_gone_.end() && g->second.first == ev.info.enter_ns;
            if (reported_before)
                reported_gone_.erase(g);
            upsert(ev.sk, ev.info, ev.ts_ns);
            it = open_.find(ev.sk);
        }
        Tracked& t = it->second;
        t.leak_reported |= reported_before;
        if (t.filtered_out) {
            forget(it);
            return;
        }
        auto f = make_finding<ClosedFinding>(ev.sk, t, ev.ts_ns);
        bool past_threshold = t.enter_ns && ev.ts_ns - t.enter_ns >= cfg_.leak_threshold_ns;
        if (!t.leak_reported && past_threshold && passes_filter(ev.sk, t)) {
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
        f.closed_by = ev.new_state == 9 /* LAST_ACK */    ? "application"
                      : t.owner == OwnerKind::AcceptQueue ? "listener_closed"
                      : ev.local_shutdown                 ? "application"
                                                          : "reset";
        bool keep = cfg_.verbose || f.was_leak || t.preexisting;
        forget(it);
        if (keep)
            out.push_back(std::move(f));
        return;
    }
    }
}

void Tracker::on_scan(MonoNs now, const std::vector<std::pair<SockId, CloseWaitInfo>>& entries)
{
    begin_scan(now);
    for (const auto& [sk, info] : entries)
        scan_entry(sk, info);
    end_scan();
}

void Tracker::begin_scan(MonoNs now)
{
    scan_now_ = now;
    ++epoch_; // every record the scan finds is stamped with it
}

void Tracker::scan_entry(SockId sk, const CloseWaitInfo& info)
{
    upsert(sk, info, scan_now_);
}

void Tracker::end_scan()
{
    MonoNs now = scan_now_;
    constexpr MonoNs kTombstoneNs = 10 * kNsPerSec;
    for (auto g = reported_gone_.begin(); g != reported_gone_.end();)
        g = now - g->second.second > kTombstoneNs ? reported_gone_.erase(g) : std::next(g);
    for (auto it = open_.begin(); it != open_.end();) {
        if (it->second.epoch != epoch_) {
            // Not in the map any more (or only under a newer entry time, which
            // upsert already replaced): it left CLOSE_WAIT without an event.
            if (it->second.leak_reported)
                reported_gone_[it->first] = {it->second.enter_ns, now};
            it = forget(it);
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
        bool old_enough =
            t.enter_ns == 0 || (now >= t.enter_ns && now - t.enter_ns >= cfg_.leak_threshold_ns);
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
        forget(it);
        return;
    }
    if (!e.owners.empty()) {
        // An fd refers to it, so it left the accept queue if it was ever in it.
        set_owners(sk, t, e.owners);
        t.owner = OwnerKind::Process;
    } else if (t.owner == OwnerKind::Unknown) {
        // A struct socket but no fd in any process: in flight over SCM_RIGHTS,
        // an io_uring fixed file, or a kernel socket.
        t.owner = OwnerKind::NoFd;
    }
    if (e.recv_q)
        t.recv_q = *e.recv_q;
    t.leak_reported = true;
    t.filtered_out = !passes_filter(sk, t);
    if (t.filtered_out)
        return;
    auto f = make_finding<LeakFinding>(sk, t, now);
    if (t.owner == OwnerKind::NoFd)
        f.detail = "socket has a file but no process fd (SCM_RIGHTS in flight, io_uring or kernel)";
    out.push_back(std::move(f));
    ++leaks_reported_;
}

const ListenerInfo* Tracker::queue_listener(SockId sk, const Tracked& t) const
{
    return listeners_.queue_of(sk, t.netns, tuple_of(sk, t).local);
}

std::size_t Tracker::queued_close_waits(const ListenerInfo& l) const
{
    std::size_t n = 0;
    for (const auto& [sk, t] : open_) {
        if (t.owner != OwnerKind::AcceptQueue)
            continue;
        const ListenerInfo* m = queue_listener(sk, t);
        if (m && m->sk == l.sk)
            ++n;
    }
    return n;
}

std::unordered_map<SockId, std::size_t> Tracker::queued_close_waits() const
{
    std::unordered_map<SockId, std::size_t> n;
    for (const auto& [sk, t] : open_) {
        if (t.owner != OwnerKind::AcceptQueue)
            continue;
        if (const ListenerInfo* m = queue_listener(sk, t))
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
        if (t.owner == OwnerKind::AcceptQueue) {
            const ListenerInfo* l = queue_listener(sk, t);
            Endpoint local = l ? l->local : tuple_of(sk, t).local;
            auto key =
                std::make_pair(t.netns, std::string(reinterpret_cast<const char*>(local.addr.data()), 16) +
                                            std::to_string(local.port) + "/" + std::to_string(l ? l->sk : 0));
            ListenerSummary& ls = lsums[key];
            ls.netns = t.netns;
            ls.listener = l ? listener_view(*l) : ListenerView{local, {}, {}, {}};
            ++ls.queued_close_waits;
            if (age >= ls.oldest_age_s) {
                ls.oldest_age_s = age;
                ls.oldest_predates_start = predates;
            }
            continue;
        }
        if (!has_owner(t)) {
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
        for (const auto& p : owners_of(sk, t)) {
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
