#include "report/snapshot_report.hpp"

#include <cstdio>

#include "report/human.hpp"
#include "report/json.hpp"
#include "report/summary.hpp"

namespace cwt
{

nlohmann::ordered_json listener_row_json(const SnapshotListener& l, const WallClock& clock, MonoNs now)
{
    const ProcessRef* owner = l.info.owners.empty() ? nullptr : &l.info.owners.front();
    nlohmann::ordered_json j = {
        {"type", "listener"},
        {"ts", clock.rfc3339(now)},
        {"local", format_endpoint(l.info.local)},
        {"pid", owner ? nlohmann::ordered_json(owner->pid) : nlohmann::ordered_json()},
        {"comm", owner ? nlohmann::ordered_json(owner->comm) : nlohmann::ordered_json()},
        {"fd", owner ? nlohmann::ordered_json(owner->fd) : nlohmann::ordered_json()},
        {"netns", l.info.netns},
        {"queue", l.info.queue},
        {"backlog", l.info.backlog},
        {"queued_close_wait", l.queued_close_wait},
        {"queued_established", l.queued_established}};
    if (l.info.owners.size() > 1) {
        nlohmann::ordered_json all = nlohmann::ordered_json::array();
        for (const auto& p : l.info.owners)
            all.push_back(process_json(p));
        j["owners"] = all;
    }
    return j;
}

nlohmann::ordered_json process_row_json(const SnapshotProcess& p, const WallClock& clock, MonoNs now)
{
    auto opt = [](const auto& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
    return {{"type", "process"},
            {"ts", clock.rfc3339(now)},
            {"pid", p.pid},
            {"comm", p.comm},
            {"close_wait", p.close_wait},
            {"fds", p.fds},
            {"open_fds", opt(p.open_fds)},
            {"nofile_soft", opt(p.nofile_soft)},
            {"nofile_hard", opt(p.nofile_hard)}};
}

void print_snapshot(const Snapshot& snap, bool json, std::FILE* out, const WallClock& clock, MonoNs now)
{
    if (json) {
        auto emit = [&](const nlohmann::ordered_json& j) {
            std::fprintf(out, "%s\n",
                         j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
        };
        for (const auto& cw : snap.close_waits)
            emit(finding_json(snap.finding(cw), clock));
        for (const auto& l : snap.listeners)
            emit(listener_row_json(l, clock, now));
        for (const auto& p : snap.processes)
            emit(process_row_json(p, clock, now));
        emit(summary_json(snap.summary, clock, 0.0));
        return;
    }
    std::fprintf(out, "CLOSE_WAIT sockets: %zu\n", snap.close_waits.size());
    if (!snap.close_waits.empty()) {
        std::fprintf(out, "%s\n", human_header().c_str());
        for (const auto& cw : snap.close_waits)
            std::fprintf(out, "%s\n", human_line(snap.finding(cw), clock).c_str());
    }
    std::fprintf(out, "\nListeners: %zu\n", snap.listeners.size());
    if (!snap.listeners.empty()) {
        std::fprintf(out, "%-27s %-24s %5s %7s %9s %9s\n", "LISTENER", "OWNER", "QUEUE", "BACKLOG",
                     "QUEUED_CW", "QUEUED_EST");
        for (const auto& l : snap.listeners) {
            std::string owner = l.info.owners.empty() ? "-"
                                                      : fit(l.info.owners.front().comm, 15) + "[" +
                                                            std::to_string(l.info.owners.front().pid) + "]";
            std::fprintf(out, "%-27s %-24s %5u %7u %9zu %9zu\n", format_endpoint(l.info.local).c_str(),
                         owner.c_str(), l.info.queue, l.info.backlog, l.queued_close_wait,
                         l.queued_established);
        }
    }
    if (!snap.processes.empty()) {
        std::fprintf(out, "\nProcesses holding CLOSE_WAIT sockets:\n%7s %-15s %10s %8s %15s\n", "PID", "COMM",
                     "CLOSE_WAIT", "OPEN_FDS", "NOFILE");
        for (const auto& p : snap.processes) {
            std::string open = p.open_fds ? std::to_string(*p.open_fds) : "?";
            std::string lim =
                p.nofile_soft ? std::to_string(*p.nofile_soft) + "/" + std::to_string(*p.nofile_hard) : "?";
            std::fprintf(out, "%7u %-15s %10zu %8s %15s\n", p.pid, fit(p.comm, 15).c_str(), p.close_wait,
                         open.c_str(), lim.c_str());
        }
    }
}

} // namespace cwt
