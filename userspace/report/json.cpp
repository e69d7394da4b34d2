#include "report/json.hpp"
#include "report/summary.hpp"

#include <cstdio>

namespace cwt
{

namespace
{

std::string hex(std::uint64_t v)
{
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

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

} // namespace

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out, WallClock clock)
{
    return std::make_unique<JsonReporter>(out, clock);
}

} // namespace cwt
