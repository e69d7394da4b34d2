#include "report/record.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "common/error.hpp"
#include "report/json.hpp"
#include "report/summary.hpp"

namespace cwt
{

nlohmann::ordered_json sample_json(const SeriesSample& s, const WallClock& clock)
{
    nlohmann::ordered_json j;
    j["type"] = "sample";
    j["ts"] = clock.rfc3339(s.ts_ns);
    j["t"] = static_cast<double>(clock.to_unix_ns(s.ts_ns)) / 1e9;
    nlohmann::ordered_json procs = nlohmann::ordered_json::array();
    for (const auto& p : s.processes)
        procs.push_back({{"pid", p.pid},
                         {"comm", escape_comm(p.comm)},
                         {"container", p.container},
                         {"close_waits", p.close_waits},
                         {"emfile_total", p.emfile_total},
                         {"site", p.site},
                         {"site_leaks", p.site_leaks},
                         {"leaks", p.leaks}});
    j["processes"] = std::move(procs);
    nlohmann::ordered_json ls = nlohmann::ordered_json::array();
    for (const auto& l : s.listeners)
        ls.push_back({{"local", l.local},
                      {"pid", l.pid},
                      {"comm", escape_comm(l.comm)},
                      {"queue", l.queue},
                      {"backlog", l.backlog}});
    j["listeners"] = std::move(ls);
    j["emfile_total"] = s.emfile_total;
    nlohmann::ordered_json sites = nlohmann::ordered_json::array();
    for (const auto& x : s.sites)
        sites.push_back({{"site", x.label}, {"leaks", x.leaks}});
    j["sites"] = std::move(sites);
    return j;
}

SeriesSample sample_of(const LiveState& st)
{
    SeriesSample s;
    s.ts_ns = st.now;
    std::map<std::uint32_t, std::uint64_t> emfile; // per pid, cumulative
    for (const auto& e : st.summary.accept_errors) {
        emfile[e.totals.pid] += e.totals.emfile + e.totals.enfile;
        s.emfile_total += e.totals.emfile + e.totals.enfile;
    }
    for (const auto& p : st.summary.processes) {
        SeriesSample::Process x;
        x.pid = p.process.pid;
        x.comm = p.process.comm;
        x.container = p.container;
        x.close_waits = p.open_close_waits;
        x.emfile_total = emfile.count(x.pid) ? emfile[x.pid] : 0;
        x.site = p.site;
        x.site_leaks = p.site_leaks;
        x.leaks = p.leaks;
        s.processes.push_back(std::move(x));
    }
    for (const auto& l : st.listeners) {
        SeriesSample::Listener x;
        x.local = format_endpoint(l.local);
        if (!l.owners.empty()) {
            x.pid = l.owners.front().pid;
            x.comm = l.owners.front().comm;
        }
        x.queue = l.queue;
        x.backlog = l.backlog;
        s.listeners.push_back(std::move(x));
    }
    for (const auto& site : st.summary.sites)
        s.sites.push_back({site.label, site.leaks});
    return s;
}

namespace
{

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

class RecordReporter final : public Reporter
{
  public:
    RecordReporter(std::FILE* f, WallClock clock) : f_(f), clock_(clock) {}
    void start(const StartInfo& s) override { line(start_json(s, clock_, mono_now_ns())); }
    void finding(const Finding& f) override { line(finding_json(f, clock_)); }
    void summary(const Summary& s, double elapsed_s) override { line(summary_json(s, clock_, elapsed_s)); }
    void state(const LiveState& st) override { line(sample_json(sample_of(st), clock_)); }
    void flush() override { std::fflush(f_.get()); }

  private:
    void line(const nlohmann::ordered_json& j)
    {
        // Hostile names arrive as raw bytes: replace what is not UTF-8.
        std::string s = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
        s += '\n';
        std::fwrite(s.data(), 1, s.size(), f_.get());
    }
    std::unique_ptr<std::FILE, FileCloser> f_;
    WallClock clock_;
};

} // namespace

std::unique_ptr<Reporter> make_record_reporter(const std::string& path, WallClock clock)
{
    std::FILE* f = std::fopen(path.c_str(), "we");
    if (!f)
        throw UserError("cannot write the record file " + path + ": " + std::strerror(errno),
                        "choose a writable path for --record");
    return std::make_unique<RecordReporter>(f, clock);
}

} // namespace cwt
