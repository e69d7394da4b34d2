#include "app/daemon.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "common/units.hpp"
#include "core/accept_watch.hpp"
#include "closewait.skel.h"
#include "core/decoder.hpp"
#include "kernel/diag_inventory.hpp"
#include "common/error.hpp"
#include "core/format.hpp"
#include "kernel/inventory.hpp"
#include "kernel/procfs.hpp"
#include "report/fanout.hpp"
#include "report/human.hpp"
#include "report/json.hpp"
#include "report/snapshot_report.hpp"
#include "core/snapshot.hpp"
#include "core/tracker.hpp"

namespace cwt
{

namespace
{

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int)
{
    g_stop = 1;
}

void install_signals()
{
    struct sigaction sa {
    };
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

// The ring buffer is drained on this timer instead of per-event wakeups.
constexpr MonoNs kDrainPeriodNs = 100 * kNsPerMs;

LoaderOptions loader_options(const Options& o, bool live)
{
    LoaderOptions l;
    l.attach_live = live;
    l.tier = parse_tier(o.probes);
    l.filter_pid = o.pid;
    l.filter_port = o.port;
    l.verbose = o.verbose;
    l.leak_threshold_ns = seconds_to_ns(o.threshold_s);
    l.max_sockets = o.max_sockets;
    l.debug = o.debug;
    return l;
}

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

// The CLOSE_WAITs that exist before we start, seeded into the kernel maps so
// that their closes are seen, and returned as enrichment for the tracker.
struct Preexisting {
    std::unordered_map<SockId, Enrichment> enrich;
    std::size_t close_waits = 0;
};

Preexisting take_inventory(Inventory& inv, const Options& o)
{
    Preexisting pre;
    std::vector<SockId> seeded_cw, seeded_owner;
    auto socks = inv.tcp_sockets(false);
    // Every process's fds, even under -p: a socket held by another process
    // must not be mistaken for one that no process holds.
    auto fds = inv.socket_fds(0, false);
    std::unordered_map<SockId, std::vector<ProcessRef>> owners;
    std::unordered_map<SockId, const cwt_iter_file*> first_raw; // raw comm, for the kernel maps
    for (const auto& f : fds) {
        owners[f.sk].push_back(decode_process(f.tgid, f.comm, f.fd));
        // Under -p the seeded owner must be the target's fd: the kernel map
        // holds one owner, and the filter decides on it.
        auto [it, added] = first_raw.emplace(f.sk, &f);
        if (!added && o.pid && f.tgid == o.pid && it->second->tgid != o.pid)
            it->second = &f;
    }
    auto is_target = [&](const std::vector<ProcessRef>& list) {
        return !o.pid ||
               std::any_of(list.begin(), list.end(), [&](const ProcessRef& p) { return p.pid == o.pid; });
    };

    // Under -p, queued sockets count only on the target's listeners.
    std::set<std::pair<std::uint32_t, std::uint16_t>> target_listen_ports;
    for (const auto& s : socks) {
        auto it = owners.find(s.sk);
        if (s.state == CWT_TCP_LISTEN && it != owners.end() && is_target(it->second))
            target_listen_ports.emplace(s.netns, s.tuple.sport);
    }
    for (const auto& s : socks) {
        auto it = owners.find(s.sk);
        bool owned = it != owners.end();
        if (owned && !is_target(it->second))
            continue;
        if (o.pid && !s.has_socket && !target_listen_ports.count({s.netns, s.tuple.sport}))
            continue;
        bool target_owned = owned;
        if (s.state != CWT_TCP_CLOSE_WAIT) {
            // Remember owners of live sockets: when one later enters
            // CLOSE_WAIT, the kernel already knows who holds it.
            if (target_owned && s.state == CWT_TCP_ESTABLISHED) {
                const cwt_iter_file* raw = first_raw[s.sk];
                cwt_owner ow{};
                ow.tgid = raw->tgid;
                ow.fd = raw->fd;
                ow.listen_fd = -1;
                std::memcpy(ow.comm, raw->comm, sizeof(ow.comm));
                inv.seed_owner(s.sk, ow);
                seeded_owner.push_back(s.sk);
            }
            continue;
        }
        cwt_cw_entry e{};
        e.enter_ns = 0;
        e.netns = s.netns;
        e.recv_q = s.recv_q;
        e.preexisting = 1;
        e.fin_by_ns = s.fin_by_ns;
        e.tuple = s.tuple;
        e.owner.fd = -1;
        e.owner.listen_fd = -1;
        if (!s.has_socket) {
            e.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
        } else if (target_owned) {
            e.owner_kind = CWT_OWNER_PROCESS;
            const cwt_iter_file* raw = first_raw[s.sk];
            e.owner.tgid = raw->tgid;
            e.owner.fd = raw->fd;
            std::memcpy(e.owner.comm, raw->comm, sizeof(e.owner.comm));
        } else {
            e.owner_kind = CWT_OWNER_UNKNOWN;
        }
        inv.seed_close_wait(s.sk, e);
        seeded_cw.push_back(s.sk);
        Enrichment en;
        en.recv_q = s.recv_q;
        if (target_owned)
            en.owners = it->second;
        pre.enrich.emplace(s.sk, std::move(en));
    }

    // A socket may have moved on between the walk and its seed; the probes
    // saw that transition before the seed existed. A second walk finds those
    // and removes their seeds, so every socket ends in its true state.
    std::unordered_map<SockId, std::uint8_t> now_state;
    for (const auto& s : inv.tcp_sockets(false))
        now_state.emplace(s.sk, s.state);
    for (SockId sk : seeded_cw) {
        auto it = now_state.find(sk);
        if (it == now_state.end() || it->second != CWT_TCP_CLOSE_WAIT) {
            inv.unseed_close_wait(sk);
            pre.enrich.erase(sk);
        }
    }
    for (SockId sk : seeded_owner)
        if (!now_state.count(sk))
            inv.unseed_owner(sk);
    pre.close_waits = pre.enrich.size();
    return pre;
}

class LiveLoop
{
  public:
    LiveLoop(const Options& o, BpfSession& session, Reporter& reporter, MonoNs started)
        : inv_(session), reporter_(reporter),
          tracker_(TrackerConfig{seconds_to_ns(o.threshold_s), o.verbose, o.pid, started}),
          scan_period_ns_(
              std::clamp<MonoNs>(seconds_to_ns(o.threshold_s / 10), 100 * kNsPerMs, 1000 * kNsPerMs)),
          accept_watch_(AcceptWatchConfig{kNsPerSec, seconds_to_ns(o.stall_s), o.pid, started})
    {
        ring_buffer* rb = ring_buffer__new(session.map_fd("events"), on_ring_record, &batch_, nullptr);
        if (!rb)
            throw UserError("cannot open the BPF ring buffer", "run with --debug and report it");
        rb_.reset(rb);
        session_map_fd_listeners_ = session.map_fd("listeners");
        listener_check_period_ns_ = std::max<MonoNs>(kNsPerSec, seconds_to_ns(o.stall_s / 2));
        last_overflows_ = listen_overflows().value_or(0);
        own_netns_ = own_netns();
    }

    void start(Preexisting pre)
    {
        refresh_listeners(mono_now_ns(), true);
        tracker_.on_scan(mono_now_ns(), inv_.scan_close_waits());
        preexisting_ = std::move(pre.enrich);
    }

    void run(MonoNs deadline)
    {
        MonoNs next_scan = 0;
        while (!g_stop) {
            MonoNs now = mono_now_ns();
            if (deadline && now >= deadline)
                break;
            drain(now);
            if (now >= next_scan) {
                scan(now);
                next_scan = now + scan_period_ns_;
            }
            // Listener queues: a walk of every TCP socket, so only every
            // stall/2 (1 s at least), or at once when the kernel counted an
            // overflow.
            std::uint64_t overflows = listen_overflows().value_or(0);
            if (now >= next_listener_check_ || overflows != last_overflows_) {
                check_listeners(now, overflows);
                last_overflows_ = overflows;
                next_listener_check_ = now + listener_check_period_ns_;
            }
            reporter_.flush();
            // Sleeps until the drain period passes, or until the kernel wakes
            // us because the ring is filling up (records are consumed then).
            ring_buffer__poll(rb_.get(), static_cast<int>(kDrainPeriodNs / kNsPerMs));
        }
        // Last records and a last scan, so the summary counts what is still open.
        drain(mono_now_ns());
        tracker_.on_scan(mono_now_ns(), inv_.scan_close_waits());
        reporter_.flush();
    }

    Summary summary()
    {
        Summary s = tracker_.summary(mono_now_ns());
        s.accept_errors = accept_watch_.error_summary();
        s.listen_overflows = accept_watch_.overflows_reported();
        return s;
    }

  private:
    void drain(MonoNs now)
    {
        // Records may already be in the batch: ring_buffer__poll consumes
        // them when the kernel wakes us.
        ring_buffer__consume(rb_.get());
        // A queued CLOSE_WAIT is reported with its listener's queue as it is
        // now: one listener walk per drain that has any (they are rare).
        bool any_queued = false, need_owners = false;
        for (const auto& ev : batch_.events)
            if (auto* se = std::get_if<SockEvent>(&ev))
                if (se->info.owner == OwnerKind::AcceptQueue) {
                    any_queued = true;
                    const ListenerInfo* l = tracker_.find_listener(se->info.netns, se->info.tuple.local);
                    need_owners |= !l || l->owners.empty();
                }
        if (need_owners)
            refresh_listeners(now, false);
        else if (any_queued)
            read_listeners(now); // findings are rare: at most once per drain
        Findings out;
        for (const auto& ev : batch_.events) {
            if (auto* se = std::get_if<SockEvent>(&ev))
                tracker_.on_event(*se, out);
        }
        batch_.events.clear();
        tracker_.on_lost(inv_.lost_total() + batch_.malformed, now, out);
        // The kernel aggregates accept failures; a small map, empty when healthy.
        auto errors = inv_.accept_errors();
        if (!errors.empty()) {
            // Name the listener of a new failure even if it appeared this instant.
            if (std::any_of(errors.begin(), errors.end(), [&](const AcceptErrorSample& e) {
                    return accept_watch_.changed(e) && !tracker_.listener_by_sk(e.listener_sk);
                }))
                refresh_listeners(now, true);
            accept_watch_.on_errors(
                now, errors, [&](std::uint32_t pid) { return inv_.fd_context(pid); },
                [&](SockId sk) { return tracker_.listener_by_sk(sk); }, out);
        }
        for (const auto& f : out)
            reporter_.finding(f);
    }

    // Queue depths of every listener, for overflow and stall findings. Owners
    // come from a cache; the fd-table walk runs only when a listener is new.
    void check_listeners(MonoNs now, std::uint64_t overflows)
    {
        std::vector<ListenerInfo> ls = read_listeners(now);
        Findings out;
        accept_watch_.on_listeners(
            now, ls, overflows, [&](const ListenerInfo& l) { return tracker_.queued_close_waits(l); }, out);
        for (const auto& f : out)
            reporter_.finding(f);
    }

    std::vector<ListenerInfo> read_listeners(MonoNs now)
    {
        inv_.set_wanted({});
        std::vector<ListenerInfo> ls;
        bool need_owners = false;
        int lfd = session_map_fd_listeners_;
        for (const auto& rec : inv_.tcp_sockets(true)) {
            if (rec.state != CWT_TCP_LISTEN)
                continue;
            ListenerInfo l = decode_listener(rec);
            auto c = owner_cache_.find(rec.sk);
            if (c != owner_cache_.end())
                l.owners = c->second;
            else
                need_owners = true; // a listener we have not seen: who owns it?
            cwt_listener_entry le{};
            if (bpf_map_lookup_elem(lfd, &l.sk, &le) == 0)
                l.last_accept_ns = le.last_accept_ns;
            ls.push_back(std::move(l));
        }
        if (need_owners) {
            auto r = inv_.refresh({});
            for (const auto& l : r.listeners)
                owner_cache_[l.sk] = l.owners;
            for (auto& l : ls)
                l.owners = owner_cache_[l.sk];
        }
        tracker_.update_listeners(ls, inv_.queued_on());
        last_listener_refresh_ = now;
        return ls;
    }

    void refresh_listeners(MonoNs now, bool force)
    {
        if (!force && now - last_listener_refresh_ < 200 * kNsPerMs)
            return;
        auto r = inv_.refresh({});
        for (const auto& l : r.listeners)
            owner_cache_[l.sk] = l.owners;
        tracker_.update_listeners(std::move(r.listeners), std::move(r.queued_on));
        last_listener_refresh_ = now;
    }

    void scan(MonoNs now)
    {
        tracker_.on_scan(now, inv_.scan_close_waits());
        auto due = tracker_.due_for_leak_report(now);
        if (due.empty())
            return;
        // Only now, for the few sockets past the threshold, ask the kernel who
        // holds them and what they hold unread: healthy traffic costs nothing.
        // The iterators' `wanted` map is bounded; the rest wait for the next scan.
        constexpr std::size_t kMaxPerScan = 60000;
        if (due.size() > kMaxPerScan)
            due.resize(kMaxPerScan);
        std::vector<SockId> unresolved;
        for (SockId sk : due)
            if (!preexisting_.count(sk))
                unresolved.push_back(sk);
        Inventory::Refresh r;
        if (!unresolved.empty()) {
            r = inv_.refresh(unresolved);
            tracker_.update_listeners(r.listeners, r.queued_on);
            last_listener_refresh_ = now;
        }
        Findings out;
        for (SockId sk : due) {
            Enrichment e;
            auto pre = preexisting_.find(sk);
            if (pre != preexisting_.end()) {
                e = std::move(pre->second);
                preexisting_.erase(pre);
            } else {
                auto s = r.socks.find(sk);
                auto ow = r.owners.find(sk);
                if (s != r.socks.end() && s->second.state == CWT_TCP_CLOSE_WAIT) {
                    e.recv_q = s->second.recv_q;
                    if (ow != r.owners.end())
                        e.owners = ow->second;
                } else if (s == r.socks.end() && tracker_.netns_of(sk) != own_netns_) {
                    // iter/tcp sees only our own netns (a container's sockets
                    // are invisible to it); fd tables are global, so the owner
                    // is still known. It is gone when its close arrives.
                    if (ow != r.owners.end())
                        e.owners = ow->second;
                } else {
                    e.gone = true;
                }
            }
            tracker_.report_leak(sk, e, now, out);
        }
        for (const auto& f : out)
            reporter_.finding(f);
    }

    Inventory inv_;
    Reporter& reporter_;
    Tracker tracker_;
    MonoNs scan_period_ns_;
    DrainBatch batch_;
    std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
    MonoNs last_listener_refresh_ = 0;
    std::unordered_map<SockId, Enrichment> preexisting_;
    AcceptWatch accept_watch_;
    MonoNs listener_check_period_ns_ = kNsPerSec;
    MonoNs next_listener_check_ = 0;
    std::uint64_t last_overflows_ = 0;
    std::uint32_t own_netns_ = 0;
    std::unordered_map<SockId, std::vector<ProcessRef>> owner_cache_;
    int session_map_fd_listeners_ = -1;
};

// Every output the options ask for, behind one fan-out reporter.
std::unique_ptr<Reporter> make_reporter(const Options& o, const WallClock& clock)
{
    auto fanout = std::make_unique<FanoutReporter>();
    if (o.json)
        fanout->add(make_json_reporter(stdout, clock));
    else
        fanout->add(make_human_reporter(stdout, stderr, clock));
    return fanout;
}

} // namespace

int run_live(const Options& o)
{
    install_signals();
    WallClock clock;
    MonoNs started = mono_now_ns();
    // Attach first, then take the inventory: a socket that changes state in
    // between is seen by the probes, and the maps merge both by socket.
    BpfSession session(loader_options(o, true));
    // From here the probes see every transition: a socket already in
    // CLOSE_WAIT now has been so at least since then (its age bound).
    MonoNs attached = mono_now_ns();
    Inventory inv(session);
    Preexisting pre = take_inventory(inv, o);

    auto reporter = make_reporter(o, clock);
    StartInfo info;
    info.tier = tier_name(session.tier());
    info.tier_reason = session.tier_reason();
    info.kernel = kernel_release();
    info.filter_pid = o.pid;
    info.filter_port = o.port;
    info.threshold_s = o.threshold_s;
    info.verbose = o.verbose;
    info.preexisting_close_waits = pre.close_waits;
    reporter->start(info);

    LiveLoop loop(o, session, *reporter, attached);
    loop.start(std::move(pre));
    MonoNs deadline = o.duration_s > 0 ? started + seconds_to_ns(o.duration_s) : 0;
    loop.run(deadline);
    reporter->summary(loop.summary(), ns_to_seconds(mono_now_ns() - started));
    reporter->flush();
    return 0;
}

namespace
{

struct AuditResult {
    Snapshot snap;
    std::string inventory;
};

// The audit through BPF iterators: every count comes from the kernel walk.
AuditResult audit_with_iterators(const Options& o, const std::function<void(const char*)>& phase)
{
    BpfSession session(loader_options(o, false));
    phase("load");
    Inventory inv(session);
    MonoNs now = mono_now_ns();
    // Every process's fds, even under -p: a socket held by another process
    // must not look like one that no process holds.
    Inventory::AuditWalk walk = inv.audit_walk();
    phase("walk");
    if (o.debug && walk.full_fd_walk)
        std::fprintf(stderr, "closewait-trace: debug: socket mark map full, walked every socket fd\n");
    AuditResult r{classify_snapshot(walk.socks, std::move(walk.files), walk.queued_on, o.pid, now),
                  "iterators"};
    phase("classify");
    for (auto& p : r.snap.processes) {
        if (auto c = inv.audit_fd_count(p.pid)) {
            p.open_fds = c->open_fds;
            p.nofile_soft = c->nofile_soft;
            p.nofile_hard = c->nofile_hard;
        }
    }
    return r;
}

AuditResult audit_with_sock_diag(const Options& o, const std::function<void(const char*)>& phase)
{
    MonoNs now = mono_now_ns();
    DiagWalk walk = diag_audit_walk(o.port);
    phase("walk");
    AuditResult r{classify_snapshot(walk.socks, std::move(walk.files), {}, o.pid, now), "sock_diag"};
    phase("classify");
    return r;
}

} // namespace

int run_snapshot(const Options& o)
{
    WallClock clock;
    MonoNs t0 = mono_now_ns();
    auto phase = [&](const char* what) {
        if (o.debug)
            std::fprintf(stderr, "closewait-trace: debug: %-10s %7.1f ms\n", what,
                         static_cast<double>(mono_now_ns() - t0) / static_cast<double>(kNsPerMs));
    };
    AuditResult r;
    if (o.inventory == "sock_diag") {
        if (geteuid() != 0)
            throw UserError("the sock_diag inventory reads every process's /proc/PID/fd",
                            "run as root (sudo closewait-trace --snapshot)");
        r = audit_with_sock_diag(o, phase);
    } else if (!has_bpf_privileges()) {
        r = audit_with_iterators(o, phase); // fails with the privilege error: no fallback for that
    } else {
        try {
            r = audit_with_iterators(o, phase);
        } catch (const UserError& e) {
            if (o.inventory == "iterators" || geteuid() != 0)
                throw; // without root, /proc/PID/fd of other users is unreadable: no silent half-audit
            // No BTF, or a kernel without iterators: the audit still works.
            std::fprintf(
                stderr,
                "closewait-trace: BPF iterators unavailable (%s); inventory from sock_diag and /proc instead "
                "(slower, and sockets and fds are read in two passes)\n",
                e.what());
            r = audit_with_sock_diag(o, phase);
        }
    }
    Snapshot& snap = r.snap;
    snap.summary.inventory = r.inventory;
    for (auto& p : snap.processes) {
        if (!p.open_fds) // a process the kernel walk missed (it started meanwhile), or no iterators
            p.open_fds = count_open_fds(p.pid);
        if (!p.nofile_soft) {
            if (auto lim = nofile_limit(p.pid)) {
                p.nofile_soft = lim->soft;
                p.nofile_hard = lim->hard;
            }
        }
    }
    phase("procfs");
    print_snapshot(snap, o.json, stdout, clock, snap.ts_ns);
    std::fflush(stdout);
    phase("print");
    return snap.has_findings() ? 1 : 0;
}

int run_features(const Options& o)
{
    BpfSession session(loader_options(o, true));
    std::printf("tier: %s (%s)\nkernel: %s\n", tier_name(session.tier()), session.tier_reason().c_str(),
                kernel_release().c_str());
    for (const auto& p : session.probes())
        std::printf("  %-20s %-45s %s\n", p.hook.c_str(), p.choice.c_str(), p.why.c_str());
    return 0;
}

} // namespace cwt
