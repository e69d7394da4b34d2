#include "report/summary.hpp"

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
        procs.push_back({{"pid", p.process.pid},
                         {"comm", p.process.comm},
                         {"container", p.container},
                         {"close_wait", p.open_close_waits},
                         {"oldest_age_s", p.oldest_age_s},
                         {"oldest_predates_start", p.oldest_predates_start},
                         {"fds", p.fds}});
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
    return j;
}

void print_human_summary(std::FILE* out, const Summary& s, double elapsed_s)
{
    std::fprintf(
        out, "--- summary after %s: %zu open CLOSE_WAIT, %llu leaks reported, %llu lost events ---\n",
        format_age(elapsed_s).c_str(), s.open_close_waits, static_cast<unsigned long long>(s.leaks_reported),
        static_cast<unsigned long long>(s.lost_events));
    if (!s.processes.empty()) {
        // Totals, not fd lists: at 8789 leaks a list says nothing.
        std::fprintf(out, "%7s %-15s %-12s %10s %8s\n", "PID", "COMM", "CONTAINER", "CLOSE_WAIT", "OLDEST");
        std::map<std::string, std::pair<std::size_t, std::size_t>> containers; // -> (processes, close waits)
        for (const auto& p : s.processes) {
            std::string age = (p.oldest_predates_start ? ">" : "") + format_age(p.oldest_age_s);
            std::fprintf(out, "%7u %-15s %-12s %10zu %8s\n", p.process.pid, fit(p.process.comm, 15).c_str(),
                         p.container.empty() ? "-" : fit(p.container, 12).c_str(), p.open_close_waits,
                         age.c_str());
            auto& c = containers[p.container];
            ++c.first;
            c.second += p.open_close_waits;
        }
        if (containers.size() > 1 || !containers.begin()->first.empty())
            for (const auto& [id, c] : containers)
                std::fprintf(out, "container %s: %zu CLOSE_WAIT in %zu processes\n",
                             id.empty() ? "(host)" : id.c_str(), c.second, c.first);
    }
    if (!s.listeners.empty()) {
        std::fprintf(out, "%-27s %-24s %9s %13s %8s\n", "LISTENER", "OWNER", "QUEUED_CW", "QUEUE/BACKLOG",
                     "OLDEST");
        for (const auto& l : s.listeners) {
            std::string owner = l.listener.owner ? fit(l.listener.owner->comm, 15) + "[" +
                                                       std::to_string(l.listener.owner->pid) + "]"
                                                 : "-";
            std::string q = l.listener.queue && l.listener.backlog ? std::to_string(*l.listener.queue) + "/" +
                                                                         std::to_string(*l.listener.backlog)
                                                                   : "-";
            std::string age = (l.oldest_predates_start ? ">" : "") + format_age(l.oldest_age_s);
            std::fprintf(out, "%-27s %-24s %9zu %13s %8s\n", format_endpoint(l.listener.local).c_str(),
                         owner.c_str(), l.queued_close_waits, q.c_str(), age.c_str());
        }
    }
    for (const auto& site : s.sites)
        std::fprintf(out, "%s\n", fit("leak site: " + site_sentence(site), kMaxLineWidth).c_str());
    if (s.unknown_owner)
        std::fprintf(out, "%zu CLOSE_WAIT sockets with an owner not yet resolved\n", s.unknown_owner);
    for (const auto& e : s.accept_errors)
        std::fprintf(out, "%s\n", wrap(accept_error_sentence(e), kMaxLineWidth, 4).c_str());
    if (s.listen_overflows)
        std::fprintf(out, "%llu connections dropped on full accept queues\n",
                     static_cast<unsigned long long>(s.listen_overflows));
}

} // namespace cwt
