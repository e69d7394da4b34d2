#include "report/top.hpp"

#include <curses.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/error.hpp"
#include "report/record.hpp"

namespace cwt
{

const char* top_sort_name(TopSort s)
{
    switch (s) {
    case TopSort::Open:
        return "open";
    case TopSort::Growth:
        return "growth/min";
    case TopSort::Queue:
        return "queue";
    case TopSort::Emfile:
        return "EMFILE/s";
    }
    return "open";
}

void TopModel::add(const SeriesSample& s)
{
    window_.push_back(s);
    while (window_.size() > 2 && s.ts_ns - window_[1].ts_ns >= 60ULL * 1000000000ULL)
        window_.pop_front();
}

namespace
{

std::string fit(std::string s, std::size_t w)
{
    // Names were escaped already; keep printable ASCII only, then cut.
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            c = '?';
    if (s.size() > w)
        s = w > 1 ? s.substr(0, w - 1) + "~" : s.substr(0, w);
    return s;
}

std::string cell(const std::string& s, std::size_t w, bool right = false)
{
    std::string v = fit(s, w);
    std::string pad(w - v.size(), ' ');
    return right ? pad + v : v + pad;
}

std::string f1(double v)
{
    char b[32];
    std::snprintf(b, sizeof(b), v >= 100 || v <= -100 ? "%.0f" : "%.1f", v);
    return b;
}

struct ProcRow {
    const SeriesSample::Process* p;
    double growth = 0, emfile_s = 0;
    std::uint32_t queue = 0, backlog = 0;
};

} // namespace

std::vector<std::string> TopModel::render(int cols, int rows, TopSort sort, const WallClock& clock) const
{
    std::vector<std::string> out;
    std::size_t W = static_cast<std::size_t>(std::max(cols, 20));
    auto add = [&](const std::string& s) {
        if (static_cast<int>(out.size()) < rows)
            out.push_back(fit(s, W));
    };
    if (window_.empty()) {
        add("closewait-trace --top: waiting for the first sample...");
        while (static_cast<int>(out.size()) < rows)
            out.emplace_back();
        return out;
    }
    const SeriesSample& cur = window_.back();
    const SeriesSample& old = window_.front();
    double span_s = static_cast<double>(cur.ts_ns - old.ts_ns) / 1e9;
    std::map<std::uint32_t, const SeriesSample::Process*> before;
    for (const auto& p : old.processes)
        before[p.pid] = &p;
    // EMFILE per second over the last sample interval.
    const SeriesSample& prev = window_.size() > 1 ? window_[window_.size() - 2] : cur;
    double dt = std::max(1e-3, static_cast<double>(cur.ts_ns - prev.ts_ns) / 1e9);
    std::map<std::uint32_t, std::uint64_t> prev_emfile;
    for (const auto& p : prev.processes)
        prev_emfile[p.pid] = p.emfile_total;

    std::size_t open_total = 0;
    std::vector<ProcRow> procs;
    std::map<std::string, std::pair<double, double>> containers; // open now, open 60 s ago
    for (const auto& p : cur.processes) {
        ProcRow r{&p};
        auto b = before.find(p.pid);
        double was = b != before.end() ? static_cast<double>(b->second->close_waits) : 0.0;
        r.growth = span_s > 0 ? (static_cast<double>(p.close_waits) - was) / span_s * 60 : 0;
        auto e = prev_emfile.find(p.pid);
        if (&prev != &cur)
            r.emfile_s = static_cast<double>(p.emfile_total - (e != prev_emfile.end() ? e->second : 0)) / dt;
        for (const auto& l : cur.listeners)
            if (l.pid == p.pid && l.queue >= r.queue) {
                r.queue = l.queue;
                r.backlog = l.backlog;
            }
        open_total += p.close_waits;
        auto& c = containers[p.container.empty() ? "host" : p.container];
        c.first += static_cast<double>(p.close_waits);
        c.second += was;
        procs.push_back(r);
    }
    std::stable_sort(procs.begin(), procs.end(), [&](const ProcRow& a, const ProcRow& b) {
        switch (sort) {
        case TopSort::Growth:
            return a.growth > b.growth;
        case TopSort::Queue:
            return a.queue > b.queue;
        case TopSort::Emfile:
            return a.emfile_s > b.emfile_s;
        case TopSort::Open:
            break;
        }
        return a.p->close_waits > b.p->close_waits;
    });
    double emfile_all = 0;
    for (const auto& r : procs)
        emfile_all += r.emfile_s;

    add("closewait-trace --top  " + clock.hms(cur.ts_ns) + "  CLOSE_WAIT " + std::to_string(open_total) +
        "  EMFILE/s " + f1(emfile_all) + "  sort: " + top_sort_name(sort));
    add("");
    // 80 columns: 7+1+15+1+12+1+6+1+8+1+9+1+8 = 71; each process's leak
    // site on the line under it (the site is the point: it gets the width).
    add(cell("PID", 7, true) + " " + cell("COMM", 15) + " " + cell("CONTAINER", 12) + " " +
        cell("OPEN", 6, true) + " " + cell("GROW/MIN", 8, true) + " " + cell("QUEUE/BL", 9, true) + " " +
        cell("EMFILE/S", 8, true));
    int proc_rows = std::max(2, rows - 13); // 3 above, 9 below, the keys line
    int used = 0;
    for (const auto& r : procs) {
        int need = r.p->site.empty() ? 1 : 2;
        if (used + need > proc_rows)
            break;
        add(cell(std::to_string(r.p->pid), 7, true) + " " + cell(r.p->comm, 15) + " " +
            cell(r.p->container.empty() ? "host" : r.p->container, 12) + " " +
            cell(std::to_string(r.p->close_waits), 6, true) + " " + cell(f1(r.growth), 8, true) + " " +
            cell(r.backlog ? std::to_string(r.queue) + "/" + std::to_string(r.backlog) : "-", 9, true) + " " +
            cell(f1(r.emfile_s), 8, true));
        if (need == 2)
            add("        " + std::to_string(r.p->site_leaks) + " of " + std::to_string(r.p->leaks) + " " +
                r.p->site);
        used += need;
    }
    if (procs.empty())
        add("  (no process holds a CLOSE_WAIT)");
    add("");
    add(cell("LISTENER", 28) + " " + cell("OWNER", 22) + " " + cell("QUEUE/BACKLOG", 14, true));
    std::vector<const SeriesSample::Listener*> ls;
    for (const auto& l : cur.listeners)
        ls.push_back(&l);
    std::stable_sort(ls.begin(), ls.end(), [](auto* a, auto* b) { return a->queue > b->queue; });
    for (std::size_t i = 0; i < ls.size() && i < 3; ++i)
        add(cell(ls[i]->local, 28) + " " +
            cell(ls[i]->pid ? ls[i]->comm + " " + std::to_string(ls[i]->pid) : "-", 22) + " " +
            cell(std::to_string(ls[i]->queue) + "/" + std::to_string(ls[i]->backlog), 14, true));
    add("");
    add(cell("CONTAINER", 14) + " " + cell("OPEN", 8, true) + " " + cell("GROW/MIN", 9, true));
    std::vector<std::pair<std::string, std::pair<double, double>>> cs(containers.begin(), containers.end());
    std::stable_sort(cs.begin(), cs.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
    for (std::size_t i = 0; i < cs.size() && i < 2; ++i)
        add(cell(cs[i].first, 14) + " " +
            cell(std::to_string(static_cast<long long>(cs[i].second.first)), 8, true) + " " +
            cell(f1(span_s > 0 ? (cs[i].second.first - cs[i].second.second) / span_s * 60 : 0), 9, true));
    while (static_cast<int>(out.size()) < rows - 1)
        out.emplace_back();
    if (static_cast<int>(out.size()) < rows)
        out.push_back(fit("keys: o open  g growth  b queue  e EMFILE/s  q quit", W));
    return out;
}

namespace
{

class TopReporter final : public Reporter
{
  public:
    TopReporter(std::function<void()> stop, WallClock clock) : stop_(std::move(stop)), clock_(clock)
    {
        if (!initscr())
            throw UserError("cannot start the terminal screen", "check TERM, or run without --top");
        cbreak();
        noecho();
        nodelay(stdscr, TRUE);
        keypad(stdscr, TRUE);
        curs_set(0);
        draw();
    }
    ~TopReporter() override { endwin(); }
    void start(const StartInfo&) override {}
    void finding(const Finding&) override {}
    void state(const LiveState& st) override
    {
        model_.add(sample_of(st));
        draw();
    }
    void summary(const Summary&, double) override { endwin(); }
    void flush() override
    {
        bool changed = false;
        for (int ch; (ch = getch()) != ERR;) {
            switch (ch) {
            case 'q':
            case 'Q':
                stop_();
                break;
            case 'o':
                sort_ = TopSort::Open;
                changed = true;
                break;
            case 'g':
                sort_ = TopSort::Growth;
                changed = true;
                break;
            case 'b':
                sort_ = TopSort::Queue;
                changed = true;
                break;
            case 'e':
                sort_ = TopSort::Emfile;
                changed = true;
                break;
            case KEY_RESIZE:
                changed = true;
                break;
            default:
                break;
            }
        }
        if (changed)
            draw();
    }

  private:
    void draw()
    {
        int rows = 24, cols = 80;
        getmaxyx(stdscr, rows, cols);
        auto lines = model_.render(cols, rows, sort_, clock_);
        erase();
        for (int i = 0; i < static_cast<int>(lines.size()) && i < rows; ++i)
            mvaddnstr(i, 0, lines[static_cast<std::size_t>(i)].c_str(), cols);
        refresh();
    }
    std::function<void()> stop_;
    WallClock clock_;
    TopModel model_;
    TopSort sort_ = TopSort::Open;
};

} // namespace

std::unique_ptr<Reporter> make_top_reporter(std::function<void()> stop, WallClock clock)
{
    if (!isatty(STDOUT_FILENO))
        throw UserError("--top needs a terminal on stdout",
                        "run it in a terminal, or use --json / --record FILE");
    return std::make_unique<TopReporter>(std::move(stop), clock);
}

} // namespace cwt
