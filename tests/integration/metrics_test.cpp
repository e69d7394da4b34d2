// Fleet metrics end to end, with the real components from Debian packages:
// the tool on leaking servers (one with a hostile process name) writes its
// textfile, `promtool check metrics` accepts it, a real node_exporter serves
// it, a real Prometheus scrapes that node_exporter with the example rules
// loaded, answers PromQL over HTTP with the leak count, and shows the leak
// alert firing in ALERTS. Loopback only, free ports, every process bounded.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace
{

constexpr double kStartTimeout = 20;
constexpr double kStepTimeout = 15;
constexpr double kPromTimeout = 60; // Prometheus start, scrapes, rule evaluations

bool have(const std::string& prog)
{
    return std::system(("command -v " + prog + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs a shell command; returns its stdout, and its exit status in *rc.
std::string run(const std::string& cmd, int* rc = nullptr)
{
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
        out.append(buf, n);
    int st = pclose(p);
    if (rc)
        *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

// The full path of a program on PATH (Proc runs it with execv).
std::string which(const std::string& prog)
{
    std::string p = run("command -v " + prog);
    while (!p.empty() && p.back() == '\n')
        p.pop_back();
    return p;
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string http_get(const std::string& url, const std::vector<std::string>& query = {})
{
    std::string cmd = "curl -s -m 5 -G '" + url + "'";
    for (const auto& q : query) {
        std::string esc;
        for (char c : q)
            esc += c == '\'' ? std::string("'\\''") : std::string(1, c);
        cmd += " --data-urlencode '" + esc + "'";
    }
    return run(cmd + " 2>/dev/null");
}

// PromQL instant query -> the "result" array (empty on any error).
json promql(int port, const std::string& expr)
{
    json j =
        json::parse(http_get("http://127.0.0.1:" + std::to_string(port) + "/api/v1/query", {"query=" + expr}),
                    nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success")
        return json::array();
    return j["data"]["result"];
}

// The value of one exposition line "name{labels} value" whose label block
// contains every given fragment; NaN when there is none.
double sample(const std::string& text, const std::string& name, const std::vector<std::string>& fragments)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0)
            continue;
        bool all = true;
        for (const auto& f : fragments)
            all = all && line.find(f) != std::string::npos;
        if (all)
            return std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
    }
    return std::nan("");
}

class TempDir
{
  public:
    TempDir()
    {
        char tmpl[] = "/tmp/cwt_metrics_XXXXXX";
        path_ = mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir()
    {
        if (!path_.empty())
            run("rm -rf '" + path_ + "'");
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

class Metrics : public ::testing::Test
{
  protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "SKIPPED: needs root to load BPF programs";
        for (const char* p : {"promtool", "prometheus", "prometheus-node-exporter", "curl"})
            if (!have(p))
                GTEST_SKIP() << "SKIPPED: " << p << " is not installed (scripts/deps.sh --with-tests)";
    }
};

// A leak server started through a symlink, so its comm (the symlink's name,
// 15 bytes at most) is whatever bytes the test wants.
std::unique_ptr<Proc> leak_server_named(const std::string& dir, const std::string& comm)
{
    std::string link = dir + "/" + comm;
    if (symlink(scenario("cwt_leak_srv").c_str(), link.c_str()) != 0)
        return nullptr;
    return std::make_unique<Proc>(std::vector<std::string>{link, "--port", "0", "--lifetime", "120"});
}

TEST_F(Metrics, LeakReachesTextfileNodeExporterPrometheusAndFiresTheAlert)
{
    const auto t0 = Clock::now();
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    const std::string textdir = tmp.path() + "/textfile";
    const std::string bindir = tmp.path() + "/bin";
    ASSERT_EQ(mkdir(textdir.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(bindir.c_str(), 0755), 0);
    const std::string prom_file = textdir + "/closewait_trace.prom";

    // Two leaking servers: a plain one, and one whose name holds a quote, a
    // backslash, a newline, an escape sequence, UTF-8 and an invalid byte.
    const std::string hostile = std::string("a\"b\\c\n\x1b[7m\xc3\xa9\xff");
    ASSERT_LE(hostile.size(), 15U);
    auto plain = leak_server_named(bindir, "cwt_leak_srv");
    auto evil = leak_server_named(bindir, hostile);
    ASSERT_TRUE(plain && evil);
    auto plain_lsn = kv(plain->wait_line("LISTEN ", kStepTimeout).value_or(""));
    auto evil_lsn = kv(evil->wait_line("LISTEN ", kStepTimeout).value_or(""));
    ASSERT_FALSE(plain_lsn["port"].empty() || evil_lsn["port"].empty());
    std::string evil_comm_raw = slurp("/proc/" + std::to_string(evil->pid()) + "/comm");
    ASSERT_EQ(evil_comm_raw, hostile + "\n") << "the kernel kept the name as given";

    Tool tool({"-j", "--threshold", "1", "--prometheus-textfile", prom_file, "--metrics-interval", "1", "-d",
               "150"});
    ASSERT_TRUE(tool.wait_start(kStartTimeout).is_object()) << tool.proc().all_output();
    const auto t_started = Clock::now();

    constexpr int kConns = 3;
    std::vector<std::unique_ptr<Proc>> clients;
    for (auto* lsn : {&plain_lsn, &evil_lsn})
        clients.push_back(std::make_unique<Proc>(
            std::vector<std::string>{scenario("cwt_peer_cli"), "--port", (*lsn)["port"], "--count",
                                     std::to_string(kConns), "--close-after-ms", "200", "--lifetime", "60"}));
    ASSERT_TRUE(tool.wait_count("close_wait_leak", 2 * kConns, kStepTimeout)) << tool.proc().all_output();
    std::string evil_comm;
    for (const auto& f : tool.events_of("close_wait_leak"))
        if (f.value("pid", 0) == evil->pid())
            evil_comm = f.value("comm", "");
    ASSERT_FALSE(evil_comm.empty());
    EXPECT_EQ(evil_comm.find('\n'), std::string::npos);

    // ---- the textfile ------------------------------------------------------
    const std::string pp = "pid=\"" + std::to_string(plain->pid()) + "\"";
    const std::string ep = "pid=\"" + std::to_string(evil->pid()) + "\"";
    std::string text;
    ASSERT_TRUE(poll_until(
        [&] {
            text = slurp(prom_file);
            return sample(text, "closewait_trace_leaks_total", {pp}) == kConns &&
                   sample(text, "closewait_trace_leaks_total", {ep}) == kConns &&
                   sample(text, "closewait_trace_close_wait_sockets", {ep}) == kConns;
        },
        kStepTimeout))
        << text;
    const auto t_textfile = Clock::now();
    EXPECT_EQ(sample(text, "closewait_trace_close_wait_sockets",
                     {pp, "comm=\"cwt_leak_srv\"", "owner=\"process\""}),
              kConns)
        << text;
    EXPECT_GE(sample(text, "closewait_trace_close_wait_oldest_age_seconds", {pp}), 1.0);
    EXPECT_EQ(sample(text, "closewait_trace_lost_events_total", {}), 0);
    EXPECT_EQ(sample(text, "closewait_trace_build_info", {"version=\""}), 1);
    EXPECT_EQ(sample(text, "closewait_trace_probe_tier_info", {"tier=\""}), 1);
    EXPECT_GT(sample(text, "closewait_trace_start_time_seconds", {}), 1.7e9);
    EXPECT_FALSE(std::isnan(sample(text, "closewait_trace_accept_queue_backlog",
                                   {"listener=\"127.0.0.1:" + plain_lsn["port"] + "\""})));
    for (unsigned char c : text)
        EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f))
            << "raw byte 0x" << std::hex << int(c) << " in the textfile";
    // No temporary left where node_exporter reads.
    EXPECT_EQ(run("ls -A '" + textdir + "'"), "closewait_trace.prom\n");

    int rc = -1;
    std::string lint = run("promtool check metrics < '" + prom_file + "' 2>&1", &rc);
    EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << lint << "\n" << text;
    std::size_t series = 0;
    for (std::istringstream in(text); std::getline(in, text);)
        series += !text.empty() && text[0] != '#';
    std::printf("[ figures  ] textfile: %zu series, %zu bytes\n", series, slurp(prom_file).size());

    // ---- node_exporter -------------------------------------------------------
    const int ne_port = free_port();
    Proc node_exporter({which("prometheus-node-exporter"),
                        "--web.listen-address=127.0.0.1:" + std::to_string(ne_port),
                        "--collector.disable-defaults", "--collector.textfile",
                        "--collector.textfile.directory=" + textdir});
    std::string served;
    ASSERT_TRUE(poll_until(
        [&] {
            served = http_get("http://127.0.0.1:" + std::to_string(ne_port) + "/metrics");
            return sample(served, "closewait_trace_leaks_total", {ep}) == kConns;
        },
        kStepTimeout))
        << served.substr(0, 4000) << node_exporter.all_output();
    EXPECT_EQ(sample(served, "closewait_trace_leaks_total", {pp, "comm=\"cwt_leak_srv\""}), kConns);
    EXPECT_EQ(sample(served, "closewait_trace_close_wait_sockets", {ep, "owner=\"process\""}), kConns);
    EXPECT_EQ(sample(served, "node_textfile_scrape_error", {}), 0) << served.substr(0, 4000);

    // ---- Prometheus, with the example rules ----------------------------------
    const int prom_port = free_port();
    std::string rules =
        slurp(std::string(CWT_SOURCE_DIR) + "/share/closewait-trace/closewait-trace.rules.yml");
    ASSERT_FALSE(rules.empty());
    // The shipped rules wait minutes before firing; the test waits seconds.
    rules = std::regex_replace(rules, std::regex("for: [0-9]+m"), "for: 1s");
    std::ofstream(tmp.path() + "/rules.yml") << rules;
    std::ofstream(tmp.path() + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - " << tmp.path() << "/rules.yml\n"
        << "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:"
        << ne_port << "']\n";
    Proc prometheus({which("prometheus"), "--config.file=" + tmp.path() + "/prometheus.yml",
                     "--storage.tsdb.path=" + tmp.path() + "/tsdb",
                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
    json leaks;
    ASSERT_TRUE(poll_until(
        [&] {
            leaks = promql(prom_port, "sum(closewait_trace_leaks_total)");
            return leaks.size() == 1 && leaks[0]["value"][1] == std::to_string(2 * kConns);
        },
        kPromTimeout))
        << leaks.dump() << "\n"
        << prometheus.all_output().substr(0, 4000);
    const auto t_scraped = Clock::now();
    // Per process, with the hostile name as the tool printed it in JSON.
    json evil_series =
        promql(prom_port, "closewait_trace_leaks_total{pid=\"" + std::to_string(evil->pid()) + "\"}");
    ASSERT_EQ(evil_series.size(), 1U) << evil_series.dump();
    EXPECT_EQ(evil_series[0]["metric"].value("comm", ""), evil_comm);
    EXPECT_EQ(evil_series[0]["value"][1], std::to_string(kConns));

    json alerts;
    ASSERT_TRUE(poll_until(
        [&] {
            alerts = promql(prom_port, "ALERTS{alertname=\"ClosewaitTraceLeak\",alertstate=\"firing\"}");
            return alerts.size() == 2;
        },
        kPromTimeout))
        << alerts.dump() << "\n"
        << promql(prom_port, "ALERTS").dump();
    const auto t_firing = Clock::now();
    std::set<std::string> alert_pids;
    for (const auto& a : alerts)
        alert_pids.insert(a["metric"].value("pid", ""));
    EXPECT_EQ(alert_pids, (std::set<std::string>{std::to_string(plain->pid()), std::to_string(evil->pid())}));

    // ---- exit: a last write, and the series of a process that holds nothing go
    evil->signal(SIGKILL);
    evil->wait_exit(5);
    EXPECT_EQ(tool.interrupt(10), 0) << tool.proc().all_output();
    text = slurp(prom_file);
    EXPECT_TRUE(std::isnan(sample(text, "closewait_trace_close_wait_sockets", {ep}))) << text;
    EXPECT_EQ(sample(text, "closewait_trace_close_wait_sockets", {pp}), kConns) << text;
    std::printf(
        "[ figures  ] start->textfile %.1f s, ->node_exporter+prometheus %.1f s, ->alert firing %.1f s, "
        "whole test %.1f s\n",
        std::chrono::duration<double>(t_textfile - t_started).count(),
        std::chrono::duration<double>(t_scraped - t_textfile).count(),
        std::chrono::duration<double>(t_firing - t_scraped).count(), seconds_since(t0));
}

// -q: the metrics file is the only output; a bad file is one error line and exit 2.
TEST_F(Metrics, QuietWritesOnlyTheTextfileAndABadPathIsOneError)
{
    TempDir tmp;
    const std::string file = tmp.path() + "/q.prom";
    Tool quiet({"-q", "--prometheus-textfile", file, "--metrics-interval", "1", "-d", "3"});
    ASSERT_TRUE(quiet.proc().wait_exit(kStartTimeout + 10)) << quiet.proc().all_output();
    EXPECT_EQ(quiet.proc().exit_code(), 0) << quiet.proc().all_output();
    EXPECT_TRUE(quiet.proc().lines().empty()) << quiet.proc().all_output();
    EXPECT_EQ(sample(slurp(file), "closewait_trace_build_info", {"version=\""}), 1);

    Tool bad({"-q", "--prometheus-textfile", tmp.path() + "/no/such/dir/x.prom", "-d", "3"});
    ASSERT_TRUE(bad.proc().wait_exit(kStartTimeout)) << bad.proc().all_output();
    EXPECT_EQ(bad.proc().exit_code(), 2);
    std::string err = bad.proc().err();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("closewait-trace: error: "), std::string::npos) << err;

    Tool quiet_alone({"-q", "-d", "1"});
    ASSERT_TRUE(quiet_alone.proc().wait_exit(kStartTimeout));
    EXPECT_EQ(quiet_alone.proc().exit_code(), 2)
        << "-q without --prometheus-textfile would print nothing at all";
}

} // namespace
