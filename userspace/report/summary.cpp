#include "report/summary.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "core/accept_watch.hpp"
#include "core/site_tally.hpp"
#include "report/human.hpp"
#include "report/json.hpp"

namespace cwt
{

std::string accept_error_sentence(const AcceptErrorSummary& e)
{
    std::ostringstream o;
    o << "pid " << e.totals.pid << " (" << e.totals.comm << "): ";
    bool any = false;
    if (e.totals.emfile) {
        o << e.totals.emfile << " EMFILE";
        any = true;
    }
    if (e.totals.enfile)
        o << (any ? ", " : "") << e.totals.enfile << " ENFILE";
    o << " on " << syscall_name(e.totals.syscall_nr);
    if (e.listener)
        o << " of " << format_endpoint(*e.listener);
    if (e.totals.shed)
        o << ", " << e.totals.shed << " connections shed (accepted and closed at once)";
    if (e.fds.open_fds) {
        o << "; " << e.fds.close_wait_fds << " of its " << *e.fds.open_fds
          << " open fds are sockets in CLOSE_WAIT (" << e.fds.socket_fds << " sockets";
        if (e.fds.nofile_soft)
            o << ", limit " << *e.fds.nofile_soft;
        o << ")";
    }
    return o.str();
}

nlohmann::ordered_json summary_json(const Summary& s, const WallClock& clock, double elapsed_s)
{
    nlohmann::ordered_json procs = nlohmann::ordered_json::array();
    for (const auto& p : s.processes) {
        nlohmann::ordered_json j = {{"pid", p.process.pid}, {"comm", p.process.comm}};
        put_nspid(j, &p.process);
        put_container(j, p.process.meta.get());
        j["close_wait"] = p.open_close_waits;
        j["oldest_age_s"] = p.oldest_age_s;
        j["oldest_predates_start"] = p.oldest_predates_start;
        j["fds"] = p.fds;
        // --leak-site: the leaks reported for it and its most common site.
        if (p.leaks) {
            j["leaks"] = p.leaks;
            if (!p.site.empty()) {
                j["site"] = p.site;
                j["site_leaks"] = p.site_leaks;
            }
        }
        procs.push_back(std::move(j));
    }
    nlohmann::ordered_json lsn = nlohmann::ordered_json::array();
    for (const auto& l : s.listeners) {
        nlohmann::ordered_json j = listener_json(l.listener);
        j["netns"] = l.netns;
        j["queued_close_wait"] = l.queued_close_waits;
        j["oldest_age_s"] = l.oldest_age_s;
        j["oldest_predates_start"] = l.oldest_predates_start;
        lsn.push_back(std::move(j));
    }
    nlohmann::ordered_json errs = nlohmann::ordered_json::array();
    for (const auto& e : s.accept_errors) {
        auto opt = [](const auto& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
        errs.push_back({{"pid", e.totals.pid},
                        {"comm", e.totals.comm},
                        {"fd", e.totals.listen_fd},
                        {"listener", e.listener ? nlohmann::ordered_json(format_endpoint(*e.listener))
                                                : nlohmann::ordered_json()},
                        {"syscall", syscall_name(e.totals.syscall_nr)},
                        {"emfile", e.totals.emfile},
                        {"enfile", e.totals.enfile},
                        {"shed", e.totals.shed},
                        {"open_fds", opt(e.fds.open_fds)},
                        {"socket_fds", e.fds.socket_fds},
                        {"close_wait_fds", e.fds.close_wait_fds},
                        {"nofile_soft", opt(e.fds.nofile_soft)},
                        {"text", accept_error_sentence(e)}});
    }
    nlohmann::ordered_json j = {{"type", "summary"},
                                {"ts", clock.rfc3339(s.ts_ns)},
                                {"elapsed_s", elapsed_s},
                                {"open_close_wait", s.open_close_waits},
                                {"unknown_owner", s.unknown_owner},
                                {"leaks_reported", s.leaks_reported},
                                {"lost_events", s.lost_events},
                                {"listen_overflows", s.listen_overflows},
                                {"processes", procs},
                                {"listeners", lsn},
                                {"accept_errors", errs}};
    if (!s.sites.empty()) {
        nlohmann::ordered_json sites = nlohmann::ordered_json::array();
        for (const auto& x : s.sites)
            sites.push_back({{"label", x.label},
                             {"kind", x.kind},
                             {"function", x.function},
                             {"file", x.file},
                             {"line", x.line},
                             {"interpreted", x.interpreted},
                             {"leaks", x.leaks},
                             {"of", x.of}});
        j["sites"] = std::move(sites);
    }
    if (!s.inventory.empty())
        j["inventory"] = s.inventory;
    if (s.netns) {
        j["netns"] = s.netns;
        j["netns_skipped"] = s.netns_skipped;
        j["netns_vanished"] = s.netns_vanished;
    }
    return j;
}

namespace
{

// CLOSE_WAITs grouped by the container of their process; printed only when
// some process is in one.
void print_by_container(std::FILE* out, const Summary& s)
{
    struct Group {
        std::string runtime;
        std::size_t close_waits = 0;
        std::string pids;
    };
    std::map<std::string, Group> groups; // short id ("" = host) -> group
    bool any = false;
    for (const auto& p : s.processes) {
        const ProcessMeta* m = p.process.meta.get();
        std::string id = m && m->container ? short_container_id(m->container->id) : "";
        any |= !id.empty();
        Group& g = groups[id];
        if (m && m->container)
            g.runtime = m->container->runtime;
        g.close_waits += p.open_close_waits;
        g.pids += (g.pids.empty() ? "" : ",") + std::to_string(p.process.pid);
    }
    if (!any)
        return;
    fmt::print(out, "{:<12} {:<10} {:>10} {}\n", "CONTAINER", "RUNTIME", "CLOSE_WAIT", "PIDS");
    for (const auto& [id, g] : groups)
        fmt::print(out, "{:<12} {:<10} {:>10} {}\n", id.empty() ? "(host)" : id,
                   g.runtime.empty() ? "-" : g.runtime, g.close_waits, fit(g.pids, 40));
}

} // namespace

void print_human_summary(std::FILE* out, const Summary& s, double elapsed_s, bool wide)
{
    fmt::print(out, "--- summary after {}: {} open CLOSE_WAIT, {} leaks reported, {} lost events ---\n",
               format_age(elapsed_s), s.open_close_waits, s.leaks_reported, s.lost_events);
    if (!s.processes.empty()) {
        // Totals, not fd lists: at 8789 leaks a list says nothing.
        fmt::print(out, "{:>7} {:<15} {:<12} {:>10} {:>8}\n", "PID", "COMM", "CONTAINER", "CLOSE_WAIT",
                   "OLDEST");
        for (const auto& p : s.processes) {
            const ProcessMeta* m = p.process.meta.get();
            std::string ctr = m && m->container ? short_container_id(m->container->id) : p.container;
            std::string age = (p.oldest_predates_start ? ">" : "") + format_age(p.oldest_age_s);
            fmt::print(out, "{:>7} {:<15} {:<12} {:>10} {:>8}\n", p.process.pid,
                       cut(p.process.comm, 15, wide), ctr.empty() ? "-" : ctr, p.open_close_waits, age);
        }
    }
    print_by_container(out, s);
    if (!s.listeners.empty()) {
        fmt::print(out, "{:<27} {:<24} {:>9} {:>13} {:>8}\n", "LISTENER", "OWNER", "QUEUED_CW",
                   "QUEUE/BACKLOG", "OLDEST");
        for (const auto& l : s.listeners) {
            std::string owner =
                l.listener.owner
                    ? fmt::format("{}[{}]", cut(l.listener.owner->comm, 15, wide), l.listener.owner->pid)
                    : "-";
            std::string q = l.listener.queue && l.listener.backlog
                                ? fmt::format("{}/{}", *l.listener.queue, *l.listener.backlog)
                                : "-";
            std::string age = (l.oldest_predates_start ? ">" : "") + format_age(l.oldest_age_s);
            std::string local = format_endpoint(l.listener.local);
            fmt::print(out, "{:<27} {:<24} {:>9} {:>13} {:>8}\n", wide ? local : fit_endpoint(local, 27),
                       owner, l.queued_close_waits, q, age);
        }
    }
    for (const auto& site : s.sites)
        fmt::print(out, "{}\n", cut("leak site: " + site_sentence(site), kMaxLineWidth, wide));
    if (s.unknown_owner)
        fmt::print(out, "{} CLOSE_WAIT sockets with an owner not yet resolved\n", s.unknown_owner);
    for (const auto& e : s.accept_errors)
        fmt::print(out, "{}\n", cut(accept_error_sentence(e), kMaxLineWidth, wide));
    if (s.listen_overflows)
        fmt::print(out, "{} connections dropped on full accept queues\n", s.listen_overflows);
    if (s.netns_skipped || s.netns_vanished)
        fmt::print(out, "namespaces skipped: {} (could not be entered), {} (vanished)\n", s.netns_skipped,
                   s.netns_vanished);
}

} // namespace cwt
