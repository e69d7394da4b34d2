// --snapshot: the one-shot audit, through BPF iterators or, where they are
// unavailable, sock_diag and /proc.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>

#include "app/commands.hpp"
#include "app/run_control.hpp"
#include "app/scope.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/units.hpp"
#include "core/snapshot.hpp"
#include "kernel/caps.hpp"
#include "kernel/diag_inventory.hpp"
#include "kernel/fd_budget.hpp"
#include "kernel/inventory.hpp"
#include "kernel/loader.hpp"
#include "kernel/procfs.hpp"
#include "report/snapshot_report.hpp"

namespace cwt
{

namespace
{

struct AuditResult {
    Snapshot snap;
    std::string inventory;
};

// The audit through BPF iterators: every count comes from the kernel walk.
AuditResult audit_with_iterators(const Options& o, Scope& scope,
                                 const std::function<void(const char*)>& phase)
{
    BpfSession session(loader_options(o, false));
    phase("load");
    Inventory inv(session, &scope.netns(), o.filter);
    MonoNs now = mono_now_ns();
    // Every process's fds, even under -p: a socket held by another process
    // must not look like one that no process holds.
    Inventory::AuditWalk walk = inv.audit_walk();
    phase("walk");
    log_debug(fmt::format("{} network namespaces, {} of them from the fd walk alone", scope.netns().size(),
                          inv.netns_from_fds()));
    if (walk.full_fd_walk)
        log_debug("socket mark map full, walked every socket fd");
    AuditResult r{
        classify_snapshot(walk.socks, std::move(walk.files), walk.queued_on, scope.target(), now),
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

AuditResult audit_with_sock_diag(const Options& o, Scope& scope,
                                 const std::function<void(const char*)>& phase)
{
    MonoNs now = mono_now_ns();
    DiagWalk walk = diag_audit_walk(o.filter, &scope.netns());
    phase("walk");
    AuditResult r{classify_snapshot(walk.socks, std::move(walk.files), {}, scope.target(), now), "sock_diag"};
    phase("classify");
    return r;
}

} // namespace

int run_snapshot(const Options& o)
{
    WallClock clock;
    MonoNs t0 = mono_now_ns();
    auto phase = [&](const char* what) {
        if (log_enabled(LogLevel::Debug))
            log_debug(fmt::format("{:<10} {:7.1f} ms", what,
                                  static_cast<double>(mono_now_ns() - t0) / static_cast<double>(kNsPerMs)));
    };
    // Every network namespace (or the --netns one), entered one by one.
    Scope scope(o);
    phase("netns");
    AuditResult r;
    if (o.inventory == "sock_diag") {
        if (geteuid() != 0)
            throw UserError("the sock_diag inventory reads every process's /proc/PID/fd",
                            "run as root (sudo closewait-trace --snapshot)");
        r = audit_with_sock_diag(o, scope, phase);
    } else if (!missing_required_capabilities().empty()) {
        r = audit_with_iterators(o, scope, phase); // fails with the privilege error: no fallback for that
    } else {
        try {
            r = audit_with_iterators(o, scope, phase);
        } catch (const FdShortage&) {
            throw; // not a missing kernel feature: sock_diag would need fds too
        } catch (const UserError& e) {
            if (o.inventory == "iterators" || geteuid() != 0)
                throw; // without root, /proc/PID/fd of other users is unreadable: no silent half-audit
            // No BTF, or a kernel without iterators: the audit still works.
            log_warning(
                std::string("BPF iterators unavailable (") + e.what() +
                "); inventory from sock_diag and /proc instead (slower, and sockets and fds are read in "
                "two passes)");
            r = audit_with_sock_diag(o, scope, phase);
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
    annotate(snap, scope.meta_fn());
    snap.summary.netns = scope.netns().size();
    snap.summary.netns_skipped = scope.netns().skipped();
    phase("procfs");
    print_snapshot(snap, o.json, stdout, clock, snap.ts_ns, human_style(o, t0));
    if (int rc = stdout_status())
        return rc; // a closed pipe: quietly
    phase("print");
    if (snap.summary.netns_skipped)
        log_warning(fmt::format("{} network namespaces could not be entered (gone, or setns refused); the "
                                "audit does not cover them",
                                snap.summary.netns_skipped));
    // Findings in any namespace: 1. Nothing found, but a namespace was not
    // walked: 3, never a false "clean".
    if (snap.has_findings())
        return 1;
    return snap.summary.netns_skipped ? 3 : 0;
}

} // namespace cwt
