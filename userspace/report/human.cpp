#include "report/human.hpp"

#include <cstdio>
#include <sstream>

#include "report/summary.hpp"

namespace cwt
{

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

namespace
{

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
    void summary(const Summary& s, double elapsed_s) override { print_human_summary(out_, s, elapsed_s); }
    void flush() override { std::fflush(out_); }

  private:
    std::FILE* out_;
    std::FILE* err_;
    WallClock clock_;
};

} // namespace

std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock)
{
    return std::make_unique<HumanReporter>(out, err, clock);
}

} // namespace cwt
