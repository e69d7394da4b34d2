#include "report/snapshot_report.hpp"

#include <fmt/format.h>

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
        {"nspid", nullptr},
        {"cgroup", nullptr},
        {"container", nullptr},
        {"netns", l.info.netns},
        {"queue", l.info.queue},
        {"backlog", l.info.backlog},
        {"queued_close_wait", l.queued_close_wait},
        {"queued_established", l.queued_established}};
    put_nspid(j, owner);
    put_container(j, owner ? owner->meta.get() : nullptr);
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
    nlohmann::ordered_json j = {{"type", "process"},
            {"ts", clock.rfc3339(now)},
            {"pid", p.pid},
            {"nspid", p.meta && p.meta->nspid ? nlohmann::ordered_json(p.meta->nspid) : nlohmann::ordered_json()},
            {"comm", p.comm},
            {"cgroup", nullptr},
            {"container", nullptr},
            {"close_wait", p.close_wait},
            {"fds", p.fds},
            {"open_fds", opt(p.open_fds)},
            {"nofile_soft", opt(p.nofile_soft)},
            {"nofile_hard", opt(p.nofile_hard)}};
    put_container(j, p.meta.get());
    return j;
}

void print_snapshot(const Snapshot& snap, bool json, std::FILE* out, const WallClock& clock, MonoNs now,
                    const HumanStyle& style)
{
    if (json) {
        auto emit = [&](const nlohmann::ordered_json& j) {
            fmt::print(out, "{}\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
        };
        for (const auto& cw : snap.close_waits)
        {
            std::string line = finding_json_line(snap.finding(cw), clock);
            line += '\n';
            std::fwrite(line.data(), 1, line.size(), out);
        }
        for (const auto& l : snap.listeners)
            emit(listener_row_json(l, clock, now));
        for (const auto& p : snap.processes)
            emit(process_row_json(p, clock, now));
        emit(summary_json(snap.summary, clock, 0.0));
        return;
    }
    const bool wide = style.wide;
    fmt::print(out, "CLOSE_WAIT sockets: {}\n", snap.close_waits.size());
    if (!snap.close_waits.empty()) {
        fmt::print(out, "{}\n", human_header(style));
        for (const auto& cw : snap.close_waits)
            fmt::print(out, "{}\n", human_line(snap.finding(cw), clock, style));
    }
    fmt::print(out, "\nListeners: {}\n", snap.listeners.size());
    if (!snap.listeners.empty()) {
        fmt::print(out, "{:<27} {:<24} {:>5} {:>7} {:>9} {:>9}\n", "LISTENER", "OWNER", "QUEUE", "BACKLOG",
                   "QUEUED_CW", "QUEUED_EST");
        for (const auto& l : snap.listeners) {
            const auto& owners = l.info.owners;
            std::string owner = owners.empty() ? "-"
                                               : fmt::format("{}[{}]", cut(owners.front().comm, 15, wide),
                                                             owners.front().pid);
            std::string local = format_endpoint(l.info.local);
            fmt::print(out, "{:<27} {:<24} {:>5} {:>7} {:>9} {:>9}\n", wide ? local : fit_endpoint(local, 27),
                       owner, l.info.queue, l.info.backlog, l.queued_close_wait, l.queued_established);
        }
    }
    if (!snap.processes.empty()) {
        fmt::print(out, "\nProcesses holding CLOSE_WAIT sockets:\n{:>7} {:<15} {:>10} {:>8} {:>15}\n", "PID",
                   "COMM", "CLOSE_WAIT", "OPEN_FDS", "NOFILE");
        for (const auto& p : snap.processes) {
            std::string open = p.open_fds ? std::to_string(*p.open_fds) : "?";
            std::string lim = p.nofile_soft ? fmt::format("{}/{}", *p.nofile_soft, *p.nofile_hard) : "?";
            fmt::print(out, "{:>7} {:<15} {:>10} {:>8} {:>15}\n", p.pid, cut(p.comm, 15, wide), p.close_wait,
                       open, lim);
        }
    }
}

} // namespace cwt
