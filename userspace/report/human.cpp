#include "report/human.hpp"

#include <cstdio>
#include <sstream>

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

std::string human_header()
{
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s %s", "TIME", "EVENT", "PID",
                  "COMM", "FD", "LOCAL", "REMOTE", "AGE", "DETAIL");
    return buf;
}

namespace
{

std::string lay_out(const Columns& c, const WallClock& clock)
{
    char buf[512];
    std::string pid = c.who ? std::to_string(c.who->pid) : "-";
    std::string comm = c.who ? fit(c.who->comm, 15) : "-";
    std::string fd = (c.fd_of && c.fd_of->fd >= 0) ? std::to_string(c.fd_of->fd) : "-";
    const std::string& local = c.local;
    const std::string& remote = c.remote;
    const std::string& age = c.age;
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s", clock.hms(c.ts_ns).c_str(),
                  c.event, pid.c_str(), comm.c_str(), fd.c_str(), local.c_str(), remote.c_str(), age.c_str());
    std::string line = buf;
    std::string detail = c.detail;
    if (line.size() > kMaxLineWidth) {
        // Long IPv6 endpoints: addresses go on a continuation line.
        std::snprintf(buf, sizeof(buf), "%-8s %-9s %7s %-15s %4s %-21s %-21s %6s", clock.hms(c.ts_ns).c_str(),
                      c.event, pid.c_str(), comm.c_str(), fd.c_str(), "(below)", "(below)", age.c_str());
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

template <typename F> std::string line_of(const F& f, const WallClock& clock)
{
    return lay_out(columns(f), clock);
}

std::string line_of(const LostFinding& f, const WallClock& clock)
{
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %llu events lost: %s", clock.hms(f.ts_ns).c_str(), "LOST",
                  static_cast<unsigned long long>(f.count), f.detail.c_str());
    return fit(buf, kMaxLineWidth);
}

} // namespace

std::string human_line(const Finding& f, const WallClock& clock)
{
    return std::visit([&](const auto& x) { return line_of(x, clock); }, f);
}

namespace
{

class HumanReporter : public Reporter
{
  public:
    HumanReporter(std::FILE* out, std::FILE* err, WallClock clock, std::size_t fold)
        : out_(out), err_(err), clock_(clock), folder_(fold)
    {
    }
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
        std::fprintf(out_, "%s\n", human_line(f, clock_).c_str());
    }
    void summary(const Summary& s, double elapsed_s) override
    {
        print_due(true);
        print_human_summary(out_, s, elapsed_s);
        for (const auto& l : folder_.totals(mono_now_ns()))
            std::fprintf(out_, "%s\n", l.c_str());
    }
    void flush() override
    {
        print_due(false);
        std::fflush(out_);
    }
    void target_exit(std::uint32_t pid, MonoNs) override
    {
        print_due(false);
        std::fprintf(out_, "pid %u exited\n", pid);
    }

  private:
    void print_due(bool all)
    {
        for (const auto& l : folder_.due(mono_now_ns(), clock_, all))
            std::fprintf(out_, "%s\n", l.c_str());
    }
    std::FILE* out_;
    std::FILE* err_;
    WallClock clock_;
    LeakFolder folder_;
};

} // namespace

std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock, std::size_t fold)
{
    return std::make_unique<HumanReporter>(out, err, clock, fold);
}

} // namespace cwt
