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

namespace
{

template <typename T> nlohmann::json opt(const std::optional<T>& v)
{
    return v ? nlohmann::json(*v) : nlohmann::json();
}

// "type" and "ts", the keys every object starts with.
template <typename F> nlohmann::json head(const F& f, const WallClock& clock)
{
    nlohmann::json j;
    j["type"] = F::kType;
    j["ts"] = clock.rfc3339(f.ts_ns);
    return j;
}

void put_process(nlohmann::json& j, const ProcessRef* p)
{
    j["pid"] = p ? nlohmann::json(p->pid) : nlohmann::json();
    j["comm"] = p ? nlohmann::json(p->comm) : nlohmann::json();
    j["fd"] = p ? nlohmann::json(p->fd) : nlohmann::json();
}

void put_detail(nlohmann::json& j, const std::string& detail)
{
    if (!detail.empty())
        j["detail"] = detail;
}

// The fields of every socket finding (close_wait, close_wait_leak, close_wait_closed).
template <typename F> nlohmann::json socket_json(const F& f, const WallClock& clock)
{
    const SocketFacts& s = f.sock;
    nlohmann::json j = head(f, clock);
    put_process(j, s.processes.empty() ? nullptr : &s.processes.front());
    j["owner"] = owner_kind_name(s.owner);
    if (s.processes.size() > 1) {
        nlohmann::json all = nlohmann::json::array();
        for (const auto& p : s.processes)
            all.push_back(process_json(p));
        j["owners"] = all;
    }
    j["local"] = format_endpoint(s.tuple.local);
    j["remote"] = format_endpoint(s.tuple.remote);
    j["listener"] = s.listener ? listener_json(*s.listener) : nlohmann::json();
    j["age_s"] = opt(s.age_s);
    if (s.min_age_s)
        j["min_age_s"] = *s.min_age_s;
    j["recv_q"] = opt(s.recv_q);
    j["netns"] = s.netns;
    j["preexisting"] = s.preexisting;
    j["sk"] = hex(s.sk);
    return j;
}

// The fields of the accept-queue findings (listen_overflow, accept_stall).
template <typename F> nlohmann::json queue_json(const F& f, const WallClock& clock)
{
    const ListenerFacts& q = f.queue;
    nlohmann::json j = head(f, clock);
    put_process(j, q.process ? &*q.process : nullptr);
    j["listener"] = q.listener ? listener_json(*q.listener) : nlohmann::json();
    j["local"] = q.listener ? nlohmann::json(format_endpoint(q.listener->local)) : nlohmann::json();
    j["netns"] = q.netns;
    j["queue"] = q.listener ? opt(q.listener->queue) : nlohmann::json();
    j["backlog"] = q.listener ? opt(q.listener->backlog) : nlohmann::json();
    j["queued_close_wait"] = q.queued_close_wait;
    return j;
}

// One overload per finding type.
nlohmann::json to_json(const CloseWaitFinding& f, const WallClock& clock)
{
    nlohmann::json j = socket_json(f, clock);
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const LeakFinding& f, const WallClock& clock)
{
    nlohmann::json j = socket_json(f, clock);
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const ClosedFinding& f, const WallClock& clock)
{
    nlohmann::json j = socket_json(f, clock);
    j["was_leak"] = f.was_leak;
    j["closed_by"] = f.closed_by;
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const AcceptErrorFinding& f, const WallClock& clock)
{
    nlohmann::json j = head(f, clock);
    put_process(j, &f.process);
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
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const ListenOverflowFinding& f, const WallClock& clock)
{
    nlohmann::json j = queue_json(f, clock);
    j["drops"] = f.drops;
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const AcceptStallFinding& f, const WallClock& clock)
{
    nlohmann::json j = queue_json(f, clock);
    j["since_last_accept_s"] = opt(f.since_last_accept_s);
    if (f.min_stall_s)
        j["min_stall_s"] = *f.min_stall_s;
    put_detail(j, f.detail);
    return j;
}

nlohmann::json to_json(const LostFinding& f, const WallClock& clock)
{
    nlohmann::json j = head(f, clock);
    j["count"] = f.count;
    j["detail"] = f.detail;
    return j;
}

} // namespace

nlohmann::json finding_json(const Finding& f, const WallClock& clock)
{
    return std::visit([&](const auto& x) { return to_json(x, clock); }, f);
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
