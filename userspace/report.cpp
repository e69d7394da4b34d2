#include "report.hpp"

#include <cstdio>
#include <sstream>

#include "accept_watch.hpp"

namespace cwt
{

namespace
{

nlohmann::json process_json(const ProcessRef& p)
{
    return {{"pid", p.pid}, {"comm", p.comm}, {"fd", p.fd}};
}

nlohmann::json listener_json(const ListenerView& l)
{
    nlohmann::json j = {{"local", format_endpoint(l.local)}};
    j["pid"] = l.owner ? nlohmann::json(l.owner->pid) : nlohmann::json();
    j["comm"] = l.owner ? nlohmann::json(l.owner->comm) : nlohmann::json();
    j["fd"] = l.owner ? nlohmann::json(l.owner->fd) : nlohmann::json();
    if (l.queue)
        j["queue"] = *l.queue;
    if (l.backlog)
        j["backlog"] = *l.backlog;
    return j;
}

std::string hex(std::uint64_t v)
{
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

nlohmann::json finding_json(const Finding& f, const WallClock& clock)
{
    nlohmann::json j;
    j["type"] = finding_type_name(f.type);
    j["ts"] = clock.rfc3339(f.ts_ns);
    if (f.type == FindingType::Lost) {
        j["count"] = f.count;
        j["detail"] = f.detail;
        return j;
    }
    const ProcessRef* primary = f.processes.empty() ? nullptr : &f.processes.front();
    j["pid"] = primary ? nlohmann::json(primary->pid) : nlohmann::json();
    j["comm"] = primary ? nlohmann::json(primary->comm) : nlohmann::json();
    j["fd"] = primary ? nlohmann::json(primary->fd) : nlohmann::json();
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
    if (f.type == FindingType::AcceptError) {
        j["errno"] = f.errno_name;
        j["syscall"] = f.syscall;
        j["count"] = f.count;
        j["shed"] = f.shed;
        j["nofile_soft"] = opt(f.nofile_soft);
        j["nofile_hard"] = opt(f.nofile_hard);
        j["open_fds"] = opt(f.open_fds);
        j["socket_fds"] = opt(f.socket_fds);
        j["close_wait_fds"] = opt(f.close_wait_fds);
        j["listener"] = f.listener ? listener_json(*f.listener) : nlohmann::json();
        if (!f.detail.empty())
            j["detail"] = f.detail;
        return j;
    }
    if (f.type == FindingType::ListenOverflow || f.type == FindingType::AcceptStall) {
        j["listener"] = f.listener ? listener_json(*f.listener) : nlohmann::json();
        j["local"] = f.listener ? nlohmann::json(format_endpoint(f.listener->local)) : nlohmann::json();
        j["netns"] = f.netns;
        j["queue"] = f.listener ? opt(f.listener->queue) : nlohmann::json();
        j["backlog"] = f.listener ? opt(f.listener->backlog) : nlohmann::json();
        j["queued_close_wait"] = f.queued_close_wait;
        if (f.type == FindingType::ListenOverflow) {
            j["drops"] = f.count;
        } else {
            j["since_last_accept_s"] = opt(f.since_last_accept_s);
            if (f.min_age_s)
                j["min_stall_s"] = *f.min_age_s;
        }
        if (!f.detail.empty())
            j["detail"] = f.detail;
        return j;
    }
    j["owner"] = owner_kind_name(f.owner);
    if (f.processes.size() > 1) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& p : f.processes)
            all.push_back(process_json(p));
        j["owners"] = all;
    }
    j["local"] = format_endpoint(f.tuple.local);
    j["remote"] = format_endpoint(f.tuple.remote);
    j["listener"] = f.listener ? listener_json(*f.listener) : nlohmann::json();
    j["age_s"] = f.age_s ? nlohmann::json(*f.age_s) : nlohmann::json();
    if (f.min_age_s)
        j["min_age_s"] = *f.min_age_s;
    j["recv_q"] = f.recv_q ? nlohmann::json(*f.recv_q) : nlohmann::json();
    j["netns"] = f.netns;
    j["preexisting"] = f.preexisting;
    j["sk"] = hex(f.sk);
    if (f.type == FindingType::CloseWaitClosed) {
        j["was_leak"] = f.was_leak;
        j["closed_by"] = f.closed_by;
    }
    if (!f.detail.empty())
        j["detail"] = f.detail;
    return j;
}

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

nlohmann::json summary_json(const Summary& s, const WallClock& clock, double elapsed_s)
{
    nlohmann::json procs = nlohmann::json::array();
    for (const auto& p : s.processes) {
        procs.push_back({{"pid", p.process.pid},
                         {"comm", p.process.comm},
                         {"close_wait", p.open_close_waits},
                         {"oldest_age_s", p.oldest_age_s},
                         {"oldest_predates_start", p.oldest_predates_start},
                         {"fds", p.fds}});
    }
    nlohmann::json lsn = nlohmann::json::array();
    for (const auto& l : s.listeners) {
        nlohmann::json j = listener_json(l.listener);
        j["netns"] = l.netns;
        j["queued_close_wait"] = l.queued_close_waits;
        j["oldest_age_s"] = l.oldest_age_s;
        j["oldest_predates_start"] = l.oldest_predates_start;
        lsn.push_back(std::move(j));
    }
    nlohmann::json errs = nlohmann::json::array();
    for (const auto& e : s.accept_errors) {
        auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
        errs.push_back(
            {{"pid", e.totals.pid},
             {"comm", e.totals.comm},
             {"fd", e.totals.listen_fd},
             {"listener", e.listener ? nlohmann::json(format_endpoint(*e.listener)) : nlohmann::json()},
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
    nlohmann::json j = {{"type", "summary"},
                        {"ts", clock.rfc3339(s.ts_ns)},
                        {"accept_errors", errs},
                        {"listen_overflows", s.listen_overflows},
                        {"elapsed_s", elapsed_s},
                        {"open_close_wait", s.open_close_waits},
                        {"unknown_owner", s.unknown_owner},
                        {"leaks_reported", s.leaks_reported},
                        {"lost_events", s.lost_events},
                        {"processes", procs},
                        {"listeners", lsn}};
    if (!s.inventory.empty())
        j["inventory"] = s.inventory;
    return j;
}

nlohmann::json start_json(const StartInfo& s, const WallClock& clock, MonoNs now)
{
    nlohmann::json filters = {{"pid", s.filter_pid ? nlohmann::json(s.filter_pid) : nlohmann::json()},
                              {"port", s.filter_port ? nlohmann::json(s.filter_port) : nlohmann::json()},
                              {"threshold_s", s.threshold_s},
                              {"verbose", s.verbose}};
    return {{"type", "start"},
            {"ts", clock.rfc3339(now)},
            {"mode", s.mode},
            {"tier", s.tier},
            {"tier_reason", s.tier_reason},
            {"kernel", s.kernel},
            {"filters", filters},
            {"preexisting_close_wait", s.preexisting_close_waits}};
}

namespace
{

const char* short_event(FindingType t)
{
    switch (t) {
    case FindingType::CloseWait:
        return "CLOSEWAIT";
    case FindingType::CloseWaitLeak:
        return "LEAK";
    case FindingType::CloseWaitClosed:
        return "CLOSED";
    case FindingType::AcceptError:
        return "ACCEPTERR";
    case FindingType::Lost:
        return "LOST";
    case FindingType::ListenOverflow:
        return "OVERFLOW";
    case FindingType::AcceptStall:
        return "STALL";
    }
    return "?";
}

std::string fit(const std::string& s, std::size_t width)
{
    if (s.size() <= width)
        return s;
    return s.substr(0, width - 1) + "+";
}

// Breaks text at spaces so no line exceeds `width`; continuation lines indented.
std::string wrap(const std::string& text, std::size_t width, std::size_t indent)
{
    std::string out, line;
    std::istringstream words(text);
    std::string w;
    while (words >> w) {
        std::size_t limit = out.empty() ? width : width - indent;
        if (!line.empty() && line.size() + 1 + w.size() > limit) {
            out += (out.empty() ? "" : "\n" + std::string(indent, ' ')) + line;
            line.clear();
        }
        line += (line.empty() ? "" : " ") + w.substr(0, limit);
    }
    if (!line.empty())
        out += (out.empty() ? "" : "\n" + std::string(indent, ' ')) + line;
    return out;
}

std::string detail_of(const Finding& f)
{
    std::ostringstream d;
    auto sep = [&] {
        if (d.tellp() > 0)
            d << ' ';
    };
    if (f.type == FindingType::AcceptError) {
        d << f.errno_name << " " << f.syscall << " x" << f.count;
        if (f.shed)
            d << " shed " << f.shed;
        if (f.open_fds)
            d << " fds " << *f.open_fds << "/" << (f.nofile_soft ? std::to_string(*f.nofile_soft) : "?")
              << " cw " << f.close_wait_fds.value_or(0);
    } else if (f.type == FindingType::ListenOverflow || f.type == FindingType::AcceptStall) {
        if (f.listener && f.listener->queue && f.listener->backlog)
            d << "q=" << *f.listener->queue << "/" << *f.listener->backlog;
        if (f.type == FindingType::ListenOverflow)
            d << " drops " << f.count;
        if (f.queued_close_wait)
            d << " cw " << f.queued_close_wait;
        if (f.since_last_accept_s)
            d << " last accept " << format_age(*f.since_last_accept_s) << " ago";
        else if (f.min_age_s)
            d << " no accept for >" << format_age(*f.min_age_s);
    } else {
        if (f.owner == OwnerKind::AcceptQueue && f.listener) {
            d << "queued";
            if (f.listener->queue && f.listener->backlog)
                d << " q=" << *f.listener->queue << "/" << *f.listener->backlog;
            if (!(f.listener->local == f.tuple.local))
                d << " on " << format_endpoint(f.listener->local);
        } else if (f.listener && !(f.listener->local == f.tuple.local)) {
            // The usual case, listener address == local address, says nothing new.
            sep();
            d << "lsn " << format_endpoint(f.listener->local);
        } else if (f.listener) {
        } else if (f.owner != OwnerKind::Process) {
            d << owner_kind_name(f.owner);
        }
        if (f.recv_q && *f.recv_q) {
            sep();
            d << "rq=" << *f.recv_q;
        }
        if (f.preexisting) {
            sep();
            d << "preexisting";
        }
        if (f.type == FindingType::CloseWaitClosed) {
            sep();
            d << "by " << f.closed_by;
        }
        if (f.processes.size() > 1) {
            sep();
            d << "+" << (f.processes.size() - 1) << " more fds";
        }
    }
    if (!f.detail.empty()) {
        sep();
        d << f.detail;
    }
    return d.str();
}

} // namespace

std::string human_header()
{
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s %s", "TIME", "EVENT", "PID",
                  "COMM", "FD", "LOCAL", "REMOTE", "AGE", "DETAIL");
    return buf;
}

std::string human_line(const Finding& f, const WallClock& clock)
{
    char buf[512];
    if (f.type == FindingType::Lost) {
        std::snprintf(buf, sizeof(buf), "%-8s %-9s %llu events lost: %s", clock.hms(f.ts_ns).c_str(), "LOST",
                      static_cast<unsigned long long>(f.count), f.detail.c_str());
        return fit(buf, kMaxLineWidth);
    }
    // For queued sockets the process columns name the listener's owner.
    const ProcessRef* who = !f.processes.empty()                ? &f.processes.front()
                            : (f.listener && f.listener->owner) ? &*f.listener->owner
                                                                : nullptr;
    std::string pid = who ? std::to_string(who->pid) : "-";
    std::string comm = who ? fit(who->comm, 15) : "-";
    std::string fd =
        (!f.processes.empty() && f.processes.front().fd >= 0) ? std::to_string(f.processes.front().fd) : "-";
    bool listener_event = f.type == FindingType::AcceptError || f.type == FindingType::ListenOverflow ||
                          f.type == FindingType::AcceptStall;
    std::string local = listener_event ? (f.listener ? format_endpoint(f.listener->local) : "-")
                                       : format_endpoint(f.tuple.local);
    std::string remote = listener_event ? "-" : format_endpoint(f.tuple.remote);
    std::string age = f.age_s ? format_age(*f.age_s) : f.min_age_s ? ">" + format_age(*f.min_age_s) : "-";
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s", clock.hms(f.ts_ns).c_str(),
                  short_event(f.type), pid.c_str(), comm.c_str(), fd.c_str(), local.c_str(), remote.c_str(),
                  age.c_str());
    std::string line = buf;
    std::string detail = detail_of(f);
    if (line.size() > kMaxLineWidth) {
        // Long IPv6 endpoints: addresses go on a continuation line.
        std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s", clock.hms(f.ts_ns).c_str(),
                      short_event(f.type), pid.c_str(), comm.c_str(), fd.c_str(), "(below)", "(below)",
                      age.c_str());
        line = buf;
        detail = local + " -> " + remote + (detail.empty() ? "" : " " + detail);
    }
    if (detail.empty())
        return line;
    if (line.size() + 1 + detail.size() <= kMaxLineWidth)
        return line + " " + detail;
    // Wrap the detail onto indented continuation lines.
    std::string out = line;
    const std::size_t indent = 9, width = kMaxLineWidth - indent;
    for (std::size_t pos = 0; pos < detail.size(); pos += width)
        out += "\n" + std::string(indent, ' ') + detail.substr(pos, width);
    return out;
}

nlohmann::json listener_row_json(const SnapshotListener& l, const WallClock& clock, MonoNs now)
{
    const ProcessRef* owner = l.info.owners.empty() ? nullptr : &l.info.owners.front();
    nlohmann::json j = {{"type", "listener"},
                        {"ts", clock.rfc3339(now)},
                        {"local", format_endpoint(l.info.local)},
                        {"pid", owner ? nlohmann::json(owner->pid) : nlohmann::json()},
                        {"comm", owner ? nlohmann::json(owner->comm) : nlohmann::json()},
                        {"fd", owner ? nlohmann::json(owner->fd) : nlohmann::json()},
                        {"netns", l.info.netns},
                        {"queue", l.info.queue},
                        {"backlog", l.info.backlog},
                        {"queued_close_wait", l.queued_close_wait},
                        {"queued_established", l.queued_established}};
    if (l.info.owners.size() > 1) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& p : l.info.owners)
            all.push_back(process_json(p));
        j["owners"] = all;
    }
    return j;
}

nlohmann::json process_row_json(const SnapshotProcess& p, const WallClock& clock, MonoNs now)
{
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
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
        auto emit = [&](const nlohmann::json& j) {
            std::fprintf(out, "%s\n",
                         j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
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

namespace
{

class JsonReporter : public Reporter
{
  public:
    JsonReporter(std::FILE* out, WallClock clock) : out_(out), clock_(clock) {}
    void start(const StartInfo& s) override { emit(start_json(s, clock_, mono_now_ns())); }
    void finding(const Finding& f) override { emit(finding_json(f, clock_)); }
    void summary(const Summary& s, double elapsed_s) override { emit(summary_json(s, clock_, elapsed_s)); }
    void flush() override { std::fflush(out_); }

  private:
    void emit(const nlohmann::json& j)
    {
        // Names were escaped already; `replace` guards any other invalid UTF-8.
        std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::fprintf(out_, "%s\n", line.c_str());
    }
    std::FILE* out_;
    WallClock clock_;
};

class HumanReporter : public Reporter
{
  public:
    HumanReporter(std::FILE* out, std::FILE* err, WallClock clock) : out_(out), err_(err), clock_(clock) {}
    void start(const StartInfo& s) override
    {
        std::string filters;
        if (s.filter_pid)
            filters += " pid=" + std::to_string(s.filter_pid);
        if (s.filter_port)
            filters += " port=" + std::to_string(s.filter_port);
        std::fprintf(err_, "closewait-trace: %s, tier %s (%s), kernel %s, threshold %gs%s%s\n",
                     s.mode.c_str(), s.tier.c_str(), s.tier_reason.c_str(), s.kernel.c_str(), s.threshold_s,
                     filters.c_str(), s.verbose ? ", verbose" : "");
        std::fflush(err_);
        std::fprintf(out_, "%s\n", human_header().c_str());
    }
    void finding(const Finding& f) override { std::fprintf(out_, "%s\n", human_line(f, clock_).c_str()); }
    void summary(const Summary& s, double elapsed_s) override
    {
        std::fprintf(out_,
                     "--- summary after %s: %zu open CLOSE_WAIT, %llu leaks reported, %llu lost events ---\n",
                     format_age(elapsed_s).c_str(), s.open_close_waits,
                     static_cast<unsigned long long>(s.leaks_reported),
                     static_cast<unsigned long long>(s.lost_events));
        if (!s.processes.empty()) {
            std::fprintf(out_, "%7s %-15s %10s %8s %s\n", "PID", "COMM", "CLOSE_WAIT", "OLDEST", "FDS");
            for (const auto& p : s.processes) {
                std::string fds;
                std::size_t shown = 0;
                for (auto fd : p.fds) {
                    std::string next = (fds.empty() ? "" : ",") + std::to_string(fd);
                    if (fds.size() + next.size() > 60)
                        break;
                    fds += next;
                    ++shown;
                }
                if (shown < p.fds.size())
                    fds += " (+" + std::to_string(p.fds.size() - shown) + ")";
                std::string age = (p.oldest_predates_start ? ">" : "") + format_age(p.oldest_age_s);
                std::fprintf(out_, "%7u %-15s %10zu %8s %s\n", p.process.pid, fit(p.process.comm, 15).c_str(),
                             p.open_close_waits, age.c_str(), fds.c_str());
            }
        }
        if (!s.listeners.empty()) {
            std::fprintf(out_, "%-27s %-24s %9s %13s %8s\n", "LISTENER", "OWNER", "QUEUED_CW",
                         "QUEUE/BACKLOG", "OLDEST");
            for (const auto& l : s.listeners) {
                std::string owner = l.listener.owner ? fit(l.listener.owner->comm, 15) + "[" +
                                                           std::to_string(l.listener.owner->pid) + "]"
                                                     : "-";
                std::string q =
                    l.listener.queue && l.listener.backlog
                        ? std::to_string(*l.listener.queue) + "/" + std::to_string(*l.listener.backlog)
                        : "-";
                std::string age = (l.oldest_predates_start ? ">" : "") + format_age(l.oldest_age_s);
                std::fprintf(out_, "%-27s %-24s %9zu %13s %8s\n", format_endpoint(l.listener.local).c_str(),
                             owner.c_str(), l.queued_close_waits, q.c_str(), age.c_str());
            }
        }
        if (s.unknown_owner)
            std::fprintf(out_, "%zu CLOSE_WAIT sockets with an owner not yet resolved\n", s.unknown_owner);
        for (const auto& e : s.accept_errors)
            std::fprintf(out_, "%s\n", wrap(accept_error_sentence(e), kMaxLineWidth, 4).c_str());
        if (s.listen_overflows)
            std::fprintf(out_, "%llu connections dropped on full accept queues\n",
                         static_cast<unsigned long long>(s.listen_overflows));
    }
    void flush() override { std::fflush(out_); }

  private:
    std::FILE* out_;
    std::FILE* err_;
    WallClock clock_;
};

} // namespace

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out, WallClock clock)
{
    return std::make_unique<JsonReporter>(out, clock);
}

std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock)
{
    return std::make_unique<HumanReporter>(out, err, clock);
}

} // namespace cwt
