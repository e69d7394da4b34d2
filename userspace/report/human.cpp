#include "report/human.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <sstream>

#include "common/units.hpp"
#include "report/fold.hpp"
#include "report/summary.hpp"

namespace cwt
{

namespace
{

// Appends words with one space between them.
class Words
{
  public:
    std::ostringstream& next()
    {
        if (d_.tellp() > 0)
            d_ << ' ';
        return d_;
    }
    std::ostringstream& raw() { return d_; }
    std::string str() const { return d_.str(); }

  private:
    std::ostringstream d_;
};

// The DETAIL column of a socket finding; `closed_by` only for close_wait_closed.
std::string socket_detail(const SocketFacts& f, const std::string* closed_by, const std::string& detail)
{
    Words w;
    std::ostringstream& d = w.raw();
    if (f.owner == OwnerKind::AcceptQueue && f.listener) {
        d << "queued";
        if (f.listener->queue && f.listener->backlog)
            d << " q=" << *f.listener->queue << "/" << *f.listener->backlog;
        if (!(f.listener->local == f.tuple.local))
            d << " on " << format_endpoint(f.listener->local);
    } else if (f.listener && !(f.listener->local == f.tuple.local)) {
        // The usual case, listener address == local address, says nothing new.
        w.next() << "lsn " << format_endpoint(f.listener->local);
    } else if (f.listener) {
    } else if (f.owner != OwnerKind::Process) {
        d << owner_kind_name(f.owner);
    }
    if (f.recv_q && *f.recv_q)
        w.next() << "rq=" << *f.recv_q;
    if (f.preexisting)
        w.next() << "preexisting";
    if (closed_by)
        w.next() << "by " << *closed_by;
    if (f.processes.size() > 1)
        w.next() << "+" << (f.processes.size() - 1) << " more fds";
    if (!detail.empty())
        w.next() << detail;
    return w.str();
}

// The DETAIL column of an accept-queue finding; `drops` only for listen_overflow.
std::string queue_detail(const ListenerFacts& q, const std::uint64_t* drops,
                         const std::optional<double>& since_last_accept_s,
                         const std::optional<double>& min_stall_s, const std::string& detail)
{
    Words w;
    std::ostringstream& d = w.raw();
    if (q.listener && q.listener->queue && q.listener->backlog)
        d << "q=" << *q.listener->queue << "/" << *q.listener->backlog;
    if (drops)
        d << " drops " << *drops;
    if (q.queued_close_wait)
        d << " cw " << q.queued_close_wait;
    if (since_last_accept_s)
        d << " last accept " << format_age(*since_last_accept_s) << " ago";
    else if (min_stall_s)
        d << " no accept for >" << format_age(*min_stall_s);
    if (!detail.empty())
        w.next() << detail;
    return w.str();
}

// The columns of one line, before they are laid out.
struct Columns {
    MonoNs ts_ns = 0;
    const char* event = "?";
    const ProcessRef* who = nullptr; // PID and COMM
    const ProcessRef* fd_of = nullptr;
    std::string local = "-";
    std::string remote = "-";
    std::string age = "-";
    std::string detail;
};

std::string age_column(const std::optional<double>& age_s, const std::optional<double>& min_age_s)
{
    return age_s ? format_age(*age_s) : min_age_s ? ">" + format_age(*min_age_s) : "-";
}

// For queued sockets the process columns name the listener's owner.
template <typename F> Columns socket_columns(const F& f, const char* event)
{
    const SocketFacts& s = f.sock;
    Columns c;
    c.ts_ns = f.ts_ns;
    c.event = event;
    c.who = !s.processes.empty()                ? &s.processes.front()
            : (s.listener && s.listener->owner) ? &*s.listener->owner
                                                : nullptr;
    c.fd_of = s.processes.empty() ? nullptr : &s.processes.front();
    c.local = format_endpoint(s.tuple.local);
    c.remote = format_endpoint(s.tuple.remote);
    c.age = age_column(s.age_s, s.min_age_s);
    return c;
}

template <typename F> Columns queue_columns(const F& f, const char* event)
{
    const ListenerFacts& q = f.queue;
    Columns c;
    c.ts_ns = f.ts_ns;
    c.event = event;
    c.who = q.process ? &*q.process : (q.listener && q.listener->owner) ? &*q.listener->owner : nullptr;
    c.fd_of = q.process ? &*q.process : nullptr;
    c.local = q.listener ? format_endpoint(q.listener->local) : "-";
    return c;
}

// One overload per finding type.
Columns columns(const CloseWaitFinding& f)
{
    Columns c = socket_columns(f, "CLOSEWAIT");
    c.detail = socket_detail(f.sock, nullptr, f.detail);
    return c;
}

Columns columns(const LeakFinding& f)
{
    Columns c = socket_columns(f, "LEAK");
    c.detail = socket_detail(f.sock, nullptr, f.detail);
    if (f.site)
        c.detail += (c.detail.empty() ? "" : " ") + f.site->label();
    return c;
}

Columns columns(const ClosedFinding& f)
{
    Columns c = socket_columns(f, "CLOSED");
    c.detail = socket_detail(f.sock, &f.closed_by, f.detail);
    return c;
}

Columns columns(const AcceptErrorFinding& f)
{
    Columns c;
    c.ts_ns = f.ts_ns;
    c.event = "ACCEPTERR";
    c.who = c.fd_of = &f.process;
    c.local = f.listener ? format_endpoint(f.listener->local) : "-";
    Words w;
    std::ostringstream& d = w.raw();
    d << f.errno_name << " " << f.syscall << " x" << f.count;
    if (f.shed)
        d << " shed " << f.shed;
    if (f.open_fds)
        d << " fds " << *f.open_fds << "/" << (f.nofile_soft ? std::to_string(*f.nofile_soft) : "?") << " cw "
          << f.close_wait_fds.value_or(0);
    if (!f.detail.empty())
        w.next() << f.detail;
    c.detail = w.str();
    return c;
}

Columns columns(const ListenOverflowFinding& f)
{
    Columns c = queue_columns(f, "OVERFLOW");
    c.detail = queue_detail(f.queue, &f.drops, std::nullopt, std::nullopt, f.detail);
    return c;
}

Columns columns(const AcceptStallFinding& f)
{
    Columns c = queue_columns(f, "STALL");
    c.age = age_column(std::nullopt, f.min_stall_s);
    c.detail = queue_detail(f.queue, nullptr, f.since_last_accept_s, f.min_stall_s, f.detail);
    return c;
}

} // namespace

std::string fit(const std::string& s, std::size_t width)
{
    if (s.size() <= width)
        return s;
    if (width == 0)
        return "";
    return s.substr(0, width - 1) + "+";
}

std::string fit_endpoint(const std::string& s, std::size_t width)
{
    auto colon = s.rfind(':');
    if (s.size() <= width || colon == std::string::npos)
        return fit(s, width);
    // "]:port" or ":port" stays whole.
    std::size_t keep = s.size() - colon + (colon > 0 && s[colon - 1] == ']' ? 1 : 0);
    if (keep + 2 > width)
        return fit(s, width);
    return s.substr(0, width - keep - 1) + "+" + s.substr(s.size() - keep);
}

namespace
{

// Column widths of the narrow layout; numbers are never cut.
constexpr std::size_t kCommW = 15, kEndpointW = 21;

double seconds_since(MonoNs ts_ns, MonoNs started_ns)
{
    return ts_ns > started_ns ? ns_to_seconds(ts_ns - started_ns) : 0.0;
}

} // namespace

std::string time_columns(MonoNs ts_ns, const WallClock& clock, const HumanStyle& style)
{
    std::string s;
    if (style.clock_time || !style.rel_time)
        s += fmt::format("{:<8} ", clock.hms(ts_ns));
    if (style.rel_time)
        s += fmt::format("{:<9.3f} ", seconds_since(ts_ns, style.started_ns));
    return s;
}

std::string human_header(const HumanStyle& style)
{
    std::string s;
    if (style.clock_time || !style.rel_time)
        s += fmt::format("{:<8} ", "TIME");
    if (style.rel_time)
        s += fmt::format("{:<9} ", "TIME(s)");
    return s + fmt::format("{:<9} {:>7} {:<15} {:>4} {:<21} {:<21} {:>6} {}", "EVENT", "PID", "COMM", "FD",
                           "LOCAL", "REMOTE", "AGE", "DETAIL");
}

namespace
{

// Narrow: columns cut to their widths, then the detail to what is left of the
// line. Wide: every field whole.
std::string lay_out(const Columns& c, const WallClock& clock, const HumanStyle& style)
{
    const bool wide = style.wide;
    std::string pid = c.who ? std::to_string(c.who->pid) : "-";
    std::string comm = c.who ? cut(c.who->comm, kCommW, wide) : "-";
    std::string fd = (c.fd_of && c.fd_of->fd >= 0) ? std::to_string(c.fd_of->fd) : "-";
    std::string local = wide ? c.local : fit_endpoint(c.local, kEndpointW);
    std::string remote = wide ? c.remote : fit_endpoint(c.remote, kEndpointW);
    std::string line =
        time_columns(c.ts_ns, clock, style) + fmt::format("{:<9} {:>7} {:<15} {:>4} {:<21} {:<21} {:>6}",
                                                          c.event, pid, comm, fd, local, remote, c.age);
    std::string detail = c.detail;
    // The container, as `docker ps` shows its id.
    if (c.who && c.who->meta && c.who->meta->container)
        detail =
            "ctr=" + short_container_id(c.who->meta->container->id) + (detail.empty() ? "" : " " + detail);
    if (wide)
        return detail.empty() ? line : line + " " + detail;
    if (detail.empty() || line.size() + 2 > kMaxLineWidth)
        return fit(line, kMaxLineWidth);
    return line + " " + fit(detail, kMaxLineWidth - line.size() - 1);
}

template <typename F> std::string line_of(const F& f, const WallClock& clock, const HumanStyle& style)
{
    return lay_out(columns(f), clock, style);
}

std::string line_of(const LostFinding& f, const WallClock& clock, const HumanStyle& style)
{
    std::string line = time_columns(f.ts_ns, clock, style) +
                       fmt::format("{:<9} {} events lost: {}", "LOST", f.count, f.detail);
    return cut(line, kMaxLineWidth, style.wide);
}

} // namespace

std::string human_line(const Finding& f, const WallClock& clock, const HumanStyle& style)
{
    return std::visit([&](const auto& x) { return line_of(x, clock, style); }, f);
}

namespace
{

class HumanReporter : public Reporter
{
  public:
    HumanReporter(std::FILE* out, std::FILE* err, WallClock clock, HumanStyle style, std::size_t fold)
        : out_(out), err_(err), clock_(clock), style_(style), folder_(fold, style)
    {
    }
    void start(const StartInfo& s) override
    {
        std::string filters;
        if (s.filter_pid)
            filters += fmt::format(" pid={}", s.filter_pid);
        filters += describe_filter(s.socket_filter);
        fmt::print(err_, "closewait-trace: {}, tier {} ({}), kernel {}, threshold {}s{}{}\n", s.mode, s.tier,
                   s.tier_reason, s.kernel, s.threshold_s, filters, s.verbose ? ", verbose" : "");
        std::fflush(err_);
        fmt::print(out_, "{}\n", human_header(style_));
    }
    void finding(const Finding& f) override
    {
        // Leaks wait one interval for the fold decision (report/fold.hpp).
        if (auto* l = std::get_if<LeakFinding>(&f))
            return folder_.leak(*l);
        if (auto* q = std::get_if<CloseWaitFinding>(&f); q && q->sock.owner == OwnerKind::AcceptQueue)
            return folder_.queued(*q);
        if (auto* c = std::get_if<ClosedFinding>(&f))
            folder_.closed(*c);
        print_due(false);
        fmt::print(out_, "{}\n", human_line(f, clock_, style_));
    }
    void summary(const Summary& s, double elapsed_s) override
    {
        print_due(true);
        print_human_summary(out_, s, elapsed_s, style_.wide);
        for (const auto& l : folder_.totals(mono_now_ns()))
            fmt::print(out_, "{}\n", l);
    }
    void flush() override
    {
        print_due(false);
        std::fflush(out_);
    }
    void target_exit(std::uint32_t pid, MonoNs) override
    {
        print_due(false);
        fmt::print(out_, "pid {} exited\n", pid);
    }

  private:
    void print_due(bool all)
    {
        for (const auto& l : folder_.due(mono_now_ns(), clock_, all))
            fmt::print(out_, "{}\n", l);
    }
    std::FILE* out_;
    std::FILE* err_;
    WallClock clock_;
    HumanStyle style_;
    LeakFolder folder_;
};

} // namespace

std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock,
                                              HumanStyle style, std::size_t fold)
{
    return std::make_unique<HumanReporter>(out, err, clock, style, fold);
}

} // namespace cwt
