#include "core/accept_watch.hpp"

#include "common/units.hpp"
#include "core/listener_index.hpp"

#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>

#include "closewait_trace/events.h"
#include "common/text.hpp"

namespace cwt
{

std::string syscall_name(std::uint32_t nr)
{
    if (nr == CWT_SYSCALL_IO_URING)
        return "io_uring";
    if (nr == __NR_accept4)
        return "accept4";
#ifdef __NR_accept
    if (nr == __NR_accept)
        return "accept";
#endif
    return "syscall " + std::to_string(nr);
}

bool AcceptWatch::owned_by_target(const ListenerInfo& l) const
{
    return cfg_.target.wants_any(l.owners);
}

namespace
{
// `now` is sampled before the kernel's last-accept time is read, so that time
// can be a little ahead of it: never let the difference wrap.
MonoNs since(MonoNs now, MonoNs then)
{
    return now > then ? now - then : 0;
}

} // namespace

AcceptWatch::Deltas AcceptWatch::due(MonoNs now, const AcceptErrorSample& s) const
{
    Deltas d;
    auto it = errors_.find({s.pid, s.listen_fd});
    if (it == errors_.end()) {
        // The first failure stands alone (count 1) and goes out at once;
        // whatever else is already counted goes in the next interval.
        d.emfile = s.emfile ? 1 : 0;
        d.enfile = s.emfile ? 0 : 1;
        return d;
    }
    const Reported& r = it->second;
    if (now - r.last_line_ns < cfg_.report_interval_ns)
        return d;
    d.emfile = s.emfile - r.last.emfile;
    d.enfile = s.enfile - r.last.enfile;
    d.shed = s.shed - r.last.shed;
    return d;
}

std::vector<std::uint32_t> AcceptWatch::pids_due(MonoNs now,
                                                 const std::vector<AcceptErrorSample>& samples) const
{
    std::vector<std::uint32_t> pids;
    for (const auto& s : samples)
        if (wanted(s.pid) && due(now, s).any())
            pids.push_back(s.pid);
    return pids;
}

void AcceptWatch::on_errors(MonoNs now, const std::vector<AcceptErrorSample>& samples, const FdContexts& fds,
                            const ListenerState& listeners, std::vector<Finding>& out)
{
    for (const auto& s : samples) {
        if (!wanted(s.pid))
            continue;
        bool first = !errors_.count({s.pid, s.listen_fd});
        Deltas d = due(now, s);
        Reported& r = errors_[{s.pid, s.listen_fd}];
        r.seen = s;
        if (!d.any())
            continue;
        std::uint64_t d_emfile = d.emfile, d_enfile = d.enfile, d_shed = d.shed;
        auto ctx = fds.find(s.pid);
        FdContext now_fds = ctx == fds.end() ? FdContext{} : ctx->second;
        if (now_fds.open_fds || !r.fds.open_fds)
            r.fds = now_fds; // keep the last known when the process has exited
        const ListenerInfo* l = listeners.by_sk(s.listener_sk);
        if (l)
            r.listener = l->local;
        for (int err : {EMFILE, ENFILE}) {
            std::uint64_t n = err == EMFILE ? d_emfile : d_enfile;
            bool shed_only = !d_emfile && !d_enfile && err == EMFILE;
            if (!n && !shed_only)
                continue;
            AcceptErrorFinding f;
            f.ts_ns = now;
            f.process = ProcessRef{s.pid, s.comm, s.listen_fd};
            f.errno_name = errno_name(err);
            f.syscall = syscall_name(s.syscall_nr);
            f.count = n;
            f.shed = d_shed;
            d_shed = 0;
            f.nofile_soft = r.fds.nofile_soft;
            f.nofile_hard = r.fds.nofile_hard;
            f.open_fds = r.fds.open_fds;
            f.socket_fds = r.fds.socket_fds;
            f.close_wait_fds = r.fds.close_wait_fds;
            if (l)
                f.listener = listener_view(*l);
            out.push_back(std::move(f));
        }
        r.last.emfile += d_emfile;
        r.last.enfile += d_enfile;
        r.last.shed = first ? 0 : s.shed;
        r.last_line_ns = now;
    }
}

namespace
{

std::size_t queued_on(const QueuedCloseWaits& queued_cw, const ListenerInfo& l)
{
    auto it = queued_cw.find(l.sk);
    return it == queued_cw.end() ? 0 : it->second;
}

ListenerFacts queue_facts(const ListenerInfo& l, const QueuedCloseWaits& queued_cw)
{
    ListenerFacts q;
    q.listener = listener_view(l);
    if (!l.owners.empty())
        q.process = l.owners.front();
    q.netns = l.netns;
    q.queued_close_wait = queued_on(queued_cw, l);
    return q;
}

} // namespace

void AcceptWatch::on_listeners(MonoNs now, const ListenerState& state, const NetnsCounters& overflows,
                               const QueuedCloseWaits& queued_cw, std::vector<Finding>& out)
{
    const std::vector<ListenerInfo>& listeners = state.all();
    // Overflows: the kernel counts them per netns, not per listener, on this
    // tier; a listener of that netns whose queue is full right now is the one
    // dropping.
    std::vector<std::pair<std::uint32_t, std::uint64_t>> sorted(overflows.begin(), overflows.end());
    std::sort(sorted.begin(), sorted.end()); // findings in a stable order
    for (const auto& [netns, count] : sorted) {
        auto base = overflow_base_.find(netns);
        if (base == overflow_base_.end()) {
            overflow_base_.emplace(netns, count); // first sample of this namespace
            continue;
        }
        if (count <= base->second) {
            base->second = count; // a namespace recreated under a reused inode restarts from 0
            continue;
        }
        std::uint64_t drops = count - base->second;
        base->second = count;
        std::vector<const ListenerInfo*> full;
        for (const auto& l : listeners)
            if ((netns == kAnyNetns || l.netns == netns) && l.backlog && l.queue >= l.backlog)
                full.push_back(&l);
        for (const auto* l : full) {
            if (!owned_by_target(*l))
                continue;
            ListenOverflowFinding f;
            f.ts_ns = now;
            f.queue = queue_facts(*l, queued_cw);
            f.drops = drops;
            f.detail = full.size() > 1 ? "drops counted per netns, shared by " + std::to_string(full.size()) +
                                             " full listeners"
                                       : "accept queue full";
            out.push_back(std::move(f));
        }
        if (full.empty() && !cfg_.target.active()) {
            ListenOverflowFinding f;
            f.ts_ns = now;
            f.drops = drops;
            f.queue.netns = netns;
            f.detail = "no listener full at sampling time";
            out.push_back(std::move(f));
        }
        overflow_reported_ += drops;
    }
    // Namespaces that are gone: their base goes with them.
    if (overflow_base_.size() > overflows.size())
        for (auto it = overflow_base_.begin(); it != overflow_base_.end();)
            it = overflows.count(it->first) ? std::next(it) : overflow_base_.erase(it);

    // Stalls: a non-empty queue and no accept() for cfg_.stall_ns.
    std::map<SockId, StallState> next;
    for (const auto& l : listeners) {
        if (l.queue == 0 || !owned_by_target(l))
            continue;
        StallState st = stalls_.count(l.sk) ? stalls_[l.sk] : StallState{now, std::nullopt, false};
        if (l.last_accept_ns && (!st.last_accept_ns || *l.last_accept_ns > *st.last_accept_ns)) {
            st.last_accept_ns = l.last_accept_ns;
            if (*l.last_accept_ns > st.nonempty_since) {
                st.nonempty_since = *l.last_accept_ns; // it accepted: the clock restarts
                st.reported = false;
            }
        }
        if (!st.reported && since(now, st.nonempty_since) >= cfg_.stall_ns) {
            AcceptStallFinding f;
            f.ts_ns = now;
            f.queue = queue_facts(l, queued_cw);
            if (st.last_accept_ns)
                f.since_last_accept_s = ns_to_seconds(since(now, *st.last_accept_ns));
            else
                f.min_stall_s = ns_to_seconds(since(
                    now, std::min(st.nonempty_since, cfg_.started_ns ? cfg_.started_ns : st.nonempty_since)));
            if (st.last_accept_ns)
                f.detail = "no accept() while connections wait";
            out.push_back(std::move(f));
            st.reported = true;
        }
        next[l.sk] = st;
    }
    stalls_ = std::move(next);
}

bool AcceptWatch::changed(const AcceptErrorSample& s) const
{
    auto it = errors_.find({s.pid, s.listen_fd});
    if (it == errors_.end())
        return true;
    const AcceptErrorSample& seen = it->second.seen;
    return s.emfile != seen.emfile || s.enfile != seen.enfile || s.shed != seen.shed;
}

std::vector<AcceptErrorSummary> AcceptWatch::error_summary() const
{
    std::vector<AcceptErrorSummary> out;
    for (const auto& [key, r] : errors_) {
        AcceptErrorSummary s;
        s.totals = r.seen;
        s.fds = r.fds;
        s.listener = r.listener;
        out.push_back(s);
    }
    return out;
}

} // namespace cwt
