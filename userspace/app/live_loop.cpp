// The live mode: loader -> ring buffer -> decoder -> tracker / accept watch
// -> reporters. LiveLoop runs the steps on timers; the decisions are in core/.
#include <bpf/libbpf.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/commands.hpp"
#include "app/run_control.hpp"
#include "app/scope.hpp"
#include "closewait.skel.h"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/memory.hpp"
#include "common/units.hpp"
#include "core/accept_watch.hpp"
#include "core/decoder.hpp"
#include "core/leak_resolution.hpp"
#include "core/overflow_poll.hpp"
#include "core/site_tally.hpp"
#include "core/tracker.hpp"
#include "kernel/caps.hpp"
#include "kernel/inventory.hpp"
#include "kernel/leak_sites.hpp"
#include "kernel/netns_set.hpp"
#include "kernel/procfs.hpp"
#include "report/fanout.hpp"
#include "report/human.hpp"
#include "report/journal.hpp"
#include "report/json.hpp"
#include "report/metrics_reporter.hpp"
#include "report/record.hpp"
#include "report/top.hpp"
#include "kernel/atomic_file.hpp"
#include "kernel/container.hpp"

namespace cwt
{

namespace
{

// The ring buffer is drained on this timer instead of per-event wakeups.
constexpr MonoNs kDrainPeriodNs = 100 * kNsPerMs;
// A listener walk for a queued CLOSE_WAIT's owners runs at most this often.
constexpr MonoNs kListenerRefreshMinNs = 200 * kNsPerMs;
// Network namespaces are looked for again this often (containers come and
// go); at once when a socket of an unknown one is due.
constexpr MonoNs kNetnsRefreshNs = 10 * kNsPerSec;
// The iterators' `wanted` map is bounded; the rest wait for the next scan.
constexpr std::size_t kMaxLeaksPerScan = 60000;

struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

// Collects decoded events from one ring-buffer drain.
struct DrainBatch {
    std::vector<KernelEvent> events;
    std::uint64_t malformed = 0;
};

int on_ring_record(void* ctx, void* data, size_t size)
{
    auto* batch = static_cast<DrainBatch*>(ctx);
    if (auto ev = decode_event(data, size))
        batch->events.push_back(std::move(*ev));
    else
        ++batch->malformed;
    return 0;
}

// How often the loop builds the live state: the shortest reporter period.
MonoNs state_period(const Options& o)
{
    MonoNs p = o.prometheus_textfile.empty() ? 0 : seconds_to_ns(o.metrics_interval_s);
    if (!o.record.empty() || o.top)
        p = p ? std::min(p, kNsPerSec) : kNsPerSec;
    return p;
}

class LiveLoop
{
  public:
    LiveLoop(const Options& o, BpfSession& session, Scope& scope, Inventory& inv, Reporter& reporter,
             MonoNs started, LeakSiteResolver* sites)
        : scope_(scope), netns_(scope.netns()), meta_(scope.meta_fn()), inv_(inv), reporter_(reporter),
          sites_(sites),
          // --record and --top draw every second; the metrics file every
          // --metrics-interval (the fan-out keeps each reporter's period).
          state_period_ns_(state_period(o)),
          tracker_(TrackerConfig{seconds_to_ns(o.threshold_s), o.verbose, scope.target(), started},
                   listeners_),
          scan_period_ns_(
              std::clamp<MonoNs>(seconds_to_ns(o.threshold_s / 10), 100 * kNsPerMs, 1000 * kNsPerMs)),
          accept_watch_(AcceptWatchConfig{kNsPerSec, seconds_to_ns(o.stall_s), scope.target(), started}),
          listener_check_period_ns_(std::max<MonoNs>(kNsPerSec, seconds_to_ns(o.stall_s / 2)))
    {
        ring_buffer* rb =
            ring_buffer__new(bpf_map__fd(session.skel().maps.events), on_ring_record, &batch_, nullptr);
        if (!rb)
            throw UserError("cannot open the BPF ring buffer", "run with --debug and report it");
        rb_.reset(rb);
        last_overflows_ = overflow_poll_.merge(mono_now_ns(), netns_.listen_overflows(), true);
        next_netns_refresh_ = mono_now_ns() + kNetnsRefreshNs;
    }

    void start(Inventory::Preexisting pre)
    {
        refresh_listeners(mono_now_ns(), true);
        scan_map(mono_now_ns());
        preexisting_ = std::move(pre.enrich);
    }

    void run(RunControl& ctl)
    {
        MonoNs next_scan = 0;
        for (MonoNs now = mono_now_ns(); !ctl.should_stop(now); now = mono_now_ns()) {
            drain(now);
            if (now >= next_scan) {
                scan(now);
                next_scan = now + scan_period_ns_;
            }
            watch_listeners(now);
            if (now >= next_netns_refresh_) {
                netns_.refresh();
                scope_.refresh_processes();
                next_netns_refresh_ = now + kNetnsRefreshNs;
            }
            report_state(now);
            reporter_.flush();
            // Sleeps until the drain period passes, or until the kernel wakes
            // us because the ring is filling up (records are consumed then).
            ring_buffer__poll(rb_.get(), static_cast<int>(kDrainPeriodNs / kNsPerMs));
        }
        // Last records and a last scan, so the summary counts what is still open.
        drain(mono_now_ns());
        scan_map(mono_now_ns());
        reporter_.flush();
    }

    Summary summary()
    {
        Summary s = tracker_.summary(mono_now_ns());
        s.accept_errors = accept_watch_.error_summary();
        s.listen_overflows = accept_watch_.overflows_reported();
        s.netns = netns_.size();
        s.netns_skipped = netns_.skipped();
        s.netns_vanished = netns_.vanished();
        annotate(s, meta_);
        s.sites = tally_.sites();
        for (auto& p : s.processes) {
            const ProcessMeta* m = p.process.meta.get();
            p.container = m && m->container ? short_container_id(m->container->id) : "";
            tally_.fill(p);
        }
        return s;
    }

  private:
    // Every --metrics-interval: the whole live state to the reporters that
    // keep one (metrics).
    void report_state(MonoNs now)
    {
        if (!state_period_ns_ || now < next_state_)
            return;
        reporter_.state(LiveState{now, summary(), listeners_.all()});
        next_state_ = now + state_period_ns_;
    }

    // Step 1, every drain period: the ring buffer's records into the tracker,
    // then the kernel's loss counters and accept-error aggregate.
    void drain(MonoNs now)
    {
        // Records may already be in the batch: ring_buffer__poll consumes
        // them when the kernel wakes us.
        ring_buffer__consume(rb_.get());
        resolve_queue_owners(now);
        Findings out;
        for (const auto& ev : batch_.events) {
            if (auto* se = std::get_if<SockEvent>(&ev))
                if (scope_.wants_netns(se->info.netns))
                    tracker_.on_event(*se, out);
        }
        batch_.events.clear();
        tracker_.on_lost(inv_.lost_total() + batch_.malformed, now, out);
        watch_accept_errors(now, out);
        report(out);
    }

    // Step 2, before the tracker sees a batch: a queued CLOSE_WAIT is
    // reported with its listener's queue as it is now, and with its owners.
    // One listener walk per drain that has any (they are rare).
    void resolve_queue_owners(MonoNs now)
    {
        bool any_queued = false, need_owners = false;
        for (const auto& ev : batch_.events)
            if (auto* se = std::get_if<SockEvent>(&ev))
                if (se->info.owner == OwnerKind::AcceptQueue) {
                    any_queued = true;
                    const ListenerInfo* l = listeners_.find(se->info.netns, se->info.tuple.local);
                    need_owners |= !l || l->owners.empty();
                }
        if (need_owners)
            refresh_listeners(now, false);
        else if (any_queued)
            read_listeners(now);
    }

    // The kernel aggregates accept failures; a small map, empty when healthy.
    void watch_accept_errors(MonoNs now, Findings& out)
    {
        auto errors = inv_.accept_errors();
        if (errors.empty())
            return;
        // Name the listener of a new failure even if it appeared this instant.
        if (std::any_of(errors.begin(), errors.end(), [&](const AcceptErrorSample& e) {
                return accept_watch_.changed(e) && !listeners_.by_sk(e.listener_sk);
            }))
            refresh_listeners(now, true);
        FdContexts fds;
        for (std::uint32_t pid : accept_watch_.pids_due(now, errors))
            if (!fds.count(pid))
                fds.emplace(pid, inv_.fd_context(pid));
        accept_watch_.on_errors(now, errors, fds, listeners_, out);
    }

    // The kernel's close_waits map into the tracker, streamed (no copy of it).
    void scan_map(MonoNs now)
    {
        tracker_.begin_scan(now);
        inv_.scan_close_waits([this](SockId sk, const CloseWaitInfo& info) {
            if (scope_.wants_netns(info.netns)) // --netns
                tracker_.scan_entry(sk, info);
        });
        tracker_.end_scan();
    }

    // Step 3, every scan period: the kernel's close_waits map into the
    // tracker, then the sockets past the threshold.
    void scan(MonoNs now)
    {
        scan_map(now);
        auto due = tracker_.due_for_leak_report(now);
        if (due.empty())
            return;
        if (due.size() > kMaxLeaksPerScan)
            due.resize(kMaxLeaksPerScan);
        Findings out;
        auto enrich = resolve_due(now, due);
        for (SockId sk : due)
            tracker_.report_leak(sk, enrich[sk], now, out);
        if (sites_)
            sites_->annotate(out);
        report(out);
        trim_heap_after(due.size());
    }

    // Only now, for the few sockets past the threshold, ask the kernel who
    // holds them and what they hold unread: healthy traffic costs nothing.
    // Pre-existing sockets were resolved at start-up.
    std::unordered_map<SockId, Enrichment> resolve_due(MonoNs now, const std::vector<SockId>& due)
    {
        std::unordered_map<SockId, Enrichment> enrich;
        std::vector<SockId> unresolved;
        for (SockId sk : due) {
            auto pre = preexisting_.find(sk);
            if (pre == preexisting_.end()) {
                unresolved.push_back(sk);
                continue;
            }
            enrich[sk] = std::move(pre->second);
            preexisting_.erase(pre);
        }
        if (unresolved.empty())
            return enrich;
        // A socket of a namespace made since the last look: look again first.
        if (std::any_of(unresolved.begin(), unresolved.end(),
                        [&](SockId sk) { return !netns_.contains(tracker_.netns_of(sk)); })) {
            netns_.refresh();
            next_netns_refresh_ = now + kNetnsRefreshNs;
        }
        Inventory::Refresh r = inv_.refresh(unresolved);
        listeners_.update(std::move(r.listeners), std::move(r.queued_on));
        last_listener_refresh_ = now;
        for (SockId sk : unresolved) {
            std::optional<SeenSock> seen;
            if (auto s = r.socks.find(sk); s != r.socks.end())
                seen = s->second;
            auto ow = r.owners.find(sk);
            enrich[sk] = resolve_at_threshold(seen, ow == r.owners.end() ? nullptr : &ow->second,
                                              inv_.walked(tracker_.netns_of(sk)));
        }
        return enrich;
    }

    // Step 4, every stall/2 (1 s at least), or as soon as a ListenOverflows
    // read sees the counter move (within a drain period where a queue is
    // filling, a second elsewhere): queue depths of every listener (sock_diag,
    // listening hash only), for overflow and stall findings.
    void watch_listeners(MonoNs now)
    {
        NetnsCounters overflows = read_overflows(now);
        if (now < next_listener_check_ && overflows == last_overflows_)
            return;
        last_overflows_ = overflows;
        next_listener_check_ = now + listener_check_period_ns_;
        // Queue depths only: sock_diag walks the listening hash alone.
        listeners_.update(inv_.listener_queues(), inv_.queued_on());
        overflow_poll_.on_listeners(listeners_.all());
        Findings out;
        accept_watch_.on_listeners(now, listeners_, overflows, tracker_.queued_close_waits(), out);
        report(out);
    }

    // ListenOverflows of every namespace each second, and of the namespaces
    // where a queue is filling or the counter moved every drain period.
    const NetnsCounters& read_overflows(MonoNs now)
    {
        if (overflow_poll_.all_due(now))
            return overflow_poll_.merge(now, netns_.listen_overflows(), true);
        std::vector<std::uint32_t> hot = overflow_poll_.hot(now);
        if (hot.empty())
            return overflow_poll_.counters();
        return overflow_poll_.merge(now, netns_.listen_overflows(&hot), false);
    }

    // Queues now; owners from the inventory's cache (an fd walk only when a
    // listener is new).
    void read_listeners(MonoNs now)
    {
        listeners_.update(inv_.listeners(), inv_.queued_on());
        last_listener_refresh_ = now;
    }

    // Listeners with their owners from a fresh fd walk.
    void refresh_listeners(MonoNs now, bool force)
    {
        if (!force && now - last_listener_refresh_ < kListenerRefreshMinNs)
            return;
        auto r = inv_.refresh({});
        listeners_.update(std::move(r.listeners), std::move(r.queued_on));
        last_listener_refresh_ = now;
    }

    // Step 5: findings to the reporters, in the order they were made.
    // Each process record gets its container, cgroup and nspid first.
    void report(Findings& out)
    {
        for (auto& f : out) {
            annotate(f, meta_);
            tally_.on_finding(f);
            reporter_.finding(f);
        }
    }

    // The kernel's CLOSE_WAIT map, less other namespaces under --netns.
    Scope& scope_;
    NetnsSet& netns_;
    ProcessMetaFn meta_;
    Inventory& inv_;
    Reporter& reporter_;
    LeakSiteResolver* sites_; // --leak-site, else null
    SiteTally tally_;
    MonoNs state_period_ns_ = 0; // --metrics-interval; 0: no metrics
    MonoNs next_state_ = 0;
    // Listener state has one owner, this loop; the tracker and the accept
    // watch read it. Declared before them.
    ListenerState listeners_;
    Tracker tracker_;
    MonoNs scan_period_ns_;
    AcceptWatch accept_watch_;
    MonoNs listener_check_period_ns_;
    DrainBatch batch_;
    std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
    MonoNs last_listener_refresh_ = 0;
    std::unordered_map<SockId, Enrichment> preexisting_;
    MonoNs next_listener_check_ = 0;
    OverflowPoll overflow_poll_{kNsPerSec, 5 * kNsPerSec};
    NetnsCounters last_overflows_;
    MonoNs next_netns_refresh_ = 0;
};

// Every output the options ask for, behind one fan-out reporter.
std::unique_ptr<Reporter> make_reporter(const Options& o, const WallClock& clock, MonoNs started)
{
    auto fanout = std::make_unique<FanoutReporter>();
    if (o.top) {
        // The screen is the output; q quits as Ctrl-C does (the stop signal).
        fanout->add(make_top_reporter([] { std::raise(SIGINT); }, clock));
    } else if (o.quiet) {
        // -q: the metrics file is the only output.
    } else if (o.json) {
        fanout->add(make_json_reporter(stdout, clock));
    } else if (is_journal_stream(STDOUT_FILENO)) {
        // one line per finding, with its priority
        fanout->add(make_journal_reporter(stdout, stderr, clock, human_style(o, started)));
    } else {
        fanout->add(make_human_reporter(stdout, stderr, clock, human_style(o, started), o.fold));
    }
    if (!o.record.empty())
        fanout->add(make_record_reporter(o.record, clock));
    if (!o.prometheus_textfile.empty()) {
        std::string path = o.prometheus_textfile;
        fanout->add(std::make_unique<MetricsReporter>(
                        MetricsOptions{o.metrics_max_series, o.version},
                        [path](const std::string& text) { write_file_atomically(path, text); }, clock,
                        [](std::uint32_t pid) { return container_of(pid); },
                        [](std::uint32_t pid) { return pid_exists(pid); }),
                    seconds_to_ns(o.metrics_interval_s));
    }
    return fanout;
}

StartInfo start_info(const Options& o, const BpfSession& session, std::size_t preexisting)
{
    StartInfo info;
    info.tier = tier_name(session.tier());
    info.tier_reason = session.tier_reason();
    info.kernel = kernel_release();
    info.filter_pid = o.pid;
    info.socket_filter = o.filter;
    info.threshold_s = o.threshold_s;
    info.verbose = o.verbose;
    info.preexisting_close_waits = preexisting;
    return info;
}

} // namespace

int run_live(const Options& o)
{
    install_stop_signals();
    WallClock clock;
    MonoNs started = mono_now_ns();
    // Attach first, then take the inventory: a socket that changes state in
    // between is seen by the probes, and the maps merge both by socket.
    BpfSession session(loader_options(o, true));
    // From here the probes see every transition: a socket already in
    // CLOSE_WAIT now has been so at least since then (its age bound).
    MonoNs attached = mono_now_ns();
    // Every network namespace (or the --netns one), held open for the run.
    Scope scope(o);
    scope.attach_kernel_filter(session); // before the inventory: no accept falls between the two
    log_debug("filters in kernel: " + session.kernel_filters() +
              (scope.kernel_filter_status().empty() ? "" : " " + scope.kernel_filter_status()));
    Inventory inv(session, &scope.netns(), o.filter);
    std::unique_ptr<LeakSiteResolver> sites;
    if (o.leak_site)
        sites = std::make_unique<LeakSiteResolver>(
            LeakSiteOptions{bpf_map__fd(session.skel().maps.close_waits), o.max_sockets, o.pid, true});
    Inventory::Preexisting pre = inv.seed_preexisting(scope.target());

    auto reporter = make_reporter(o, clock, started);
    reporter->start(start_info(o, session, pre.close_waits));

    LiveLoop loop(o, session, scope, inv, *reporter, attached, sites.get());
    loop.start(std::move(pre));
    // Attached, inventory taken: keep only what the periodic work needs
    // (both iterator links exist first; creating them needs CAP_BPF).
    session.iter_link_fd(true);
    session.iter_link_fd(false);
    if (std::string why = drop_capabilities_except(live_loop_capabilities(!o.prometheus_textfile.empty()));
        !why.empty())
        log_debug("capabilities not dropped: " + why);
    RunControl ctl(o.pid, o.duration_s > 0 ? started + seconds_to_ns(o.duration_s) : 0);
    loop.run(ctl);
    if (ctl.reason() == StopReason::TargetExit)
        reporter->target_exit(o.pid, mono_now_ns());
    if (!scope.kernel_filter_status().empty())
        log_debug("accepts and connects of other cgroups dropped in the kernel: " +
                  std::to_string(inv.counter(CWT_CNT_CGROUP_FILTERED)));
    if (!output_failed(ctl))
        reporter->summary(loop.summary(), ns_to_seconds(mono_now_ns() - started));
    reporter->flush();
    return end_status(ctl);
}

} // namespace cwt
