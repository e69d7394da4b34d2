// The metrics reporter (findings and state -> exposition), the journal
// prefixes, and the container id from a cgroup path. Pure: sinks and
// process lookups are injected.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <set>
#include <vector>

#include "endpoints.hpp"
#include "common/error.hpp"
#include "kernel/container.hpp"
#include "report/journal.hpp"
#include "report/metrics_reporter.hpp"

namespace cwt
{
namespace
{

using cwt::test::v4;
const WallClock kClock(0);
constexpr MonoNs kSec = 1000000000ULL;

struct Harness {
    std::vector<std::string> written;
    std::set<std::uint32_t> dead;
    MetricsReporter r{
        MetricsOptions{500, "9.9.9"},
        [this](const std::string& t) { written.push_back(t); },
        kClock,
        [](std::uint32_t pid) { return pid == 200 ? std::string("0123456789ab") : std::string(); },
        [this](std::uint32_t pid) { return !dead.count(pid); },
        nullptr};
    Harness()
    {
        StartInfo s;
        s.tier = "tracepoint";
        r.start(s);
    }
    bool has(const std::string& line) const
    {
        return r.exposition().find("\n" + line + "\n") != std::string::npos;
    }
};

Finding leak(std::uint32_t pid, const std::string& comm)
{
    LeakFinding f;
    f.sock.owner = OwnerKind::Process;
    f.sock.processes = {ProcessRef{pid, comm, 7}};
    f.sock.tuple = Tuple{v4("127.0.0.1", 8080), v4("127.0.0.1", 40000), AF_INET};
    return f;
}

ProcessSummary holder(std::uint32_t pid, const std::string& comm, std::size_t n, double age)
{
    ProcessSummary p;
    p.process = ProcessRef{pid, comm, -1};
    p.open_close_waits = n;
    p.oldest_age_s = age;
    return p;
}

TEST(MetricsReporter, StartWritesInfoMetricsAtOnce)
{
    Harness h;
    ASSERT_EQ(h.written.size(), 1U);
    EXPECT_TRUE(h.has("closewait_trace_probe_tier_info{tier=\"tracepoint\"} 1")) << h.written[0];
    EXPECT_TRUE(h.has("closewait_trace_build_info{version=\"9.9.9\"} 1"));
    EXPECT_TRUE(h.has("closewait_trace_lost_events_total 0"));
    EXPECT_NE(h.written[0].find("# TYPE closewait_trace_leaks_total counter"), std::string::npos);
    EXPECT_NE(h.written[0].find("\ncloseWait"), 0U);
}

TEST(MetricsReporter, LeaksAndHoldersBecomeSeriesAndGoWhenNothingIsHeld)
{
    Harness h;
    h.r.finding(leak(100, "srv"));
    h.r.finding(leak(100, "srv"));
    h.r.finding(leak(200, "box"));
    LiveState st;
    st.now = 50 * kSec;
    st.summary.processes = {holder(100, "srv", 2, 31.5), holder(200, "box", 1, 40)};
    h.r.state(st);
    EXPECT_TRUE(h.has("closewait_trace_leaks_total{pid=\"100\",comm=\"srv\",owner=\"process\"} 2"))
        << h.r.exposition();
    EXPECT_TRUE(h.has("closewait_trace_leaks_total{pid=\"200\",comm=\"box\",container=\"0123456789ab\",owner="
                      "\"process\"} 1"));
    EXPECT_TRUE(h.has("closewait_trace_close_wait_sockets{pid=\"100\",comm=\"srv\",owner=\"process\"} 2"));
    EXPECT_TRUE(h.has(
        "closewait_trace_close_wait_oldest_age_seconds{pid=\"100\",comm=\"srv\",owner=\"process\"} 31.5"));
    // pid 100 closed its sockets: its gauges go, its counter stays (it lives).
    st.summary.processes = {holder(200, "box", 1, 45)};
    h.r.state(st);
    EXPECT_EQ(h.r.exposition().find("close_wait_sockets{pid=\"100\""), std::string::npos);
    EXPECT_TRUE(h.has("closewait_trace_leaks_total{pid=\"100\",comm=\"srv\",owner=\"process\"} 2"));
    // pid 100 exited: its counter series go too.
    h.dead.insert(100);
    h.r.state(st);
    EXPECT_EQ(h.r.exposition().find("pid=\"100\""), std::string::npos);
    EXPECT_EQ(h.written.size(), 4U);
}

TEST(MetricsReporter, QueuedCloseWaitsPerListenerAndListenerGauges)
{
    Harness h;
    LiveState st;
    st.now = 100 * kSec;
    ListenerSummary ls;
    ls.listener.local = v4("127.0.0.1", 9000);
    ls.listener.owner = ProcessRef{300, "stuck", 3};
    ls.queued_close_waits = 4;
    ls.oldest_age_s = 12;
    st.summary.listeners = {ls};
    ListenerInfo li;
    li.local = v4("127.0.0.1", 9000);
    li.queue = 5;
    li.backlog = 8;
    li.owners = {ProcessRef{300, "stuck", 3}};
    li.last_accept_ns = 90 * kSec;
    st.listeners = {li};
    h.r.state(st);
    EXPECT_TRUE(h.has("closewait_trace_close_wait_sockets{pid=\"300\",comm=\"stuck\",owner=\"accept_queue\","
                      "listener=\"127.0.0.1:9000\"} 4"))
        << h.r.exposition();
    EXPECT_TRUE(h.has(
        "closewait_trace_accept_queue_length{listener=\"127.0.0.1:9000\",pid=\"300\",comm=\"stuck\"} 5"));
    EXPECT_TRUE(h.has(
        "closewait_trace_accept_queue_backlog{listener=\"127.0.0.1:9000\",pid=\"300\",comm=\"stuck\"} 8"));
    EXPECT_TRUE(h.has("closewait_trace_seconds_since_last_accept{listener=\"127.0.0.1:9000\",pid=\"300\","
                      "comm=\"stuck\"} 10"));
}

TEST(MetricsReporter, AcceptErrorsShedOverflowsAndLostAccumulate)
{
    Harness h;
    AcceptErrorFinding e;
    e.process = ProcessRef{400, "nginx", 6};
    e.listener = ListenerView{v4("0.0.0.0", 80), {}, {}, {}};
    e.errno_name = "EMFILE";
    e.count = 1;
    h.r.finding(e);
    e.count = 56;
    e.shed = 3;
    h.r.finding(e);
    ListenOverflowFinding o;
    o.queue.listener = ListenerView{v4("0.0.0.0", 80), {}, {}, {}};
    o.drops = 9;
    h.r.finding(o);
    LostFinding lost;
    lost.count = 2;
    h.r.finding(lost);
    h.r.state(LiveState{});
    EXPECT_TRUE(
        h.has("closewait_trace_accept_errors_total{pid=\"400\",comm=\"nginx\",listener=\"0.0.0.0:80\","
              "errno=\"EMFILE\"} 57"))
        << h.r.exposition();
    EXPECT_TRUE(h.has(
        "closewait_trace_connections_shed_total{pid=\"400\",comm=\"nginx\",listener=\"0.0.0.0:80\"} 3"));
    EXPECT_TRUE(h.has("closewait_trace_listen_overflows_total{listener=\"0.0.0.0:80\"} 9"));
    EXPECT_TRUE(h.has("closewait_trace_lost_events_total 2"));
}

TEST(MetricsReporter, ManyProcessesAreCappedAndHostileNamesEscaped)
{
    std::vector<std::string> out;
    MetricsReporter r{MetricsOptions{10, "1"},
                      [&](const std::string& t) { out.push_back(t); },
                      kClock,
                      nullptr,
                      nullptr,
                      nullptr};
    r.start(StartInfo{});
    LiveState st;
    for (std::uint32_t pid = 1; pid <= 50; ++pid) {
        st.summary.processes.push_back(holder(pid, "x\"}\n" + std::to_string(pid), pid, pid));
        r.finding(leak(pid, "evil\\\"" + std::to_string(pid)));
    }
    r.state(st);
    EXPECT_EQ(r.model().series_count("closewait_trace_close_wait_sockets"), 10U);
    EXPECT_EQ(r.model().series_count("closewait_trace_leaks_total"), 10U);
    EXPECT_EQ(r.model().folded_count("closewait_trace_close_wait_sockets"), 41U);
    const std::string& text = out.back();
    EXPECT_NE(text.find("comm=\"x\\\"}\\n50\""), std::string::npos) << text;
    EXPECT_NE(
        text.find("closewait_trace_metrics_folded_series{metric=\"closewait_trace_close_wait_sockets\"} 41"),
        std::string::npos);
}

TEST(MetricsReporter, ABadFileStopsAtStartLaterFailuresWarnOnce)
{
    int calls = 0;
    auto failing = [&](const std::string&) {
        ++calls;
        throw UserError("cannot create /nope/.x.prom.tmp.1: No such file or directory",
                        "create the directory /nope");
    };
    MetricsReporter a{MetricsOptions{}, failing, kClock, nullptr, nullptr, nullptr};
    EXPECT_THROW(a.start(StartInfo{}), UserError);

    bool fail = false;
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* err = open_memstream(&buf, &len);
    MetricsReporter b{MetricsOptions{},
                      [&](const std::string&) {
                          if (fail)
                              throw UserError("cannot write x: No space left on device", "free space");
                      },
                      kClock,
                      nullptr,
                      nullptr,
                      err};
    b.start(StartInfo{});
    fail = true;
    b.state(LiveState{});
    b.state(LiveState{});
    b.summary(Summary{}, 1);
    std::fclose(err);
    std::string warnings(buf, len);
    std::free(buf);
    EXPECT_EQ(warnings,
              "closewait-trace: warning: metrics not written: cannot write x: No space left on device; "
              "free space\n");
}

// ---- journal ----------------------------------------------------------------

TEST(Journal, PrioritiesByFinding)
{
    EXPECT_EQ(journal_priority(LeakFinding{}), 4);
    EXPECT_EQ(journal_priority(AcceptErrorFinding{}), 3);
    EXPECT_EQ(journal_priority(LostFinding{}), 3);
    EXPECT_EQ(journal_priority(ClosedFinding{}), 6);
    CloseWaitFinding f;
    EXPECT_EQ(journal_priority(f), 6);
    f.sock.owner = OwnerKind::AcceptQueue;
    EXPECT_EQ(journal_priority(f), 4);
    EXPECT_EQ(journal_priority(AcceptStallFinding{}), 4);
    EXPECT_EQ(journal_priority(ListenOverflowFinding{}), 4);
}

TEST(Journal, OneLinePerFindingWithItsPrefix)
{
    EXPECT_EQ(journal_line(4, "a\n         b\n         c"), "<4>a b c");
    EXPECT_EQ(journal_line(6, "x\ty\x1b[1m"), "<6>x y [1m");
    EXPECT_EQ(journal_line(3, "end\n"), "<3>end");

    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* out = open_memstream(&buf, &len);
    std::FILE* err = std::tmpfile();
    auto r = make_journal_reporter(out, err, kClock);
    r->start(StartInfo{});
    LeakFinding f = std::get<LeakFinding>(leak(100, "srv"));
    f.detail = std::string(300, 'd'); // longer than a narrow human line: the journal's lines are wide
    r->finding(f);
    AcceptErrorFinding e;
    e.process = ProcessRef{1, "a", 3};
    e.errno_name = "EMFILE";
    r->finding(e);
    Summary s;
    s.processes = {holder(100, "srv", 1, 3)};
    r->summary(s, 5);
    r->flush();
    std::fclose(out);
    std::fclose(err);
    std::string text(buf, len);
    std::free(buf);
    std::vector<std::string> lines;
    for (std::size_t pos = 0; pos < text.size();) {
        auto nl = text.find('\n', pos);
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    ASSERT_GE(lines.size(), 4U) << text;
    for (const auto& l : lines)
        EXPECT_TRUE(l.rfind("<3>", 0) == 0 || l.rfind("<4>", 0) == 0 || l.rfind("<6>", 0) == 0) << l;
    EXPECT_EQ(lines[0].rfind("<6>TIME", 0), 0U);
    EXPECT_EQ(lines[1].rfind("<4>", 0), 0U);
    // The whole detail, on the one line.
    EXPECT_GE(std::count(lines[1].begin(), lines[1].end(), 'd'), 300);
    EXPECT_EQ(lines[2].rfind("<3>", 0), 0U);
    EXPECT_EQ(lines[3].rfind("<6>--- summary", 0), 0U);
}

TEST(Journal, StreamMatchesJournalStreamOnly)
{
    std::FILE* f = std::tmpfile();
    struct stat st {
    };
    ASSERT_EQ(fstat(fileno(f), &st), 0);
    unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(is_journal_stream(fileno(f)));
    std::string v = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", v.c_str(), 1);
    EXPECT_TRUE(is_journal_stream(fileno(f)));
    setenv("JOURNAL_STREAM", "1:2", 1);
    EXPECT_FALSE(is_journal_stream(fileno(f)));
    unsetenv("JOURNAL_STREAM");
    std::fclose(f);
}

// ---- container --------------------------------------------------------------

TEST(Container, IdFromCgroupPaths)
{
    const std::string id = "4f1c2a3b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70a";
    EXPECT_EQ(container_id_from_cgroup("0::/system.slice/docker-" + id + ".scope\n"), "4f1c2a3b5d6e");
    EXPECT_EQ(container_id_from_cgroup("12:memory:/docker/" + id + "\n0::/\n"), "4f1c2a3b5d6e");
    EXPECT_EQ(container_id_from_cgroup(
                  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/"
                  "cri-containerd-" +
                  id + ".scope"),
              "4f1c2a3b5d6e");
    EXPECT_EQ(container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"), "");
    EXPECT_EQ(container_id_from_cgroup("0::/\n"), "");
    EXPECT_EQ(container_id_from_cgroup("garbage"), "");
    EXPECT_EQ(container_id_from_cgroup("0::/x/" + id + "0\n"), ""); // 65 digits: not an id
}

} // namespace
} // namespace cwt
