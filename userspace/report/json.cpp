#include "report/json.hpp"
#include "report/summary.hpp"
#include "core/annotate.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

namespace cwt
{

namespace
{

std::string hex(std::uint64_t v)
{
    return fmt::format("{:#x}", v);
}

} // namespace

nlohmann::ordered_json container_json(const ProcessMeta* m)
{
    if (!m || !m->container)
        return nullptr;
    const ContainerRef& c = *m->container;
    return {{"id", c.id},
            {"runtime", c.runtime},
            {"pod_uid", c.pod_uid.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(c.pod_uid)}};
}

void put_nspid(nlohmann::ordered_json& j, const ProcessRef* p)
{
    j["nspid"] =
        p && p->meta && p->meta->nspid ? nlohmann::ordered_json(p->meta->nspid) : nlohmann::ordered_json();
}

void put_container(nlohmann::ordered_json& j, const ProcessMeta* m)
{
    j["cgroup"] = m && !m->cgroup.empty() ? nlohmann::ordered_json(m->cgroup) : nlohmann::ordered_json();
    j["container"] = container_json(m);
}

nlohmann::ordered_json process_json(const ProcessRef& p)
{
    nlohmann::ordered_json j = {{"pid", p.pid}, {"comm", p.comm}, {"fd", p.fd}};
    put_nspid(j, &p);
    return j;
}

nlohmann::ordered_json listener_json(const ListenerView& l)
{
    nlohmann::ordered_json j = {{"local", format_endpoint(l.local)}};
    j["pid"] = l.owner ? nlohmann::ordered_json(l.owner->pid) : nlohmann::ordered_json();
    j["comm"] = l.owner ? nlohmann::ordered_json(l.owner->comm) : nlohmann::ordered_json();
    j["fd"] = l.owner ? nlohmann::ordered_json(l.owner->fd) : nlohmann::ordered_json();
    put_nspid(j, l.owner ? &*l.owner : nullptr);
    if (l.queue)
        j["queue"] = *l.queue;
    if (l.backlog)
        j["backlog"] = *l.backlog;
    return j;
}

nlohmann::ordered_json leak_site_json(const LeakSite& s)
{
    nlohmann::ordered_json j;
    j["kind"] = site_kind_name(s.kind);
    j["call"] = s.call;
    j["label"] = s.label();
    j["tid"] = s.tid;
    j["function"] = sanitize_symbol(s.function);
    j["offset"] = s.offset;
    j["file"] = sanitize_symbol(s.file);
    j["line"] = s.line;
    j["module"] = sanitize_symbol(s.module);
    j["build_id"] = s.build_id;
    // The native stack of python/node is the interpreter's, not the script's.
    j["interpreted"] = !s.interpreter.empty();
    if (!s.interpreter.empty())
        j["interpreter"] = sanitize_symbol(s.interpreter);
    nlohmann::ordered_json frames = nlohmann::ordered_json::array();
    for (const auto& fr : s.frames) {
        std::string t = fr.function.empty() ? hex(fr.module_offset) : sanitize_symbol(fr.function) + "+" + hex(fr.offset);
        if (!fr.file.empty())
            t += " (" + sanitize_symbol(fr.file) + ":" + std::to_string(fr.line) + ")";
        else if (!fr.module.empty())
            t += " (" + sanitize_symbol(fr.module) + ")";
        frames.push_back(t);
    }
    j["stack"] = std::move(frames);
    return j;
}

namespace
{

template <typename T> nlohmann::ordered_json opt(const std::optional<T>& v)
{
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json();
}

// "type" and "ts", the keys every object starts with.
template <typename F> nlohmann::ordered_json head(const F& f, const WallClock& clock)
{
    nlohmann::ordered_json j;
    j["type"] = F::kType;
    j["ts"] = clock.rfc3339(f.ts_ns);
    return j;
}

// pid, comm, fd, nspid of the process; cgroup and container of `holder`
// (the process, or for a queued socket the listener's owner).
void put_process(nlohmann::ordered_json& j, const ProcessRef* p, const ProcessRef* holder)
{
    j["pid"] = p ? nlohmann::ordered_json(p->pid) : nlohmann::ordered_json();
    j["comm"] = p ? nlohmann::ordered_json(p->comm) : nlohmann::ordered_json();
    j["fd"] = p ? nlohmann::ordered_json(p->fd) : nlohmann::ordered_json();
    put_nspid(j, p);
    put_container(j, holder ? holder->meta.get() : nullptr);
}

void put_detail(nlohmann::ordered_json& j, const std::string& detail)
{
    if (!detail.empty())
        j["detail"] = detail;
}

// The fields of every socket finding (close_wait, close_wait_leak, close_wait_closed).
template <typename F> nlohmann::ordered_json socket_json(const F& f, const WallClock& clock)
{
    const SocketFacts& s = f.sock;
    nlohmann::ordered_json j = head(f, clock);
    j["owner"] = owner_kind_name(s.owner);
    const ProcessRef* holder = container_holder(s);
    put_process(j, s.processes.empty() ? nullptr : &s.processes.front(), holder);
    if (s.processes.size() > 1) {
        nlohmann::ordered_json all = nlohmann::ordered_json::array();
        for (const auto& p : s.processes)
            all.push_back(process_json(p));
        j["owners"] = all;
    }
    j["local"] = format_endpoint(s.tuple.local);
    j["remote"] = format_endpoint(s.tuple.remote);
    j["listener"] = s.listener ? listener_json(*s.listener) : nlohmann::ordered_json();
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
template <typename F> nlohmann::ordered_json queue_json(const F& f, const WallClock& clock)
{
    const ListenerFacts& q = f.queue;
    nlohmann::ordered_json j = head(f, clock);
    const ProcessRef* holder = q.process                           ? &*q.process
                               : (q.listener && q.listener->owner) ? &*q.listener->owner
                                                                   : nullptr;
    put_process(j, q.process ? &*q.process : nullptr, holder);
    j["listener"] = q.listener ? listener_json(*q.listener) : nlohmann::ordered_json();
    j["local"] =
        q.listener ? nlohmann::ordered_json(format_endpoint(q.listener->local)) : nlohmann::ordered_json();
    j["netns"] = q.netns;
    j["queue"] = q.listener ? opt(q.listener->queue) : nlohmann::ordered_json();
    j["backlog"] = q.listener ? opt(q.listener->backlog) : nlohmann::ordered_json();
    j["queued_close_wait"] = q.queued_close_wait;
    return j;
}

// One overload per finding type.
nlohmann::ordered_json to_json(const CloseWaitFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = socket_json(f, clock);
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const LeakFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = socket_json(f, clock);
    if (f.site)
        j["leak_site"] = leak_site_json(*f.site);
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const ClosedFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = socket_json(f, clock);
    j["was_leak"] = f.was_leak;
    j["closed_by"] = f.closed_by;
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const AcceptErrorFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = head(f, clock);
    put_process(j, &f.process, &f.process);
    j["errno"] = f.errno_name;
    j["syscall"] = f.syscall;
    j["count"] = f.count;
    j["shed"] = f.shed;
    j["nofile_soft"] = opt(f.nofile_soft);
    j["nofile_hard"] = opt(f.nofile_hard);
    j["open_fds"] = opt(f.open_fds);
    j["socket_fds"] = opt(f.socket_fds);
    j["close_wait_fds"] = opt(f.close_wait_fds);
    j["listener"] = f.listener ? listener_json(*f.listener) : nlohmann::ordered_json();
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const ListenOverflowFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = queue_json(f, clock);
    j["drops"] = f.drops;
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const AcceptStallFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = queue_json(f, clock);
    j["since_last_accept_s"] = opt(f.since_last_accept_s);
    if (f.min_stall_s)
        j["min_stall_s"] = *f.min_stall_s;
    put_detail(j, f.detail);
    return j;
}

nlohmann::ordered_json to_json(const LostFinding& f, const WallClock& clock)
{
    nlohmann::ordered_json j = head(f, clock);
    j["count"] = f.count;
    j["detail"] = f.detail;
    return j;
}

} // namespace

nlohmann::ordered_json finding_json(const Finding& f, const WallClock& clock)
{
    return std::visit([&](const auto& x) { return to_json(x, clock); }, f);
}

namespace
{

// The one-line form that finding_json(f).dump() gives, written directly for
// the socket findings: a snapshot prints 50k of them, and building each as an
// nlohmann object costs more than the kernel walk. Strings that need any
// escaping, and every number that is not an integer, still go through
// nlohmann, so the bytes are the same (tests/unit/report_test.cpp checks).
class Line
{
  public:
    // Appends to `o` (the caller's buffer: no string per line).
    explicit Line(std::string& o) : out(o) {}
    std::string& out;
    template <std::size_t N> void key(const char (&k)[N])
    {
        out.append(first_ ? "{\"" : ",\"", 2);
        first_ = false;
        out.append(k, N - 1);
        out.append("\":", 2);
    }
    void str(const std::string& v) { str(v.data(), v.size()); }
    void str(const char* v) { str(v, std::strlen(v)); }
    void str(const char* v, std::size_t n)
    {
        for (std::size_t i = 0; i < n; ++i) {
            auto c = static_cast<unsigned char>(v[i]);
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                out += nlohmann::ordered_json(std::string(v, n))
                           .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
                return;
            }
        }
        out += '"';
        out.append(v, n);
        out += '"';
    }
    template <typename T> void num(T v)
    {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof(buf), v);
        out.append(buf, static_cast<std::size_t>(r.ptr - buf));
    }
    void real(double v) { out += nlohmann::ordered_json(v).dump(); }
    void boolean(bool v) { v ? out.append("true", 4) : out.append("false", 5); }
    void null() { out.append("null", 4); }
    void open() { first_ = true; }
    void close() { out += '}'; }

  private:
    bool first_ = true;
};

void line_process(Line& l, const ProcessRef* p)
{
    l.key("pid");
    p ? l.num(p->pid) : l.null();
    l.key("comm");
    p ? l.str(p->comm) : l.null();
    l.key("fd");
    p ? l.num(p->fd) : l.null();
    l.key("nspid");
    p && p->meta && p->meta->nspid ? l.num(p->meta->nspid) : l.null();
}

// cgroup and container, as put_container() writes them.
void line_container(Line& l, const ProcessMeta* m)
{
    l.key("cgroup");
    m && !m->cgroup.empty() ? l.str(m->cgroup) : l.null();
    l.key("container");
    if (!m || !m->container)
        l.null(); // what container_json() gives, without building it
    else
        l.out += container_json(m).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

template <typename F> void line_socket(Line& l, const F& f, const WallClock& clock)
{
    const SocketFacts& s = f.sock;
    l.key("type");
    l.str(F::kType);
    l.key("ts");
    l.str(clock.rfc3339(f.ts_ns));
    l.key("owner");
    l.str(owner_kind_name(s.owner));
    line_process(l, s.processes.empty() ? nullptr : &s.processes.front());
    const ProcessRef* holder = container_holder(s);
    line_container(l, holder ? holder->meta.get() : nullptr);
    if (s.processes.size() > 1) {
        l.key("owners");
        l.out += '[';
        for (std::size_t i = 0; i < s.processes.size(); ++i) {
            if (i)
                l.out += ',';
            l.open();
            line_process(l, &s.processes[i]);
            l.close();
        }
        l.out += ']';
    }
    l.key("local");
    l.str(format_endpoint(s.tuple.local));
    l.key("remote");
    l.str(format_endpoint(s.tuple.remote));
    l.key("listener");
    if (s.listener) {
        const ListenerView& v = *s.listener;
        Line inner(l.out);
        inner.key("local");
        inner.str(format_endpoint(v.local));
        line_process(inner, v.owner ? &*v.owner : nullptr);
        if (v.queue) {
            inner.key("queue");
            inner.num(*v.queue);
        }
        if (v.backlog) {
            inner.key("backlog");
            inner.num(*v.backlog);
        }
        inner.close();
    } else {
        l.null();
    }
    l.key("age_s");
    s.age_s ? l.real(*s.age_s) : l.null();
    if (s.min_age_s) {
        l.key("min_age_s");
        l.real(*s.min_age_s);
    }
    l.key("recv_q");
    s.recv_q ? l.num(*s.recv_q) : l.null();
    l.key("netns");
    l.num(s.netns);
    l.key("preexisting");
    l.boolean(s.preexisting);
    l.key("sk");
    l.str(hex(s.sk));
}

void line_detail(Line& l, const std::string& detail)
{
    if (!detail.empty()) {
        l.key("detail");
        l.str(detail);
    }
}

bool line_of(Line& l, const CloseWaitFinding& f, const WallClock& clock)
{
    line_socket(l, f, clock);
    line_detail(l, f.detail);
    return true;
}
bool line_of(Line& l, const LeakFinding& f, const WallClock& clock)
{
    line_socket(l, f, clock);
    line_detail(l, f.detail);
    return true;
}
bool line_of(Line& l, const ClosedFinding& f, const WallClock& clock)
{
    line_socket(l, f, clock);
    l.key("was_leak");
    l.boolean(f.was_leak);
    l.key("closed_by");
    l.str(f.closed_by);
    line_detail(l, f.detail);
    return true;
}
template <typename F> bool line_of(Line&, const F&, const WallClock&)
{
    return false;
}

} // namespace

void append_finding_json_line(std::string& out, const Finding& f, const WallClock& clock)
{
    Line l(out);
    if (std::visit([&](const auto& x) { return line_of(l, x, clock); }, f)) {
        l.close();
        return;
    }
    out += finding_json(f, clock).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string finding_json_line(const Finding& f, const WallClock& clock)
{
    std::string out;
    out.reserve(512);
    append_finding_json_line(out, f, clock);
    return out;
}

nlohmann::ordered_json start_json(const StartInfo& s, const WallClock& clock, MonoNs now)
{
    const SocketFilter& f = s.socket_filter;
    const char* family = family_name(f.family);
    nlohmann::ordered_json filters = {
        {"pid", s.filter_pid ? nlohmann::ordered_json(s.filter_pid) : nlohmann::ordered_json()},
        // The one -P port (the --port N of older versions); null for none or several.
        {"port", f.ports.size() == 1 ? nlohmann::ordered_json(f.ports[0]) : nlohmann::ordered_json()},
        {"ports", f.ports},
        {"lports", f.lports},
        {"rports", f.rports},
        {"family", *family ? nlohmann::ordered_json(family) : nlohmann::ordered_json()},
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
    void target_exit(std::uint32_t pid, MonoNs ts) override
    {
        emit({{"type", "target_exit"}, {"ts", clock_.rfc3339(ts)}, {"pid", pid}});
    }
    void flush() override { std::fflush(out_); }

  private:
    void emit(const nlohmann::ordered_json& j)
    {
        // Names were escaped already; `replace` guards any other invalid UTF-8.
        std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
        fmt::print(out_, "{}\n", line);
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
