// End-to-end tests of closewait-trace against real loopback traffic.
//
// Every test runs the real tool (--json, a --duration bound) and separate
// scenario processes (tests/integration/scenarios/), and compares the tool's
// findings socket-for-socket with `ss -tanpe`, filtered by the test's own
// port. They need root (BPF); without it every test is skipped.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

constexpr double kStartTimeout = 20;  // BPF load + attach + inventory
constexpr double kStepTimeout = 10;   // scenario steps
constexpr double kExitTimeout = 10;   // tool exit after SIGINT

std::string str(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return "<null>";
    if (it->is_string())
        return it->get<std::string>();
    return it->dump();
}

std::string tuple_key(const std::string& local, const std::string& remote) { return local + " -> " + remote; }
std::string tuple_key(const json& f) { return tuple_key(str(f, "local"), str(f, "remote")); }
std::string tuple_key(const SsSock& s) { return tuple_key(s.local, s.peer); }

int port_of(const std::string& endpoint)
{
    auto c = endpoint.rfind(':');
    return c == std::string::npos ? -1 : std::stoi(endpoint.substr(c + 1));
}

std::string dump_all(const std::vector<json>& v)
{
    std::string s;
    for (const auto& j : v)
        s += "  " + j.dump() + "\n";
    return s;
}

std::string dump_ss(const std::vector<SsSock>& v)
{
    std::string s;
    for (const auto& x : v)
        s += "  " + x.raw + "\n";
    return s;
}

// Findings of `type`, indexed by "local -> remote"; fails on duplicates
// (each socket is reported once per type).
std::map<std::string, json> index_by_tuple(const std::vector<json>& findings, const std::string& what)
{
    std::map<std::string, json> m;
    for (const auto& f : findings) {
        auto k = tuple_key(f);
        EXPECT_EQ(m.count(k), 0U) << what << " reported twice for " << k << ":\n" << dump_all(findings);
        m[k] = f;
    }
    return m;
}

std::unique_ptr<Proc> spawn(const std::string& name, std::vector<std::string> args)
{
    args.insert(args.begin(), scenario(name));
    return std::make_unique<Proc>(std::move(args));
}

// Waits for a scenario's "LISTEN pid= fd= local= port= backlog=" line.
std::map<std::string, std::string> wait_listen(Proc& p)
{
    auto l = p.wait_line("LISTEN ", kStepTimeout);
    if (!l)
        return {};
    return kv(*l);
}

class ClosewaitTrace : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "SKIPPED: needs root to load BPF programs";
    }

    // Starts the tool and waits for its start line.
    std::unique_ptr<Tool> start_tool(const std::vector<std::string>& args, json& start)
    {
        auto t = std::make_unique<Tool>(args);
        start = t->wait_start(kStartTimeout);
        EXPECT_TRUE(start.is_object()) << "no start line from closewait-trace\n" << t->proc().all_output();
        return t;
    }

    // Stops the tool with SIGINT; expects exit code 0 and a summary as the
    // last line; returns the summary.
    json stop_tool(Tool& tool)
    {
        int rc = tool.interrupt(kExitTimeout);
        EXPECT_EQ(rc, 0) << tool.proc().all_output();
        auto ev = tool.events();
        EXPECT_FALSE(ev.empty());
        if (ev.empty())
            return json();
        EXPECT_EQ(str(ev.back(), "type"), "summary") << "last line is not the summary\n" << tool.proc().all_output();
        auto s = tool.summary();
        return s ? *s : json();
    }

    // No line of the tool's output may be anything but a known JSON object.
    void expect_clean_output(Tool& tool)
    {
        static const std::set<std::string> known = {"start", "close_wait", "close_wait_leak", "close_wait_closed",
                                                    "accept_error", "lost", "summary"};
        for (const auto& j : tool.events())
            EXPECT_TRUE(known.count(str(j, "type"))) << "unexpected output line: " << j.dump();
        EXPECT_EQ(tool.count("lost"), 0U) << tool.proc().all_output();
    }
};

// Common checks of a finding owned by one process fd, against ss's record.
void expect_owned(const json& f, const SsSock& s, int pid, const std::string& comm)
{
    SCOPED_TRACE("finding: " + f.dump() + "\nss: " + s.raw);
    ASSERT_EQ(s.users.size(), 1U) << "ss should show exactly one owner";
    EXPECT_EQ(s.users[0].pid, pid);
    EXPECT_EQ(s.users[0].comm, comm);
    EXPECT_NE(s.ino, 0U);
    EXPECT_EQ(str(f, "owner"), "process");
    EXPECT_EQ(f.value("pid", -1), s.users[0].pid);
    EXPECT_EQ(str(f, "comm"), s.users[0].comm);
    EXPECT_EQ(f.value("fd", -1), s.users[0].fd);
    EXPECT_FALSE(f.contains("owners")) << "owners[] is only for sockets with more than one fd";
    EXPECT_EQ(str(f, "local"), s.local);
    EXPECT_EQ(str(f, "remote"), s.peer);
}

// A queued (never accepted) CLOSE_WAIT against ss and the listener's owner.
void expect_queued(const json& f, const SsSock& s, const std::map<std::string, std::string>& lsn,
                   const std::string& lsn_comm)
{
    SCOPED_TRACE("finding: " + f.dump() + "\nss: " + s.raw);
    EXPECT_TRUE(s.users.empty()) << "ss shows no process for a queued socket";
    EXPECT_EQ(s.ino, 0U);
    EXPECT_EQ(str(f, "owner"), "accept_queue");
    EXPECT_TRUE(f.at("pid").is_null());
    EXPECT_TRUE(f.at("fd").is_null());
    EXPECT_FALSE(f.contains("owners"));
    EXPECT_EQ(str(f, "local"), s.local);
    EXPECT_EQ(str(f, "remote"), s.peer);
    ASSERT_TRUE(f.contains("listener") && f.at("listener").is_object()) << "queued socket without a listener";
    const json& l = f.at("listener");
    EXPECT_EQ(str(l, "local"), lsn.at("local"));
    EXPECT_EQ(str(l, "pid"), lsn.at("pid"));
    EXPECT_EQ(str(l, "comm"), lsn_comm);
    EXPECT_EQ(str(l, "fd"), lsn.at("fd"));
    EXPECT_EQ(str(l, "backlog"), lsn.at("backlog"));
}

} // namespace

// ---------------------------------------------------------------------------
// (a) A server accepts connections and never closes them; the peers close.
// Each socket must be reported once as close_wait_leak, after the threshold,
// with the server's pid and the accepted fd, exactly as ss shows it.
class AcceptedLeak : public ClosewaitTrace {
protected:
    void run(bool v6)
    {
        const std::string addr = v6 ? "::1" : "127.0.0.1";
        const int kConns = 5;
        const double kThreshold = 1.0;
        const int port = free_port(v6);
        const std::string P = std::to_string(port);

        // The listener appears after the tool started: it is found on demand.
        json start;
        auto tool = start_tool({"--json", "-t", "1", "-d", "30", "--port", P}, start);
        ASSERT_TRUE(start.is_object());
        EXPECT_EQ(start.at("filters").at("port"), port);
        EXPECT_TRUE(start.at("filters").at("pid").is_null());
        EXPECT_DOUBLE_EQ(start.at("filters").at("threshold_s").get<double>(), kThreshold);
        EXPECT_EQ(start.value("preexisting_close_wait", -1), 0);
        EXPECT_FALSE(str(start, "tier").empty());
        EXPECT_FALSE(str(start, "kernel").empty());

        auto srv = spawn("cwt_leak_srv", {"--addr", addr, "--port", P, "--backlog", "16"});
        auto lsn = wait_listen(*srv);
        ASSERT_FALSE(lsn.empty()) << srv->all_output();
        auto cli = spawn("cwt_peer_cli", {"--addr", addr, "--port", P, "--count", std::to_string(kConns),
                                          "--send", "hello"});
        ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
        ASSERT_TRUE(srv->wait_until([&] { return srv->count_lines("ACCEPT ") == kConns; }, kStepTimeout))
            << srv->all_output();
        // Truth from the server itself: accepted fd per peer address.
        std::map<std::string, int> fd_of_peer;
        for (const auto& l : srv->lines_with("ACCEPT "))
            fd_of_peer[kv(l)["remote"]] = std::stoi(kv(l)["fd"]);

        cli->send("close\n");
        ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
        auto closed_at = Clock::now();
        std::vector<SsSock> cw;
        ASSERT_TRUE(poll_until([&] { return (cw = ss_state(ss_port(port), "CLOSE-WAIT")).size() == kConns; },
                               kStepTimeout))
            << dump_ss(ss_port(port));

        ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();
        // Let a few more scans run: nothing may be reported twice.
        tool->proc().wait_until([] { return false; }, 0.5);
        for (const auto& l : tool->proc().lines()) {
            if (l.text.find("\"close_wait_leak\"") != std::string::npos) {
                EXPECT_GE(std::chrono::duration<double>(l.at - closed_at).count(), kThreshold - 0.2)
                    << "leak reported before the threshold: " << l.text;
            }
        }

        auto ss_now = ss_state(ss_port(port), "CLOSE-WAIT");
        ASSERT_EQ(ss_now.size(), static_cast<size_t>(kConns)) << dump_ss(ss_port(port));
        auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
        ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
        std::vector<int> ss_fds;
        for (const auto& s : ss_now) {
            auto it = leaks.find(tuple_key(s));
            ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n" << tool->proc().all_output();
            const json& f = it->second;
            expect_owned(f, s, srv->pid(), "cwt_leak_srv");
            EXPECT_EQ(f.value("fd", -1), fd_of_peer[s.peer]) << "fd differs from the one accept() returned";
            EXPECT_EQ(s.local, lsn["local"]);
            EXPECT_EQ(f.value("preexisting", true), false);
            ASSERT_TRUE(f.at("age_s").is_number()) << f.dump();
            EXPECT_GE(f.at("age_s").get<double>(), kThreshold) << f.dump();
            // "hello" unread plus the FIN, as ss counts it.
            EXPECT_EQ(str(f, "recv_q"), std::to_string(s.recv_q)) << f.dump();
            EXPECT_EQ(s.recv_q, 6U);
            if (f.contains("listener") && f.at("listener").is_object()) {
                EXPECT_EQ(str(f.at("listener"), "local"), lsn["local"]) << f.dump();
                EXPECT_EQ(str(f.at("listener"), "pid"), lsn["pid"]) << f.dump();
            }
            ss_fds.push_back(s.users.at(0).fd);
        }
        expect_clean_output(*tool);

        json sum = stop_tool(*tool);
        ASSERT_TRUE(sum.is_object());
        EXPECT_EQ(sum.value("open_close_wait", -1), kConns) << sum.dump();
        EXPECT_EQ(sum.value("leaks_reported", -1), kConns) << sum.dump();
        EXPECT_EQ(sum.value("lost_events", -1), 0) << sum.dump();
        EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
        ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
        const json& p = sum.at("processes").at(0);
        EXPECT_EQ(p.value("pid", -1), srv->pid());
        EXPECT_EQ(str(p, "comm"), "cwt_leak_srv");
        EXPECT_EQ(p.value("close_wait", -1), kConns);
        EXPECT_GE(p.value("oldest_age_s", 0.0), kThreshold);
        std::sort(ss_fds.begin(), ss_fds.end());
        EXPECT_EQ(p.at("fds").get<std::vector<int>>(), ss_fds) << sum.dump();
        EXPECT_TRUE(sum.at("listeners").empty()) << sum.dump();
    }
};

TEST_F(AcceptedLeak, IPv4ServerLeaksAcceptedSockets) { run(false); }
TEST_F(AcceptedLeak, IPv6ServerLeaksAcceptedSockets) { run(true); }

// ---------------------------------------------------------------------------
// (b) A listener that never accepts (backlog 16); clients connect and close.
// Each queued CLOSE_WAIT is reported at once as close_wait with owner
// accept_queue and the listener's address and owner; ss shows no process.
TEST_F(ClosewaitTrace, AcceptQueueCloseWaitsAttributedToListener)
{
    const int kConns = 8;
    auto srv = spawn("cwt_stuck_lsn", {"--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    const std::string P = lsn["port"];

    json start;
    auto tool = start_tool({"--json", "-t", "2", "-d", "30", "--port", P}, start);
    ASSERT_TRUE(start.is_object());
    EXPECT_EQ(start.value("preexisting_close_wait", -1), 0);

    auto cli = spawn("cwt_peer_cli", {"--port", P, "--count", std::to_string(kConns), "--send", "hi"});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto l = ss_state(ss_port(port), "LISTEN");
            return l.size() == 1 && l[0].recv_q == static_cast<std::uint32_t>(kConns);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));
    cli->send("close\n");
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
    auto closed_at = Clock::now();

    auto queued = [](const json& j) { return str(j, "owner") == "accept_queue"; };
    ASSERT_TRUE(tool->wait_count("close_wait", kConns, kStepTimeout, queued)) << tool->proc().all_output();
    // "Printed at once": well before the 2 s leak threshold.
    for (const auto& l : tool->proc().lines()) {
        if (l.text.find("\"type\":\"close_wait\"") != std::string::npos) {
            EXPECT_LT(std::chrono::duration<double>(l.at - closed_at).count(), 1.5) << l.text;
        }
    }
    // After the threshold they are leaks too, still without a process.
    ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();

    auto all = ss_port(port);
    auto cw = ss_state(all, "CLOSE-WAIT");
    auto listeners = ss_state(all, "LISTEN");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kConns)) << dump_ss(all);
    ASSERT_EQ(listeners.size(), 1U) << dump_ss(all);
    EXPECT_EQ(listeners[0].recv_q, static_cast<std::uint32_t>(kConns));
    EXPECT_EQ(listeners[0].send_q, 16U);
    ASSERT_EQ(listeners[0].users.size(), 1U);
    EXPECT_EQ(listeners[0].users[0].pid, srv->pid());
    EXPECT_EQ(listeners[0].users[0].comm, "cwt_stuck_lsn");
    EXPECT_EQ(listeners[0].local, lsn["local"]);

    auto events = tool->events_of("close_wait");
    auto cws = index_by_tuple(events, "close_wait");
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(cws.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    for (const auto& s : cw) {
        for (auto* m : {&cws, &leaks}) {
            auto it = m->find(tuple_key(s));
            ASSERT_NE(it, m->end()) << "ss socket not reported: " << s.raw << "\n" << tool->proc().all_output();
            expect_queued(it->second, s, lsn, "cwt_stuck_lsn");
            EXPECT_EQ(str(it->second.at("listener"), "queue"), std::to_string(kConns)) << it->second.dump();
            EXPECT_EQ(it->second.value("preexisting", true), false);
        }
        // The close_wait line comes before the leak line of the same socket.
        EXPECT_LE(cws[tuple_key(s)].at("age_s").get<double>(), 1.0);
    }
    expect_clean_output(*tool);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), kConns) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    EXPECT_TRUE(sum.at("processes").empty()) << sum.dump();
    ASSERT_EQ(sum.at("listeners").size(), 1U) << sum.dump();
    const json& l = sum.at("listeners").at(0);
    EXPECT_EQ(str(l, "local"), lsn["local"]);
    EXPECT_EQ(l.value("pid", -1), srv->pid());
    EXPECT_EQ(str(l, "comm"), "cwt_stuck_lsn");
    EXPECT_EQ(l.value("queued_close_wait", -1), kConns);
    EXPECT_EQ(l.value("queue", -1), kConns);
    EXPECT_EQ(l.value("backlog", -1), 16);
}

// ---------------------------------------------------------------------------
// (c) An outbound client whose server closes first and which never closes
// its side: a close_wait_leak with the client's pid and fd.
TEST_F(ClosewaitTrace, OutboundClientLeak)
{
    const int kConns = 3;
    auto srv = spawn("cwt_closing_srv", {});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);

    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "30", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());

    auto cli = spawn("cwt_leaky_cli", {"--port", lsn["port"], "--count", std::to_string(kConns)});
    ASSERT_TRUE(cli->wait_line("ALL_EOF", kStepTimeout)) << cli->all_output() << srv->all_output();
    std::map<std::string, int> fd_of_local;
    for (const auto& l : cli->lines_with("CONNECT "))
        fd_of_local[kv(l)["local"]] = std::stoi(kv(l)["fd"]);

    std::vector<SsSock> cw;
    ASSERT_TRUE(poll_until([&] { return (cw = ss_state(ss_port(port), "CLOSE-WAIT")).size() == kConns; },
                           kStepTimeout))
        << dump_ss(ss_port(port));
    ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();
    tool->proc().wait_until([] { return false; }, 0.3);

    cw = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kConns));
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n" << tool->proc().all_output();
        const json& f = it->second;
        expect_owned(f, s, cli->pid(), "cwt_leaky_cli");
        EXPECT_EQ(f.value("fd", -1), fd_of_local[s.local]);
        EXPECT_EQ(str(f, "remote"), lsn["local"]);
        EXPECT_TRUE(f.at("listener").is_null()) << "an outbound socket has no listener: " << f.dump();
        ASSERT_TRUE(f.at("age_s").is_number());
        EXPECT_GE(f.at("age_s").get<double>(), 1.0);
        ss_fds.push_back(s.users.at(0).fd);
    }
    expect_clean_output(*tool);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
    const json& p = sum.at("processes").at(0);
    EXPECT_EQ(p.value("pid", -1), cli->pid());
    EXPECT_EQ(str(p, "comm"), "cwt_leaky_cli");
    EXPECT_EQ(p.value("close_wait", -1), kConns);
    std::sort(ss_fds.begin(), ss_fds.end());
    EXPECT_EQ(p.at("fds").get<std::vector<int>>(), ss_fds);
    EXPECT_EQ(sum.value("leaks_reported", -1), kConns);
    EXPECT_TRUE(sum.at("listeners").empty());
}

// ---------------------------------------------------------------------------
// (d) A correct server under churn: thousands of connect/request/close
// cycles, half closed by the client first and half by the server first.
// No leak may be reported and nothing may be lost.
TEST_F(ClosewaitTrace, ChurnOfCorrectConnectionsReportsNothing)
{
    const int kCycles = 3000;
    const double kDuration = 8;
    auto srv = spawn("cwt_churn_srv", {});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);

    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "8", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());
    auto started = Clock::now();

    auto cli = spawn("cwt_churn_cli", {"--port", lsn["port"], "--count", std::to_string(kCycles)});
    auto done = cli->wait_line("DONE", 25);
    ASSERT_TRUE(done) << cli->all_output();
    EXPECT_EQ(kv(*done)["n"], std::to_string(kCycles));
    // The tool must keep running past the churn by more than the threshold,
    // or a slow leak could go unseen.
    ASSERT_LT(seconds_since(started), kDuration - 2.0)
        << "churn took too long for the tool's --duration; the test is inconclusive";
    EXPECT_TRUE(srv->wait_until([&] { return srv->count_lines("SERVED ") >= kCycles / 500; }, kStepTimeout))
        << srv->all_output();

    // --duration ends the tool by itself.
    ASSERT_TRUE(tool->proc().wait_exit(kDuration + kExitTimeout)) << tool->proc().all_output();
    EXPECT_EQ(tool->proc().exit_code(), 0) << tool->proc().all_output();
    auto ev = tool->events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(str(ev.back(), "type"), "summary");
    EXPECT_EQ(tool->count("close_wait_leak"), 0U) << tool->proc().all_output();
    EXPECT_EQ(tool->count("close_wait"), 0U) << tool->proc().all_output();
    expect_clean_output(*tool);
    auto sum = tool->summary();
    ASSERT_TRUE(sum) << tool->proc().all_output();
    EXPECT_EQ(sum->value("lost_events", -1), 0) << sum->dump();
    EXPECT_EQ(sum->value("leaks_reported", -1), 0) << sum->dump();
    EXPECT_EQ(sum->value("open_close_wait", -1), 0) << sum->dump();
    EXPECT_TRUE(sum->at("processes").empty()) << sum->dump();
    EXPECT_TRUE(sum->at("listeners").empty()) << sum->dump();
    EXPECT_TRUE(ss_state(ss_port(port), "CLOSE-WAIT").empty()) << dump_ss(ss_port(port));
}

// ---------------------------------------------------------------------------
// (e) CLOSE_WAITs that exist before the tool starts: 3 accepted-and-leaked
// plus 4 never accepted on the same listener. All are reported at attach
// (well before the 30 s threshold) with "preexisting":true, matching ss, and
// the start line counts them. When the server then dies, each is reported
// closed (accepted: by the application; queued: listener_closed).
TEST_F(ClosewaitTrace, PreexistingCloseWaitsReportedAtAttach)
{
    const int kAccepted = 3, kQueued = 4, kTotal = kAccepted + kQueued;
    auto srv = spawn("cwt_leak_srv", {"--accept", std::to_string(kAccepted), "--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    // No payload: the accepted sockets hold only the FIN, so closing them is
    // an orderly CLOSE_WAIT -> LAST_ACK.
    auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kTotal)});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(srv->wait_line("STOPPED_ACCEPTING", kStepTimeout)) << srv->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto l = ss_state(ss_port(port), "LISTEN");
            return l.size() == 1 && l[0].recv_q == static_cast<std::uint32_t>(kQueued);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));
    cli->send("close\n");
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
    std::vector<SsSock> before;
    ASSERT_TRUE(poll_until([&] { return (before = ss_state(ss_port(port), "CLOSE-WAIT")).size() == kTotal; },
                           kStepTimeout))
        << dump_ss(ss_port(port));

    json start;
    auto tool = start_tool({"--json", "-t", "30", "-d", "30", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());
    auto started = Clock::now();
    EXPECT_EQ(start.value("preexisting_close_wait", -1), kTotal) << start.dump();

    ASSERT_TRUE(tool->wait_count("close_wait_leak", kTotal, 5)) << tool->proc().all_output();
    EXPECT_LT(seconds_since(started), 5.0);
    tool->proc().wait_until([] { return false; }, 0.3);

    auto cw = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kTotal)) << dump_ss(ss_port(port));
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kTotal)) << tool->proc().all_output();
    int owned = 0, queued = 0;
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n" << tool->proc().all_output();
        const json& f = it->second;
        EXPECT_EQ(f.value("preexisting", false), true) << f.dump();
        EXPECT_TRUE(f.at("age_s").is_null()) << "age of a pre-existing socket is unknown: " << f.dump();
        if (s.users.empty()) {
            ++queued;
            expect_queued(f, s, lsn, "cwt_leak_srv");
        } else {
            ++owned;
            expect_owned(f, s, srv->pid(), "cwt_leak_srv");
            ss_fds.push_back(s.users[0].fd);
        }
        EXPECT_EQ(str(f, "recv_q"), std::to_string(s.recv_q)) << f.dump() << "\n" << s.raw;
    }
    EXPECT_EQ(owned, kAccepted);
    EXPECT_EQ(queued, kQueued);

    // The server dies: its accepted sockets are closed by the application
    // and its listener's queue is torn down.
    srv->signal(SIGKILL);
    ASSERT_TRUE(srv->wait_exit(kStepTimeout));
    ASSERT_TRUE(tool->wait_count("close_wait_closed", kTotal, kStepTimeout)) << tool->proc().all_output();
    auto closed = index_by_tuple(tool->events_of("close_wait_closed"), "close_wait_closed");
    for (const auto& s : cw) {
        auto it = closed.find(tuple_key(s));
        ASSERT_NE(it, closed.end()) << s.raw << "\n" << tool->proc().all_output();
        const json& f = it->second;
        EXPECT_EQ(f.value("was_leak", false), true) << f.dump();
        EXPECT_EQ(f.value("preexisting", false), true) << f.dump();
        EXPECT_EQ(str(f, "closed_by"), s.users.empty() ? "listener_closed" : "application") << f.dump();
    }
    expect_clean_output(*tool);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("leaks_reported", -1), kTotal) << sum.dump();
    EXPECT_EQ(sum.value("lost_events", -1), 0) << sum.dump();
}

// ---------------------------------------------------------------------------
// (f) -p PID without --port: only that process's sockets, while another
// process leaks on another port (before and after the tool starts).
TEST_F(ClosewaitTrace, PidFilterShowsOnlyThatProcess)
{
    auto a = spawn("cwt_leak_srv", {});
    auto b = spawn("cwt_leak_srv", {});
    auto la = wait_listen(*a), lb = wait_listen(*b);
    ASSERT_FALSE(la.empty() || lb.empty()) << a->all_output() << b->all_output();
    const int pa = std::stoi(la["port"]), pb = std::stoi(lb["port"]);

    // Leak 2 on each before the tool starts, 3 on each after.
    auto leak_on = [&](Proc& srv, const std::string& port, int n, std::size_t accepted_before) {
        auto cli = spawn("cwt_peer_cli", {"--port", port, "--count", std::to_string(n)});
        EXPECT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
        EXPECT_TRUE(srv.wait_until([&] { return srv.count_lines("ACCEPT ") == accepted_before + n; }, kStepTimeout))
            << srv.all_output();
        cli->send("close\n");
        EXPECT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
        return cli;
    };
    auto ca1 = leak_on(*a, la["port"], 2, 0);
    auto cb1 = leak_on(*b, lb["port"], 2, 0);
    ASSERT_TRUE(poll_until(
        [&] { return ss_state(ss_port(pa), "CLOSE-WAIT").size() == 2 && ss_state(ss_port(pb), "CLOSE-WAIT").size() == 2; },
        kStepTimeout));

    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "30", "-p", std::to_string(a->pid())}, start);
    ASSERT_TRUE(start.is_object());
    EXPECT_EQ(start.at("filters").at("pid"), a->pid());
    EXPECT_TRUE(start.at("filters").at("port").is_null());

    auto ca2 = leak_on(*a, la["port"], 3, 2);
    auto cb2 = leak_on(*b, lb["port"], 3, 2);
    auto closed_at = Clock::now();
    ASSERT_TRUE(poll_until(
        [&] { return ss_state(ss_port(pa), "CLOSE-WAIT").size() == 5 && ss_state(ss_port(pb), "CLOSE-WAIT").size() == 5; },
        kStepTimeout));

    auto is_a = [&](const json& j) { return j.value("pid", -1) == a->pid(); };
    ASSERT_TRUE(tool->wait_count("close_wait_leak", 5, kStepTimeout, is_a)) << tool->proc().all_output();
    // Give B's post-start leaks (same threshold) every chance to show up.
    tool->proc().wait_until([&] { return seconds_since(closed_at) > 2.5; }, 5);

    for (const auto& j : tool->events()) {
        std::string type = str(j, "type");
        if (type != "close_wait" && type != "close_wait_leak" && type != "close_wait_closed")
            continue;
        bool mine = j.value("pid", -1) == a->pid() ||
                    (str(j, "owner") == "accept_queue" && j.at("listener").is_object() &&
                     j.at("listener").value("pid", -1) == a->pid());
        EXPECT_TRUE(mine) << "finding for another process with -p " << a->pid() << ": " << j.dump();
        EXPECT_NE(j.value("pid", -1), b->pid()) << j.dump();
        EXPECT_NE(port_of(str(j, "local")), pb) << j.dump();
        EXPECT_NE(port_of(str(j, "remote")), pb) << j.dump();
    }

    auto cw = ss_state(ss_port(pa), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), 5U);
    std::vector<json> a_leaks;
    for (const auto& j : tool->events_of("close_wait_leak"))
        if (is_a(j))
            a_leaks.push_back(j);
    auto leaks = index_by_tuple(a_leaks, "close_wait_leak");
    ASSERT_EQ(leaks.size(), 5U) << tool->proc().all_output();
    int pre = 0;
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << s.raw << "\n" << tool->proc().all_output();
        expect_owned(it->second, s, a->pid(), "cwt_leak_srv");
        pre += it->second.value("preexisting", false) ? 1 : 0;
        ss_fds.push_back(s.users.at(0).fd);
    }
    EXPECT_EQ(pre, 2);
    expect_clean_output(*tool);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
    EXPECT_EQ(sum.at("processes").at(0).value("pid", -1), a->pid());
    EXPECT_EQ(sum.at("processes").at(0).value("close_wait", -1), 5);
    std::sort(ss_fds.begin(), ss_fds.end());
    EXPECT_EQ(sum.at("processes").at(0).at("fds").get<std::vector<int>>(), ss_fds);
    EXPECT_EQ(sum.value("open_close_wait", -1), 5) << sum.dump();
    EXPECT_EQ(sum.value("leaks_reported", -1), 5) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    EXPECT_TRUE(sum.at("listeners").empty()) << sum.dump();
}

// ---------------------------------------------------------------------------
// (g) Bad input: exit code 2, one line on stderr, nothing on stdout, and no
// BPF program or link left behind.
TEST_F(ClosewaitTrace, BadInputExitsWithTwoAndLeavesNothingAttached)
{
    const auto before = closewait_bpf_objects();
    const std::string dead = std::to_string(dead_pid());
    const std::vector<std::vector<std::string>> cases = {
        {"--json", "-d", "2", "-p", dead},
        {"--json", "-d", "2", "-t", "abc"},
        {"--json", "-d", "2", "-t", "-1"},
        {"--json", "-d", "2", "-t", "0"},
        {"--json", "-d", "2", "--no-such-flag"},
        {"--json", "-d", "2", "--port", "70000"},
    };
    for (const auto& args : cases) {
        std::string cmd;
        for (const auto& a : args)
            cmd += " " + a;
        SCOPED_TRACE("closewait-trace" + cmd);
        Tool tool(args);
        ASSERT_TRUE(tool.proc().wait_exit(kExitTimeout));
        EXPECT_EQ(tool.proc().exit_code(), 2) << tool.proc().all_output();
        EXPECT_TRUE(tool.proc().lines().empty()) << tool.proc().all_output();
        const std::string& err = tool.proc().err();
        EXPECT_FALSE(err.empty());
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "stderr: " << err;
        EXPECT_EQ(err.back(), '\n') << "stderr: " << err;
        EXPECT_NE(err.find("error"), std::string::npos) << "stderr: " << err;
    }

    // Anything new that is still there is a leftover. (Another instance of the
    // tool started meanwhile by someone else would come and go: re-check.)
    bool clean = poll_until(
        [&] {
            auto now = closewait_bpf_objects();
            for (auto id : now.progs)
                if (!before.progs.count(id))
                    return false;
            for (auto id : now.links)
                if (!before.links.count(id))
                    return false;
            return true;
        },
        3);
    EXPECT_TRUE(clean) << "BPF objects left behind:\n" << closewait_bpf_objects().describe;
}
