// End-to-end tests of closewait-trace against real loopback traffic.
//
// Every test runs the real tool (--json, a --duration bound) and separate
// scenario processes (tests/integration/scenarios/), and compares the tool's
// findings socket-for-socket with `ss -tanpe`, filtered by the test's own
// port. They need root (BPF); without it every test is skipped.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "harness.hpp"
#include "scenarios/scm_rights.hpp"

using namespace itest;

namespace
{

constexpr double kStartTimeout = 20; // BPF load + attach + inventory
constexpr double kStepTimeout = 10;  // scenario steps
constexpr double kExitTimeout = 10;  // tool exit after SIGINT

std::string str(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return "<null>";
    if (it->is_string())
        return it->get<std::string>();
    return it->dump();
}

std::string tuple_key(const std::string& local, const std::string& remote)
{
    return local + " -> " + remote;
}
std::string tuple_key(const json& f)
{
    return tuple_key(str(f, "local"), str(f, "remote"));
}
std::string tuple_key(const SsSock& s)
{
    return tuple_key(s.local, s.peer);
}

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

class ClosewaitTrace : public ::testing::Test
{
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
        if (start.is_object()) {
            EXPECT_EQ(str(t->events().front(), "type"), "start") << "the start line must come first";
            EXPECT_NE(str(start, "tier"), "<null>");
            EXPECT_NE(str(start, "kernel"), "<null>");
            EXPECT_TRUE(start.contains("filters") && start.at("filters").is_object()) << start.dump();
        }
        return t;
    }

    // Stops the tool with SIGINT (or SIGTERM); expects exit code 0 and a
    // summary as the last line; returns the summary.
    json stop_tool(Tool& tool, int sig = SIGINT)
    {
        tool.proc().signal(sig);
        bool exited = tool.proc().wait_exit(kExitTimeout);
        EXPECT_TRUE(exited) << "closewait-trace did not exit on signal " << sig;
        EXPECT_EQ(tool.proc().exit_code(), 0) << tool.proc().all_output();
        auto ev = tool.events();
        EXPECT_FALSE(ev.empty());
        if (ev.empty())
            return json();
        EXPECT_EQ(str(ev.back(), "type"), "summary") << "last line is not the summary\n"
                                                     << tool.proc().all_output();
        auto s = tool.summary();
        return s ? *s : json();
    }

    // No line of the tool's output may be anything but a known JSON object,
    // and (unless allowed) nothing may be lost.
    void expect_clean_output(Tool& tool, bool allow_lost = false)
    {
        static const std::set<std::string> known = {
            "start",        "close_wait",      "close_wait_leak", "close_wait_closed",
            "accept_error", "listen_overflow", "accept_stall",    "lost",
            "summary"};
        for (const auto& j : tool.events())
            EXPECT_TRUE(known.count(str(j, "type"))) << "unexpected output line: " << j.dump();
        if (!allow_lost) {
            EXPECT_EQ(tool.count("lost"), 0U) << tool.proc().all_output();
        }
    }

    // Lets the tool run for `seconds` more, reading its output.
    void keep_running(Tool& tool, double seconds)
    {
        tool.proc().wait_until([] { return false; }, seconds);
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
class AcceptedLeak : public ClosewaitTrace
{
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
        EXPECT_EQ(start.at("filters").value("verbose", true), false);

        auto srv = spawn("cwt_leak_srv", {"--addr", addr, "--port", P, "--backlog", "16"});
        auto lsn = wait_listen(*srv);
        ASSERT_FALSE(lsn.empty()) << srv->all_output();
        auto cli = spawn("cwt_peer_cli",
                         {"--addr", addr, "--port", P, "--count", std::to_string(kConns), "--send", "hello"});
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
        keep_running(*tool, 0.5);
        for (const auto& [j, at] : tool->timed_events()) {
            if (str(j, "type") == "close_wait_leak") {
                EXPECT_GE(std::chrono::duration<double>(at - closed_at).count(), kThreshold - 0.2)
                    << "leak reported before the threshold: " << j.dump();
            }
        }

        auto ss_now = ss_state(ss_port(port), "CLOSE-WAIT");
        ASSERT_EQ(ss_now.size(), static_cast<size_t>(kConns)) << dump_ss(ss_port(port));
        auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
        ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
        std::vector<int> ss_fds;
        for (const auto& s : ss_now) {
            auto it = leaks.find(tuple_key(s));
            ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n"
                                       << tool->proc().all_output();
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

TEST_F(AcceptedLeak, IPv4ServerLeaksAcceptedSockets)
{
    run(false);
}
TEST_F(AcceptedLeak, IPv6ServerLeaksAcceptedSockets)
{
    run(true);
}

// ---------------------------------------------------------------------------
// (b) A listener that never accepts (backlog 16); clients connect and close.
// Each queued CLOSE_WAIT is reported at once as close_wait with owner
// accept_queue and the listener's address and owner; ss shows no process.
// The listener is bound to 127.0.0.1, or to 0.0.0.0 (then the queued
// sockets' local address differs from the listener's).
class AcceptQueue : public ClosewaitTrace
{
  protected:
    void run(const std::string& listen_addr);
};

TEST_F(AcceptQueue, LoopbackListener)
{
    run("127.0.0.1");
}
TEST_F(AcceptQueue, WildcardListener)
{
    run("0.0.0.0");
}

void AcceptQueue::run(const std::string& listen_addr)
{
    const int kConns = 8;
    const double kThreshold = 3;
    auto srv = spawn("cwt_stuck_lsn", {"--addr", listen_addr, "--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    const std::string P = lsn["port"];

    json start;
    auto tool = start_tool({"--json", "-t", "3", "-d", "30", "--port", P}, start);
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
    // After the threshold they are leaks too, still without a process.
    ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();
    keep_running(*tool, 0.3);

    // "Printed at once": each close_wait line arrives before the threshold,
    // and before the leak line of the same socket.
    std::map<std::string, std::size_t> cw_line, leak_line;
    auto timed = tool->timed_events();
    for (std::size_t i = 0; i < timed.size(); ++i) {
        const auto& [j, at] = timed[i];
        if (str(j, "type") == "close_wait") {
            cw_line[tuple_key(j)] = i;
            EXPECT_LT(std::chrono::duration<double>(at - closed_at).count(), kThreshold - 0.5) << j.dump();
            EXPECT_EQ(j.value("age_s", -1.0), 0.0) << j.dump();
        } else if (str(j, "type") == "close_wait_leak") {
            leak_line[tuple_key(j)] = i;
            EXPECT_GE(j.value("age_s", 0.0), kThreshold) << j.dump();
        }
    }
    for (const auto& [k, i] : leak_line)
        EXPECT_TRUE(cw_line.count(k) && cw_line[k] < i) << "close_wait must come before the leak: " << k;

    auto all = ss_port(port);
    auto cw = ss_state(all, "CLOSE-WAIT");
    auto listeners = ss_state(all, "LISTEN");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kConns)) << dump_ss(all);
    ASSERT_EQ(listeners.size(), 1U) << dump_ss(all);
    for (const auto& c : cw)
        EXPECT_EQ(c.local, "127.0.0.1:" + P) << c.raw;
    EXPECT_EQ(listeners[0].recv_q, static_cast<std::uint32_t>(kConns));
    EXPECT_EQ(listeners[0].send_q, 16U);
    ASSERT_EQ(listeners[0].users.size(), 1U);
    EXPECT_EQ(listeners[0].users[0].pid, srv->pid());
    EXPECT_EQ(listeners[0].users[0].comm, "cwt_stuck_lsn");
    EXPECT_EQ(std::to_string(listeners[0].users[0].fd), lsn["fd"]);
    EXPECT_EQ(listeners[0].local, lsn["local"]);

    auto cws = index_by_tuple(tool->events_of("close_wait"), "close_wait");
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(cws.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    for (const auto& s : cw) {
        for (auto* m : {&cws, &leaks}) {
            auto it = m->find(tuple_key(s));
            ASSERT_NE(it, m->end()) << "ss socket not reported: " << s.raw << "\n"
                                    << tool->proc().all_output();
            expect_queued(it->second, s, lsn, "cwt_stuck_lsn");
            EXPECT_EQ(it->second.value("preexisting", true), false);
            EXPECT_EQ(str(it->second, "recv_q"), std::to_string(s.recv_q)) << it->second.dump() << "\n"
                                                                           << s.raw;
        }
        // The leak is resolved against a fresh listener inventory.
        EXPECT_EQ(str(leaks[tuple_key(s)].at("listener"), "queue"), std::to_string(listeners[0].recv_q))
            << leaks[tuple_key(s)].dump();
    }
    expect_clean_output(*tool);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), kConns) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("leaks_reported", -1), kConns) << sum.dump();
    EXPECT_TRUE(sum.at("processes").empty()) << sum.dump();
    ASSERT_EQ(sum.at("listeners").size(), 1U) << sum.dump();
    const json& l = sum.at("listeners").at(0);
    EXPECT_EQ(str(l, "local"), lsn["local"]);
    EXPECT_EQ(l.value("pid", -1), srv->pid());
    EXPECT_EQ(str(l, "comm"), "cwt_stuck_lsn");
    EXPECT_EQ(l.value("queued_close_wait", -1), kConns);
    EXPECT_EQ(l.value("queue", -1), kConns);
    EXPECT_EQ(l.value("backlog", -1), 16);
    EXPECT_GE(l.value("oldest_age_s", 0.0), kThreshold);
}

// (b') The listener in a queued socket's close_wait line must describe the
// queue as it is: the reported socket itself sits in that queue, so its
// length is at least 1 (here: all 8 connections, none ever accepted).
TEST_F(ClosewaitTrace, QueuedCloseWaitShowsCurrentListenerQueue)
{
    // Regression (was a bug): the close_wait line of a queued socket carries the listener's queue
    // length from the tool's cached listener inventory (taken at start, then
    // refreshed about once a second), not the current one: with a listener
    // that existed before the tool started and clients that connect and close
    // within a second, it prints "queue":0 while ss shows Recv-Q 8 and the
    // reported socket is itself in that queue.

    const int kConns = 8;
    auto srv = spawn("cwt_stuck_lsn", {"--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    json start;
    auto tool = start_tool({"--json", "-t", "30", "-d", "30", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());
    // Connect and close within a few milliseconds.
    auto cli = spawn("cwt_peer_cli",
                     {"--port", lsn["port"], "--count", std::to_string(kConns), "--close-after-ms", "20"});
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(tool->wait_count("close_wait", kConns, kStepTimeout)) << tool->proc().all_output();
    auto listeners = ss_state(ss_port(port), "LISTEN");
    ASSERT_EQ(listeners.size(), 1U);
    ASSERT_EQ(listeners[0].recv_q, static_cast<std::uint32_t>(kConns));
    for (const auto& f : tool->events_of("close_wait")) {
        ASSERT_TRUE(f.at("listener").is_object()) << f.dump();
        EXPECT_EQ(f.at("listener").value("queue", -1), kConns) << f.dump();
    }
    stop_tool(*tool);
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
    keep_running(*tool, 0.3);

    cw = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kConns));
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n"
                                   << tool->proc().all_output();
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

    json sum = stop_tool(*tool, SIGTERM);
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
    const double kThreshold = 1;
    auto srv = spawn("cwt_churn_srv", {});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);

    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "40", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());

    auto cli = spawn("cwt_churn_cli", {"--port", lsn["port"], "--count", std::to_string(kCycles)});
    auto done = cli->wait_line("DONE", 28);
    ASSERT_TRUE(done) << cli->all_output();
    EXPECT_EQ(kv(*done)["n"], std::to_string(kCycles));
    EXPECT_TRUE(srv->wait_until([&] { return srv->count_lines("SERVED ") >= kCycles / 500; }, kStepTimeout))
        << srv->all_output();
    // Long enough after the last cycle for any straggler to cross the
    // threshold and be scanned.
    keep_running(*tool, kThreshold + 1.5);
    ASSERT_FALSE(tool->proc().exited()) << tool->proc().all_output();

    EXPECT_EQ(tool->count("close_wait_leak"), 0U) << tool->proc().all_output();
    EXPECT_EQ(tool->count("close_wait"), 0U) << tool->proc().all_output();
    EXPECT_EQ(tool->count("close_wait_closed"), 0U) << tool->proc().all_output();
    expect_clean_output(*tool);
    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object()) << tool->proc().all_output();
    EXPECT_EQ(sum.value("lost_events", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("leaks_reported", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("open_close_wait", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    EXPECT_TRUE(sum.at("processes").empty()) << sum.dump();
    EXPECT_TRUE(sum.at("listeners").empty()) << sum.dump();
    EXPECT_TRUE(ss_state(ss_port(port), "CLOSE-WAIT").empty()) << dump_ss(ss_port(port));
}

// --duration ends a run by itself: exit code 0, the start line first and the
// summary last.
TEST_F(ClosewaitTrace, DurationEndsTheRunWithASummary)
{
    const int port = free_port();
    auto t0 = Clock::now();
    Tool tool({"--json", "-d", "1", "--port", std::to_string(port)});
    ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout + 5)) << tool.proc().all_output();
    EXPECT_EQ(tool.proc().exit_code(), 0) << tool.proc().all_output();
    EXPECT_GE(seconds_since(t0), 1.0);
    auto ev = tool.events();
    ASSERT_GE(ev.size(), 2U) << tool.proc().all_output();
    EXPECT_EQ(str(ev.front(), "type"), "start");
    EXPECT_EQ(str(ev.back(), "type"), "summary");
    EXPECT_EQ(ev.back().value("open_close_wait", -1), 0);
    EXPECT_EQ(ev.back().value("lost_events", -1), 0);
    EXPECT_TRUE(tool.proc().err().empty()) << tool.proc().err();
    expect_clean_output(tool);
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
    keep_running(*tool, 0.3);

    auto cw = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kTotal)) << dump_ss(ss_port(port));
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kTotal)) << tool->proc().all_output();
    int owned = 0, queued = 0;
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << "ss socket not reported: " << s.raw << "\n"
                                   << tool->proc().all_output();
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
        EXPECT_TRUE(
            srv.wait_until([&] { return srv.count_lines("ACCEPT ") == accepted_before + n; }, kStepTimeout))
            << srv.all_output();
        cli->send("close\n");
        EXPECT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
        return cli;
    };
    auto ca1 = leak_on(*a, la["port"], 2, 0);
    auto cb1 = leak_on(*b, lb["port"], 2, 0);
    // And a third process's listener with 2 queued CLOSE_WAITs.
    auto c = spawn("cwt_stuck_lsn", {});
    auto lc = wait_listen(*c);
    ASSERT_FALSE(lc.empty()) << c->all_output();
    const int pc = std::stoi(lc["port"]);
    auto cc1 = spawn("cwt_peer_cli", {"--port", lc["port"], "--count", "2", "--close-after-ms", "0"});
    ASSERT_TRUE(cc1->wait_line("CLOSED", kStepTimeout)) << cc1->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            return ss_state(ss_port(pa), "CLOSE-WAIT").size() == 2 &&
                   ss_state(ss_port(pb), "CLOSE-WAIT").size() == 2 &&
                   ss_state(ss_port(pc), "CLOSE-WAIT").size() == 2;
        },
        kStepTimeout));

    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "30", "-p", std::to_string(a->pid())}, start);
    ASSERT_TRUE(start.is_object());
    EXPECT_EQ(start.at("filters").at("pid"), a->pid());
    EXPECT_TRUE(start.at("filters").at("port").is_null());
    // (Its preexisting_close_wait count: see PidFilterCountsOnlyThatProcessAtStart.)

    auto ca2 = leak_on(*a, la["port"], 3, 2);
    auto cb2 = leak_on(*b, lb["port"], 3, 2);
    auto closed_at = Clock::now();
    ASSERT_TRUE(poll_until(
        [&] {
            return ss_state(ss_port(pa), "CLOSE-WAIT").size() == 5 &&
                   ss_state(ss_port(pb), "CLOSE-WAIT").size() == 5;
        },
        kStepTimeout));

    auto is_a = [&](const json& j) { return j.value("pid", -1) == a->pid(); };
    ASSERT_TRUE(tool->wait_count("close_wait_leak", 5, kStepTimeout, is_a)) << tool->proc().all_output();
    // Give B's post-start leaks (same threshold, closed just after A's) every
    // chance to show up.
    keep_running(*tool, std::max(1.0, 2.5 - seconds_since(closed_at)));

    for (const auto& j : tool->events()) {
        std::string type = str(j, "type");
        if (type != "close_wait" && type != "close_wait_leak" && type != "close_wait_closed")
            continue;
        bool mine = j.value("pid", -1) == a->pid() ||
                    (str(j, "owner") == "accept_queue" && j.at("listener").is_object() &&
                     j.at("listener").value("pid", -1) == a->pid());
        EXPECT_TRUE(mine) << "finding for another process with -p " << a->pid() << ": " << j.dump();
        EXPECT_NE(j.value("pid", -1), b->pid()) << j.dump();
        for (int other : {pb, pc}) {
            EXPECT_NE(port_of(str(j, "local")), other) << j.dump();
            EXPECT_NE(port_of(str(j, "remote")), other) << j.dump();
        }
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
    // Without --port the tool sees the whole machine; other work on it may
    // overflow its maps, which is not what this test is about.
    expect_clean_output(*tool, /*allow_lost=*/true);

    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
    EXPECT_EQ(sum.at("processes").at(0).value("pid", -1), a->pid());
    EXPECT_EQ(sum.at("processes").at(0).value("close_wait", -1), 5);
    std::sort(ss_fds.begin(), ss_fds.end());
    EXPECT_EQ(sum.at("processes").at(0).at("fds").get<std::vector<int>>(), ss_fds);
    EXPECT_EQ(sum.value("leaks_reported", -1), 5) << sum.dump();
    // Sockets whose owner is not resolved yet are counted too: without
    // --port, young CLOSE_WAITs of other processes on this machine can be
    // among them (see PidFilterSummaryExcludesOtherProcesses).
    EXPECT_EQ(sum.value("open_close_wait", -1) - sum.value("unknown_owner", -1), 5) << sum.dump();
    EXPECT_TRUE(sum.at("listeners").empty()) << sum.dump();
}

// Under -p, the summary counts only that process's CLOSE_WAITs: another
// process's CLOSE_WAITs younger than the threshold are not A's either.
TEST_F(ClosewaitTrace, PidFilterSummaryExcludesOtherProcesses)
{
    // Regression (was a bug): with -p PID, CLOSE_WAITs of other processes that have not reached
    // the threshold yet (so their owner was never resolved) are counted in the
    // summary's open_close_wait and unknown_owner: here B's 2 sockets give
    // "open_close_wait":2,"unknown_owner":2 for a process A that has none.
    // The tracker keeps unresolved sockets "until the threshold decides" and
    // the summary does not resolve (or drop) them.

    auto a = spawn("cwt_leak_srv", {});
    auto b = spawn("cwt_leak_srv", {});
    auto la = wait_listen(*a), lb = wait_listen(*b);
    ASSERT_FALSE(la.empty() || lb.empty()) << a->all_output() << b->all_output();
    json start;
    auto tool = start_tool({"--json", "-t", "30", "-d", "30", "-p", std::to_string(a->pid())}, start);
    ASSERT_TRUE(start.is_object());
    auto cb = spawn("cwt_peer_cli", {"--port", lb["port"], "--count", "2"});
    ASSERT_TRUE(cb->wait_line("CONNECTED", kStepTimeout));
    ASSERT_TRUE(b->wait_until([&] { return b->count_lines("ACCEPT ") == 2; }, kStepTimeout));
    cb->send("close\n");
    ASSERT_TRUE(cb->wait_line("CLOSED", kStepTimeout));
    ASSERT_TRUE(poll_until([&] { return ss_state(ss_port(std::stoi(lb["port"])), "CLOSE-WAIT").size() == 2; },
                           kStepTimeout));
    // At least one periodic scan of the kernel's CLOSE_WAIT map (every
    // threshold/10, at most 1 s) before the summary.
    keep_running(*tool, 1.5);
    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    EXPECT_TRUE(sum.at("processes").empty()) << sum.dump();
    EXPECT_EQ(sum.value("open_close_wait", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
}

// Under -p, the start line's preexisting_close_wait counts only the CLOSE_WAITs
// of that process (owned, or queued on its listeners), like the findings.
TEST_F(ClosewaitTrace, PidFilterCountsOnlyThatProcessAtStart)
{
    // Regression (was a bug): with -p PID, preexisting_close_wait also counts CLOSE_WAITs queued
    // on other processes' listeners (never accepted, so owned by no process):
    // here 2 (A's) + 3 (queued on C's listener) = 5, while only A's 2 are
    // reported. take_inventory() skips other processes' owned sockets but not
    // unowned queued ones.

    auto a = spawn("cwt_leak_srv", {});
    auto c = spawn("cwt_stuck_lsn", {});
    auto la = wait_listen(*a), lc = wait_listen(*c);
    ASSERT_FALSE(la.empty() || lc.empty()) << a->all_output() << c->all_output();
    auto ca = spawn("cwt_peer_cli", {"--port", la["port"], "--count", "2"});
    ASSERT_TRUE(ca->wait_line("CONNECTED", kStepTimeout));
    ASSERT_TRUE(a->wait_until([&] { return a->count_lines("ACCEPT ") == 2; }, kStepTimeout));
    ca->send("close\n");
    ASSERT_TRUE(ca->wait_line("CLOSED", kStepTimeout));
    auto cc = spawn("cwt_peer_cli", {"--port", lc["port"], "--count", "3", "--close-after-ms", "0"});
    ASSERT_TRUE(cc->wait_line("CLOSED", kStepTimeout));
    ASSERT_TRUE(poll_until(
        [&] {
            return ss_state(ss_port(std::stoi(la["port"])), "CLOSE-WAIT").size() == 2 &&
                   ss_state(ss_port(std::stoi(lc["port"])), "CLOSE-WAIT").size() == 3;
        },
        kStepTimeout));

    json start;
    auto tool = start_tool({"--json", "-t", "30", "-d", "30", "-p", std::to_string(a->pid())}, start);
    ASSERT_TRUE(start.is_object());
    ASSERT_TRUE(tool->wait_count("close_wait_leak", 2, kStepTimeout)) << tool->proc().all_output();
    stop_tool(*tool);
    EXPECT_EQ(start.value("preexisting_close_wait", -1), 2) << start.dump();
}

// ---------------------------------------------------------------------------
// One socket, two fds (dup): the leak names both in owners[], ss agrees, and
// the summary lists both fds but counts the socket once.
TEST_F(ClosewaitTrace, DupedSocketListsEveryOwnerFd)
{
    const int kConns = 2;
    auto srv = spawn("cwt_leak_srv", {"--dup", "1"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "30", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());
    auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kConns)});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(srv->wait_until([&] { return srv->count_lines("DUP ") == kConns; }, kStepTimeout))
        << srv->all_output();
    cli->send("close\n");
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
    ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();
    keep_running(*tool, 0.3);

    auto cw = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kConns)) << dump_ss(ss_port(port));
    auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
    ASSERT_EQ(leaks.size(), static_cast<size_t>(kConns)) << tool->proc().all_output();
    std::vector<int> all_fds;
    for (const auto& s : cw) {
        SCOPED_TRACE(s.raw);
        auto it = leaks.find(tuple_key(s));
        ASSERT_NE(it, leaks.end()) << tool->proc().all_output();
        const json& f = it->second;
        ASSERT_EQ(s.users.size(), 2U);
        std::set<int> ss_fds, tool_fds;
        for (const auto& u : s.users) {
            EXPECT_EQ(u.pid, srv->pid());
            ss_fds.insert(u.fd);
            all_fds.push_back(u.fd);
        }
        EXPECT_EQ(str(f, "owner"), "process");
        EXPECT_EQ(f.value("pid", -1), srv->pid());
        EXPECT_TRUE(ss_fds.count(f.value("fd", -1))) << f.dump();
        ASSERT_TRUE(f.contains("owners") && f.at("owners").is_array()) << f.dump();
        ASSERT_EQ(f.at("owners").size(), 2U) << f.dump();
        for (const auto& o : f.at("owners")) {
            EXPECT_EQ(o.value("pid", -1), srv->pid());
            EXPECT_EQ(str(o, "comm"), "cwt_leak_srv");
            tool_fds.insert(o.value("fd", -1));
        }
        EXPECT_EQ(tool_fds, ss_fds) << f.dump();
    }
    expect_clean_output(*tool);
    json sum = stop_tool(*tool);
    ASSERT_TRUE(sum.is_object());
    ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
    const json& p = sum.at("processes").at(0);
    EXPECT_EQ(p.value("close_wait", -1), kConns) << sum.dump();
    std::sort(all_fds.begin(), all_fds.end());
    EXPECT_EQ(p.at("fds").get<std::vector<int>>(), all_fds) << sum.dump();
}

// A leaked socket holding unread data, finally closed by its process: the
// kernel aborts it (CLOSE_WAIT -> CLOSE plus a RST, not -> LAST_ACK), but it
// was the application that closed it.
TEST_F(ClosewaitTrace, LeakWithUnreadDataClosedByApplication)
{
    // Regression (was a bug): closed_by is "reset" here. The tool derives closed_by only from the
    // new state (LAST_ACK -> "application", otherwise "reset"), but close() of
    // a socket with unread data goes CLOSE_WAIT -> CLOSE (tcp_close aborts it
    // with a RST), so an application close is reported as "reset", the same as
    // a RST from the peer.

    const int kConns = 2;
    auto srv = spawn("cwt_leak_srv", {});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    json start;
    auto tool = start_tool({"--json", "-t", "1", "-d", "30", "--port", lsn["port"]}, start);
    ASSERT_TRUE(start.is_object());
    auto cli =
        spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kConns), "--send", "hello"});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(srv->wait_until([&] { return srv->count_lines("ACCEPT ") == kConns; }, kStepTimeout));
    cli->send("close\n");
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
    ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();

    // The server exits: the kernel closes its fds on its behalf.
    srv->signal(SIGTERM);
    ASSERT_TRUE(srv->wait_exit(kStepTimeout));
    ASSERT_TRUE(tool->wait_count("close_wait_closed", kConns, kStepTimeout)) << tool->proc().all_output();
    for (const auto& f : tool->events_of("close_wait_closed")) {
        EXPECT_EQ(f.value("was_leak", false), true) << f.dump();
        EXPECT_EQ(f.value("pid", -1), srv->pid()) << f.dump();
    }
    json sum = stop_tool(*tool);
    EXPECT_EQ(sum.value("open_close_wait", -1), 0) << sum.dump();
    EXPECT_EQ(sum.value("leaks_reported", -1), kConns) << sum.dump();

    for (const auto& f : tool->events_of("close_wait_closed"))
        EXPECT_EQ(str(f, "closed_by"), "application") << f.dump();
}

// ---------------------------------------------------------------------------
// (g) Bad input: exit code 2, one line on stderr, nothing on stdout, and no
// BPF program, link or map left behind.
namespace
{

// Objects of closewait-trace that are new since `before` and that no live
// process holds: leftovers. (New objects that a live process holds belong to
// a running instance, e.g. someone else's; they are not leftovers.) Polls for
// a while, since the kernel frees objects shortly after their last fd closes.
std::string leftovers_since(const BpfObjects& before, double timeout_s)
{
    std::string report;
    bool clean = poll_until(
        [&] {
            auto now = closewait_bpf_objects();
            std::vector<std::pair<std::string, std::uint64_t>> fresh;
            for (auto id : now.progs)
                if (!before.progs.count(id))
                    fresh.emplace_back("prog", id);
            for (auto id : now.links)
                if (!before.links.count(id))
                    fresh.emplace_back("link", id);
            for (auto id : now.maps)
                if (!before.maps.count(id))
                    fresh.emplace_back("map", id);
            if (fresh.empty())
                return true;
            auto held = bpf_objects_held_by_processes();
            report.clear();
            for (const auto& [kind, id] : fresh)
                if (!held.ids.count(id))
                    report += kind + " " + std::to_string(id) + " is held by no process\n";
            if (!report.empty())
                report += "all closewait-trace objects:\n" + now.describe;
            return report.empty();
        },
        timeout_s);
    return clean ? std::string() : report;
}

void expect_one_line_error(Proc& p)
{
    const std::string& err = p.err();
    ASSERT_FALSE(err.empty()) << p.all_output();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "stderr: " << err;
    EXPECT_EQ(err.back(), '\n') << "stderr: " << err;
    EXPECT_NE(err.find("error"), std::string::npos) << "stderr: " << err;
    EXPECT_TRUE(p.lines().empty()) << "nothing on stdout on error\n" << p.all_output();
}

} // namespace

TEST_F(ClosewaitTrace, BadInputExitsWithTwoAndLeavesNothingAttached)
{
    const auto before = closewait_bpf_objects();

    // Positive control: a normal run shows up in bpftool while it runs, and
    // is gone after it exits. (Without this, the check below could be vacuous.)
    {
        json start;
        auto tool = start_tool({"--json", "-d", "30", "--port", std::to_string(free_port())}, start);
        ASSERT_TRUE(start.is_object());
        auto running = closewait_bpf_objects();
        std::size_t added = 0;
        for (auto id : running.progs)
            added += before.progs.count(id) ? 0 : 1;
        EXPECT_GE(added, 1U) << "bpftool does not show the running tool's programs:\n" << running.describe;
        EXPECT_FALSE(running.links.empty()) << running.describe;
        // ... and its objects are recognised as held by a live process.
        EXPECT_EQ(leftovers_since(before, 0), "") << "holder detection does not see the running tool";
        stop_tool(*tool);
        EXPECT_EQ(leftovers_since(before, 5), "") << "left behind after a normal exit";
    }

    const std::string dead = std::to_string(dead_pid());
    const std::vector<std::vector<std::string>> cases = {
        {"--json", "-d", "2", "-p", dead},       {"--json", "-d", "2", "-t", "abc"},
        {"--json", "-d", "2", "-t", "-1"},       {"--json", "-d", "2", "-t", "0"},
        {"--json", "-d", "2", "--no-such-flag"}, {"--json", "-d", "2", "--port", "70000"},
    };
    for (const auto& args : cases) {
        std::string cmd;
        for (const auto& a : args)
            cmd += " " + a;
        SCOPED_TRACE("closewait-trace" + cmd);
        Tool tool(args);
        ASSERT_TRUE(tool.proc().wait_exit(kExitTimeout));
        EXPECT_EQ(tool.proc().exit_code(), 2) << tool.proc().all_output();
        expect_one_line_error(tool.proc());
    }

    // Forcing a probe tier this kernel cannot run fails after some programs
    // were loaded (and, for kprobes, attached): the error must still be one
    // line, and everything must be released. Where the tier does work the run
    // simply succeeds.
    for (const char* tier : {"fentry", "kprobe"}) {
        SCOPED_TRACE(std::string("--probes ") + tier);
        Tool tool({"--json", "-d", "1", "--probes", tier, "--port", std::to_string(free_port())});
        ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout));
        if (tool.proc().exit_code() == 0)
            continue;
        EXPECT_EQ(tool.proc().exit_code(), 2) << tool.proc().all_output();
        expect_one_line_error(tool.proc());
    }

    EXPECT_EQ(leftovers_since(before, 3), "") << "BPF objects left behind";
}

// ---- Accept path (issue 4): EMFILE/ENFILE, shedding, overflows, stalls. ----------

namespace
{

// Loopback connections held open by the test process itself (the client side).
struct Clients {
    std::vector<int> fds;
    ~Clients() { close_all(); }
    void open(int port, int n)
    {
        for (int i = 0; i < n; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0)
                fds.push_back(fd);
            else if (fd >= 0)
                ::close(fd);
        }
    }
    // Connections the server closed on us (EOF or reset), polled up to timeout_s.
    int count_closed_by_peer(double timeout_s)
    {
        std::set<int> closed;
        poll_until(
            [&] {
                for (int fd : fds) {
                    if (closed.count(fd))
                        continue;
                    char c;
                    ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
                    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        closed.insert(fd);
                }
                return false;
            },
            timeout_s);
        return static_cast<int>(closed.size());
    }
    void close_all()
    {
        for (int fd : fds)
            ::close(fd);
        fds.clear();
    }
};

int count_fds(pid_t pid)
{
    int n = 0;
    if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* e = readdir(d))
            n += e->d_name[0] != '.';
        closedir(d);
    }
    return n;
}

std::uint64_t sum_of(const std::vector<json>& v, const char* key)
{
    std::uint64_t s = 0;
    for (const auto& j : v)
        s += j.value(key, 0ULL);
    return s;
}

// TcpExt ListenOverflows of this network namespace, as nstat reads it.
std::uint64_t listen_overflows_now()
{
    std::FILE* f = std::fopen("/proc/net/netstat", "r");
    char names[8192], values[8192];
    std::uint64_t v = 0;
    while (f && std::fgets(names, sizeof(names), f) && std::fgets(values, sizeof(values), f)) {
        if (std::strncmp(names, "TcpExt:", 7) != 0)
            continue;
        std::istringstream n(names), vs(values);
        std::string name, value;
        while (n >> name && vs >> value)
            if (name == "ListenOverflows")
                v = std::stoull(value);
    }
    if (f)
        std::fclose(f);
    return v;
}

} // namespace

// A C server out of fds that retries like nginx: the tool's counts add up to
// the server's own log, the first failure arrives within 1 s, and the output
// is one line per interval, not one per failure.
TEST_F(ClosewaitTrace, EmfileRetryingServerCountsMatchItsLog)
{
    const int port = free_port();
    const std::string P = std::to_string(port);
    json start;
    auto tool = start_tool({"--json", "--port", P, "-d", "30"}, start);
    ASSERT_TRUE(start.is_object());

    auto srv = spawn("cwt_emfile_srv", {"--port", P, "--nofile", "16"});
    ASSERT_FALSE(wait_listen(*srv).empty()) << srv->all_output();
    Clients clients;
    clients.open(port, 24);
    auto first = srv->wait_line("EMFILE ", kStepTimeout);
    ASSERT_TRUE(first) << srv->all_output();
    auto first_at = srv->lines().back().at;
    for (const auto& l : srv->lines())
        if (l.text.rfind("EMFILE ", 0) == 0) {
            first_at = l.at;
            break;
        }
    ASSERT_TRUE(tool->wait_count("accept_error", 1, kStepTimeout)) << tool->proc().all_output();
    auto timed = tool->timed_events();
    for (const auto& [j, at] : timed)
        if (str(j, "type") == "accept_error") {
            EXPECT_LT(std::chrono::duration<double>(at - first_at).count(), 1.0)
                << "first EMFILE reported late";
            EXPECT_EQ(j.value("count", 0), 1) << "the first failure stands alone: " << j.dump();
            EXPECT_EQ(str(j, "errno"), "EMFILE");
            EXPECT_EQ(str(j, "syscall"), "accept4");
            EXPECT_EQ(j.value("pid", 0), srv->pid());
            EXPECT_EQ(j.value("nofile_soft", 0), 16);
            EXPECT_EQ(j.value("open_fds", 0), count_fds(srv->pid())) << "as /proc/PID/fd shows: " << j.dump();
            EXPECT_EQ(str(j.at("listener"), "local"), "127.0.0.1:" + P) << j.dump();
            break;
        }

    // Let it fail for ~3 s, then stop the server and let the last interval out.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    srv->signal(SIGTERM);
    ASSERT_TRUE(srv->wait_exit(kStepTimeout));
    long server_count = 0;
    for (const auto& l : srv->lines_with("EMFILE "))
        server_count = std::stol(kv(l)["count"]);
    ASSERT_GT(server_count, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_EQ(tool->interrupt(kExitTimeout), 0);

    auto errors = tool->events_of("accept_error");
    EXPECT_EQ(sum_of(errors, "count"), static_cast<std::uint64_t>(server_count)) << dump_all(errors);
    EXPECT_LE(errors.size(), 6U) << "one line per interval, not per failure:\n" << dump_all(errors);
    auto sum = tool->summary();
    ASSERT_TRUE(sum);
    ASSERT_EQ(sum->at("accept_errors").size(), 1U) << sum->dump();
    EXPECT_EQ(sum->at("accept_errors")[0].value("emfile", 0L), server_count);
}

// A Python server that logs EMFILE once and stops accepting: one accept_error,
// then the queue fills, its clients give up, and the stall names the listener
// with its queued CLOSE_WAITs.
TEST_F(ClosewaitTrace, PythonServerStopsAcceptingAfterEmfile)
{
    const int port = free_port();
    const std::string P = std::to_string(port);
    json start;
    auto tool = start_tool({"--json", "--port", P, "--stall", "1", "-d", "30"}, start);
    ASSERT_TRUE(start.is_object());

    auto srv = std::make_unique<Proc>(
        std::vector<std::string>{"/usr/bin/env", "python3",
                                 source_dir() + "/tests/integration/servers/emfile_stop.py", P, "12", "20"});
    ASSERT_TRUE(srv->wait_line("LISTEN ", kStepTimeout)) << srv->all_output();
    Clients clients;
    clients.open(port, 16);
    ASSERT_TRUE(srv->wait_line("EMFILE ", kStepTimeout)) << srv->all_output();
    ASSERT_TRUE(tool->wait_count("accept_error", 1, kStepTimeout)) << tool->proc().all_output();

    // Clients still queued give up: their sockets become queued CLOSE_WAITs.
    clients.close_all();
    ASSERT_TRUE(tool->wait_count("accept_stall", 1, kStepTimeout)) << tool->proc().all_output();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto queued = ss_state(ss_port(port), "CLOSE-WAIT");
    ASSERT_TRUE(tool->interrupt(kExitTimeout) == 0);

    auto errors = tool->events_of("accept_error");
    EXPECT_EQ(sum_of(errors, "count"), 1U) << "the server failed exactly once:\n" << dump_all(errors);
    auto stall = tool->events_of("accept_stall").front();
    EXPECT_EQ(stall.value("pid", 0), srv->pid()) << stall.dump();
    EXPECT_EQ(str(stall.at("listener"), "local"), "127.0.0.1:" + P);
    EXPECT_GT(stall.value("queue", 0), 0) << stall.dump();
    std::size_t unowned = 0;
    for (const auto& s : queued)
        unowned += s.users.empty();
    auto cws = tool->events_of("close_wait");
    EXPECT_EQ(cws.size(), unowned) << "every queued CLOSE_WAIT (ss: no process) is reported:\n"
                                   << dump_all(cws) << dump_ss(queued);
    for (const auto& c : cws)
        EXPECT_EQ(str(c, "owner"), "accept_queue") << c.dump();
}

// node's libuv survives EMFILE by accepting and closing at once (its reserve-fd
// trick) and logs nothing; the tool counts the shed connections, and the count
// matches the connections the clients saw closed.
TEST_F(ClosewaitTrace, NodeServerShedsConnectionsOnEmfile)
{
    if (system("command -v node >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "SKIPPED: node is not installed (apt-get install nodejs)";
    const int port = free_port();
    const std::string P = std::to_string(port);
    json start;
    auto tool = start_tool({"--json", "--port", P, "-d", "40"}, start);
    ASSERT_TRUE(start.is_object());

    auto srv = std::make_unique<Proc>(
        std::vector<std::string>{"/usr/bin/env", "prlimit", "--nofile=64:64", "node",
                                 source_dir() + "/tests/integration/servers/libuv_server.js", P, "25"});
    ASSERT_TRUE(srv->wait_line("LISTEN ", kStepTimeout)) << srv->all_output();
    Clients clients;
    clients.open(port, 80);
    ASSERT_TRUE(tool->wait_count("accept_error", 1, kStepTimeout)) << tool->proc().all_output();
    int shed_seen_by_clients = clients.count_closed_by_peer(3.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_EQ(tool->interrupt(kExitTimeout), 0);

    auto errors = tool->events_of("accept_error");
    EXPECT_GE(sum_of(errors, "count"), 1U);
    EXPECT_GT(shed_seen_by_clients, 0) << "node did not shed; raise the client count";
    EXPECT_EQ(sum_of(errors, "shed"), static_cast<std::uint64_t>(shed_seen_by_clients)) << dump_all(errors);
    for (const auto& e : errors)
        EXPECT_EQ(str(e, "comm"), "node") << e.dump();
}

// A listener with backlog 1 flooded by a bounded burst: the tool's drops add
// up to the kernel's ListenOverflows counter over the same interval.
TEST_F(ClosewaitTrace, TinyBacklogOverflowsMatchNstat)
{
    const int port = free_port();
    const std::string P = std::to_string(port);
    auto srv = spawn("cwt_tiny_lsn", {"--port", P, "--backlog", "1"});
    ASSERT_FALSE(wait_listen(*srv).empty()) << srv->all_output();
    json start;
    auto tool = start_tool({"--json", "--port", P, "-d", "30"}, start);
    ASSERT_TRUE(start.is_object());
    std::this_thread::sleep_for(std::chrono::milliseconds(1200)); // a baseline sample
    const std::uint64_t before = listen_overflows_now();

    std::vector<int> burst;
    for (int i = 0; i < 20; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        burst.push_back(fd);
    }
    ASSERT_TRUE(tool->wait_count("listen_overflow", 1, kStepTimeout)) << tool->proc().all_output();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500)); // SYN retries drop too
    for (int fd : burst)
        ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    const std::uint64_t after = listen_overflows_now();
    ASSERT_EQ(tool->interrupt(kExitTimeout), 0);

    auto drops = tool->events_of("listen_overflow");
    EXPECT_EQ(sum_of(drops, "drops"), after - before) << dump_all(drops);
    for (const auto& d : drops) {
        EXPECT_EQ(str(d.at("listener"), "local"), "127.0.0.1:" + P) << d.dump();
        EXPECT_EQ(d.value("pid", 0), srv->pid()) << d.dump();
        EXPECT_EQ(d.value("backlog", -1), 1) << d.dump();
    }
}

// A server that sleeps instead of accepting (seed 001's real cause): the stall
// names the listener, its owner, the queue depth and the queued CLOSE_WAITs.
TEST_F(ClosewaitTrace, SleepingServerReportsAcceptStall)
{
    auto srv = spawn("cwt_stuck_lsn", {"--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    json start;
    auto tool = start_tool({"--json", "--port", lsn["port"], "--stall", "1", "-d", "30"}, start);
    ASSERT_TRUE(start.is_object());
    auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", "3"});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    auto giving_up = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", "2", "--close-after-ms", "50"});
    ASSERT_TRUE(poll_until([&] { return ss_state(ss_port(port), "CLOSE-WAIT").size() == 2; }, kStepTimeout));
    ASSERT_TRUE(tool->wait_count("accept_stall", 1, kStepTimeout)) << tool->proc().all_output();
    ASSERT_EQ(tool->interrupt(kExitTimeout), 0);

    auto stalls = tool->events_of("accept_stall");
    ASSERT_EQ(stalls.size(), 1U) << "one report per stall:\n" << dump_all(stalls);
    const auto& s = stalls.front();
    EXPECT_EQ(s.value("pid", 0), srv->pid());
    EXPECT_EQ(str(s.at("listener"), "local"), lsn["local"]) << s.dump();
    EXPECT_EQ(s.value("queue", 0), 5) << s.dump();
    EXPECT_EQ(s.value("queued_close_wait", 0), 2) << s.dump();
}

// Issue 3's race: sockets move through CLOSE_WAIT while the inventory runs.
// Whatever the timing, no socket may be left tracked in a state it has left:
// after the churn, nothing is reported and the summary has no CLOSE_WAIT.
TEST_F(ClosewaitTrace, InventoryDuringChurnEndsInTrueState)
{
    auto srv = spawn("cwt_churn_srv", {});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    for (int round = 0; round < 4; ++round) {
        auto cli = spawn("cwt_churn_cli", {"--port", lsn["port"], "--count", "3000"});
        std::this_thread::sleep_for(std::chrono::milliseconds(50 * round));
        json start;
        auto tool = start_tool({"--json", "--port", lsn["port"], "-t", "30"}, start);
        ASSERT_TRUE(start.is_object());
        ASSERT_TRUE(cli->wait_line("DONE", 60)) << cli->all_output();
        ASSERT_TRUE(poll_until(
            [&] { return ss_state(ss_port(std::stoi(lsn["port"])), "CLOSE-WAIT").empty(); }, kStepTimeout));
        std::this_thread::sleep_for(std::chrono::milliseconds(1200)); // a full scan period
        ASSERT_EQ(tool->interrupt(kExitTimeout), 0);
        EXPECT_EQ(tool->count("close_wait_leak"), 0U) << "round " << round << ":\n"
                                                      << dump_all(tool->events());
        auto sum = tool->summary();
        ASSERT_TRUE(sum);
        EXPECT_EQ(sum->value("open_close_wait", -1), 0) << "round " << round << ": " << sum->dump();
    }
}

// Sockets shared between processes: inherited through fork, or passed over
// SCM_RIGHTS. Every holder is listed, as ss lists them.
class SharedSocket : public ClosewaitTrace
{
  protected:
    void run(const std::string& how)
    {
        const int kConns = 2;
        auto srv = spawn("cwt_leak_srv", {"--share", how});
        auto lsn = wait_listen(*srv);
        ASSERT_FALSE(lsn.empty()) << srv->all_output();
        const int port = std::stoi(lsn["port"]);
        json start;
        auto tool = start_tool({"--json", "-t", "1", "-d", "30", "--port", lsn["port"]}, start);
        ASSERT_TRUE(start.is_object());
        auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kConns)});
        ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
        ASSERT_TRUE(srv->wait_until([&] { return srv->count_lines("SHARED ") == kConns; }, kStepTimeout))
            << srv->all_output();
        cli->send("close\n");
        ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout));
        ASSERT_TRUE(tool->wait_count("close_wait_leak", kConns, kStepTimeout)) << tool->proc().all_output();

        auto cw = ss_state(ss_port(port), "CLOSE-WAIT");
        ASSERT_EQ(cw.size(), static_cast<size_t>(kConns)) << dump_ss(ss_port(port));
        auto leaks = index_by_tuple(tool->events_of("close_wait_leak"), "close_wait_leak");
        for (const auto& s : cw) {
            SCOPED_TRACE(s.raw);
            auto it = leaks.find(tuple_key(s));
            ASSERT_NE(it, leaks.end()) << tool->proc().all_output();
            const json& f = it->second;
            ASSERT_EQ(s.users.size(), 2U) << "two processes hold it";
            std::set<std::pair<int, int>> ss_holders, tool_holders;
            for (const auto& u : s.users)
                ss_holders.insert({u.pid, u.fd});
            ASSERT_TRUE(f.contains("owners")) << f.dump();
            for (const auto& o : f.at("owners"))
                tool_holders.insert({o.value("pid", -1), o.value("fd", -1)});
            EXPECT_EQ(tool_holders, ss_holders) << f.dump();
            EXPECT_TRUE(ss_holders.count({f.value("pid", -1), f.value("fd", -1)})) << f.dump();
        }
        json sum = stop_tool(*tool);
        ASSERT_TRUE(sum.is_object());
        // The parent holds both sockets, each child (fork) or the receiver (scm) its copies.
        std::size_t holders = 0;
        for (const auto& p : sum.at("processes"))
            holders += p.value("close_wait", 0);
        EXPECT_EQ(holders, 2U * kConns) << sum.dump();
    }
};

TEST_F(SharedSocket, InheritedThroughFork)
{
    run("fork");
}
TEST_F(SharedSocket, PassedOverScmRights)
{
    run("scm");
}

// io_uring accepts fail with EMFILE without any accept syscall: the tool still
// reports them (syscall "io_uring"), and the counts match the server's log.
TEST_F(ClosewaitTrace, IoUringAcceptEmfileCountsMatchItsLog)
{
    if (access(scenario("cwt_uring_srv").c_str(), X_OK) != 0)
        GTEST_SKIP() << "SKIPPED: built without liburing (apt-get install liburing-dev)";
    const int port = free_port();
    const std::string P = std::to_string(port);
    json start;
    auto tool = start_tool({"--json", "--port", P, "-d", "30"}, start);
    ASSERT_TRUE(start.is_object());
    auto srv = spawn("cwt_uring_srv", {"--port", P, "--nofile", "16"});
    ASSERT_FALSE(wait_listen(*srv).empty()) << srv->all_output();
    Clients clients;
    clients.open(port, 24);
    ASSERT_TRUE(srv->wait_line("EMFILE ", kStepTimeout)) << srv->all_output();
    ASSERT_TRUE(tool->wait_count("accept_error", 1, kStepTimeout)) << tool->proc().all_output();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    srv->signal(SIGTERM);
    ASSERT_TRUE(srv->wait_exit(kStepTimeout));
    long server_count = 0;
    for (const auto& l : srv->lines_with("EMFILE "))
        server_count = std::stol(kv(l)["count"]);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_EQ(tool->interrupt(kExitTimeout), 0);

    auto errors = tool->events_of("accept_error");
    ASSERT_FALSE(errors.empty());
    for (const auto& e : errors) {
        EXPECT_EQ(str(e, "syscall"), "io_uring") << e.dump();
        EXPECT_EQ(str(e, "errno"), "EMFILE") << e.dump();
        EXPECT_EQ(e.value("pid", 0), srv->pid()) << e.dump();
    }
    EXPECT_EQ(str(errors.front().at("listener"), "local"), "127.0.0.1:" + P) << errors.front().dump();
    EXPECT_EQ(sum_of(errors, "count"), static_cast<std::uint64_t>(server_count)) << dump_all(errors);
}

// ---- One-shot audit (--snapshot): every CLOSE_WAIT that exists now. ----------

namespace
{

// "Max open files" soft and hard limits of pid, as /proc/PID/limits shows them.
std::pair<std::string, std::string> proc_nofile(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) != 0)
            continue;
        std::istringstream ls(line.substr(std::strlen("Max open files")));
        std::string soft, hard;
        ls >> soft >> hard;
        return {soft, hard};
    }
    return {};
}

// The inode of pid's network namespace: what the tool prints as "netns".
std::uint64_t netns_of(pid_t pid)
{
    struct stat st {
    };
    if (stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) != 0)
        return 0;
    return st.st_ino;
}

// Sets pid's RLIMIT_NOFILE, so the tool's values cannot come from anywhere else.
void set_nofile(pid_t pid, rlim_t soft, rlim_t hard)
{
    rlimit r{soft, hard};
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &r, nullptr), 0) << std::strerror(errno);
}

// ss sockets on the server side of `port` (its local port), i.e. not the
// client ends of the same connections.
std::vector<SsSock> server_side(const std::vector<SsSock>& all, int port, const std::string& state)
{
    std::vector<SsSock> out;
    for (const auto& s : ss_state(all, state))
        if (port_of(s.local) == port)
            out.push_back(s);
    return out;
}

std::vector<json> of_type(const std::vector<json>& v, const std::string& type)
{
    std::vector<json> out;
    for (const auto& j : v)
        if (str(j, "type") == type)
            out.push_back(j);
    return out;
}

class Snapshot : public ClosewaitTrace
{
  protected:
    // How the snapshot reads the kernel: CWT_ITEST_INVENTORY=sock_diag runs
    // these tests again on the fallback (ctest: integration_sock_diag).
    static std::string inventory()
    {
        const char* v = std::getenv("CWT_ITEST_INVENTORY");
        return v && *v ? v : "auto";
    }

    // Runs `closewait-trace --snapshot --json ARGS` to its end; returns the exit code.
    int snapshot(const std::vector<std::string>& args)
    {
        std::vector<std::string> all = {"--snapshot", "--json"};
        if (inventory() != "auto")
            all.insert(all.end(), {"--inventory", inventory()});
        all.insert(all.end(), args.begin(), args.end());
        tool_ = std::make_unique<Tool>(all);
        EXPECT_TRUE(tool_->proc().wait_exit(kStartTimeout)) << "the snapshot did not end\n"
                                                            << tool_->proc().all_output();
        return tool_->proc().exit_code();
    }

    // The output of a successful snapshot: close_wait lines, then listener
    // lines, then process lines, then one summary, nothing else, and nothing
    // on stderr. Returns the summary.
    json expect_snapshot_shape()
    {
        static const std::vector<std::string> order = {"close_wait", "listener", "process", "summary"};
        auto ev = tool_->events();
        EXPECT_TRUE(tool_->proc().err().empty()) << tool_->proc().all_output();
        EXPECT_FALSE(ev.empty()) << tool_->proc().all_output();
        if (ev.empty())
            return json();
        std::size_t rank = 0;
        for (const auto& j : ev) {
            auto it = std::find(order.begin(), order.end(), str(j, "type"));
            EXPECT_NE(it, order.end()) << "unexpected output line: " << j.dump();
            if (it == order.end())
                continue;
            auto r = static_cast<std::size_t>(it - order.begin());
            EXPECT_GE(r, rank) << "line out of order: " << j.dump() << "\n" << dump_all(ev);
            rank = std::max(rank, r);
        }
        EXPECT_EQ(of_type(ev, "summary").size(), 1U) << dump_all(ev);
        EXPECT_EQ(str(ev.back(), "type"), "summary") << dump_all(ev);
        EXPECT_EQ(str(ev.back(), "inventory"), inventory() == "auto" ? "iterators" : inventory())
            << ev.back().dump();
        // Every close_wait line is a distinct kernel socket.
        std::set<std::string> sks;
        for (const auto& c : of_type(ev, "close_wait")) {
            EXPECT_EQ(c.value("preexisting", false), true) << c.dump();
            EXPECT_EQ(str(c, "sk").rfind("0x", 0), 0U) << c.dump();
            EXPECT_TRUE(sks.insert(str(c, "sk")).second) << "sk reported twice: " << c.dump();
        }
        return ev.back();
    }

    // A process line against /proc and the ss users of `pid` over `cw`.
    void expect_process_row(const json& p, pid_t pid, const std::string& comm, const std::vector<SsSock>& cw)
    {
        SCOPED_TRACE("process line: " + p.dump());
        std::vector<int> fds;
        int sockets = 0;
        for (const auto& s : cw) {
            bool holds = false;
            for (const auto& u : s.users)
                if (u.pid == pid) {
                    fds.push_back(u.fd);
                    holds = true;
                }
            sockets += holds;
        }
        std::sort(fds.begin(), fds.end());
        EXPECT_EQ(p.value("pid", -1), pid);
        EXPECT_EQ(str(p, "comm"), comm);
        EXPECT_EQ(p.value("close_wait", -1), sockets) << "CLOSE_WAIT sockets it holds, as ss shows them";
        EXPECT_EQ(p.at("fds").get<std::vector<int>>(), fds) << "its fds, as ss shows them";
        // The process is idle: /proc now is what the tool saw.
        EXPECT_EQ(p.value("open_fds", -1), count_fds(pid)) << "entries in /proc/" << pid << "/fd";
        auto [soft, hard] = proc_nofile(pid);
        EXPECT_EQ(str(p, "nofile_soft"), soft) << "/proc/" << pid << "/limits";
        EXPECT_EQ(str(p, "nofile_hard"), hard) << "/proc/" << pid << "/limits";
    }

    std::unique_ptr<Tool> tool_;
};

} // namespace

// A server that accepted 3 connections and then stopped accepting: 3 owned
// and 4 queued CLOSE_WAITs, and 2 more connections ESTABLISHED in its accept
// queue. The snapshot reports every CLOSE_WAIT as ss shows it, the listener's
// queue as ss shows it, and the server's fds as /proc shows them.
class SnapshotMatchesSs : public Snapshot
{
  protected:
    void run(const std::string& listen_addr, const std::string& connect_addr);
};

TEST_F(SnapshotMatchesSs, LoopbackListener)
{
    run("127.0.0.1", "127.0.0.1");
}
TEST_F(SnapshotMatchesSs, WildcardListener)
{
    run("0.0.0.0", "127.0.0.1");
}
TEST_F(SnapshotMatchesSs, IPv6Listener)
{
    run("::1", "::1");
}

void SnapshotMatchesSs::run(const std::string& listen_addr, const std::string& connect_addr)
{
    const int kAccepted = 3, kQueued = 4, kQueuedEstab = 2, kTotal = kAccepted + kQueued;
    auto srv = spawn("cwt_leak_srv",
                     {"--addr", listen_addr, "--accept", std::to_string(kAccepted), "--backlog", "16"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    set_nofile(srv->pid(), 777, 888);

    // "hello" unread on every socket: recv_q is not trivially 1.
    auto closing = spawn("cwt_peer_cli", {"--addr", connect_addr, "--port", lsn["port"], "--count",
                                          std::to_string(kTotal), "--send", "hello"});
    ASSERT_TRUE(closing->wait_line("CONNECTED", kStepTimeout)) << closing->all_output();
    ASSERT_TRUE(srv->wait_line("STOPPED_ACCEPTING", kStepTimeout)) << srv->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto l = ss_state(ss_port(port), "LISTEN");
            return l.size() == 1 && l[0].recv_q == static_cast<std::uint32_t>(kQueued);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));
    closing->send("close\n");
    ASSERT_TRUE(closing->wait_line("CLOSED", kStepTimeout)) << closing->all_output();
    auto staying = spawn("cwt_peer_cli", {"--addr", connect_addr, "--port", lsn["port"], "--count",
                                          std::to_string(kQueuedEstab)});
    ASSERT_TRUE(staying->wait_line("CONNECTED", kStepTimeout)) << staying->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto all = ss_port(port);
            auto l = ss_state(all, "LISTEN");
            return server_side(all, port, "CLOSE-WAIT").size() == kTotal &&
                   server_side(all, port, "ESTAB").size() == kQueuedEstab && l.size() == 1 &&
                   l[0].recv_q == static_cast<std::uint32_t>(kQueued + kQueuedEstab);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));

    int code = snapshot({"--port", lsn["port"]});
    // Ground truth right after it; everything is idle, so it is what the tool saw.
    const int open_fds = count_fds(srv->pid());
    const auto all = ss_port(port);
    ASSERT_EQ(code, 1) << "exit status 1: there are CLOSE_WAITs\n" << tool_->proc().all_output();
    json sum = expect_snapshot_shape();
    auto ev = tool_->events();

    auto cw = server_side(all, port, "CLOSE-WAIT");
    auto listeners = ss_state(all, "LISTEN");
    ASSERT_EQ(cw.size(), static_cast<size_t>(kTotal)) << dump_ss(all);
    ASSERT_EQ(listeners.size(), 1U) << dump_ss(all);
    const SsSock& ls = listeners[0];
    EXPECT_EQ(ls.local, lsn["local"]);
    ASSERT_EQ(ls.users.size(), 1U) << ls.raw;
    const std::uint64_t netns = netns_of(srv->pid());
    ASSERT_NE(netns, 0U);

    // close_wait lines: the same set of sockets as ss, one line each.
    auto cws = index_by_tuple(of_type(ev, "close_wait"), "close_wait");
    std::set<std::string> ss_keys, tool_keys;
    for (const auto& s : cw)
        ss_keys.insert(tuple_key(s));
    for (const auto& [k, f] : cws)
        tool_keys.insert(k);
    EXPECT_EQ(tool_keys, ss_keys) << dump_all(ev) << dump_ss(all);
    int owned = 0, queued = 0;
    std::vector<int> ss_fds;
    for (const auto& s : cw) {
        auto it = cws.find(tuple_key(s));
        ASSERT_NE(it, cws.end()) << "ss socket not reported: " << s.raw << "\n" << dump_all(ev);
        const json& f = it->second;
        SCOPED_TRACE("close_wait: " + f.dump() + "\nss: " + s.raw);
        if (s.users.empty()) {
            ++queued;
            expect_queued(f, s, lsn, "cwt_leak_srv");
        } else {
            ++owned;
            expect_owned(f, s, srv->pid(), "cwt_leak_srv");
            ss_fds.push_back(s.users[0].fd);
            // An accepted child is matched to its listener by address.
            ASSERT_TRUE(f.at("listener").is_object());
            EXPECT_EQ(str(f.at("listener"), "local"), lsn["local"]);
            EXPECT_EQ(str(f.at("listener"), "pid"), lsn["pid"]);
        }
        EXPECT_EQ(str(f, "recv_q"), std::to_string(s.recv_q));
        EXPECT_EQ(s.recv_q, 6U) << "\"hello\" and the FIN";
        EXPECT_EQ(f.value("netns", 0ULL), netns);
        EXPECT_EQ(str(f.at("listener"), "queue"), std::to_string(ls.recv_q));
        EXPECT_EQ(str(f.at("listener"), "backlog"), std::to_string(ls.send_q));
    }
    EXPECT_EQ(owned, kAccepted);
    EXPECT_EQ(queued, kQueued);

    // The listener line: queue and backlog as ss's Recv-Q and Send-Q, and the
    // process-less sockets on its side of the port, by state.
    std::size_t ss_queued_cw = 0, ss_queued_estab = 0;
    for (const auto& s : server_side(all, port, "CLOSE-WAIT"))
        ss_queued_cw += s.users.empty();
    for (const auto& s : server_side(all, port, "ESTAB"))
        ss_queued_estab += s.users.empty();
    EXPECT_EQ(ss_queued_cw, static_cast<std::size_t>(kQueued));
    EXPECT_EQ(ss_queued_estab, static_cast<std::size_t>(kQueuedEstab));
    auto lrows = of_type(ev, "listener");
    ASSERT_EQ(lrows.size(), 1U) << dump_all(ev);
    const json& l = lrows[0];
    SCOPED_TRACE("listener: " + l.dump() + "\nss: " + ls.raw);
    EXPECT_EQ(str(l, "local"), ls.local);
    EXPECT_EQ(l.value("pid", -1), ls.users[0].pid);
    EXPECT_EQ(str(l, "comm"), ls.users[0].comm);
    EXPECT_EQ(l.value("fd", -1), ls.users[0].fd);
    EXPECT_EQ(str(l, "fd"), lsn["fd"]);
    EXPECT_EQ(l.value("queue", -1), static_cast<int>(ls.recv_q));
    EXPECT_EQ(l.value("backlog", -1), static_cast<int>(ls.send_q));
    EXPECT_EQ(ls.send_q, 16U);
    EXPECT_EQ(l.value("queued_close_wait", -1), static_cast<int>(ss_queued_cw));
    EXPECT_EQ(l.value("queued_established", -1), static_cast<int>(ss_queued_estab));
    EXPECT_EQ(l.value("netns", 0ULL), netns);
    EXPECT_FALSE(l.contains("owners")) << "one fd holds the listener";

    // The process line: the owned CLOSE_WAITs, their fds, and /proc's view.
    auto prows = of_type(ev, "process");
    ASSERT_EQ(prows.size(), 1U) << dump_all(ev);
    expect_process_row(prows[0], srv->pid(), "cwt_leak_srv", cw);
    EXPECT_EQ(prows[0].value("close_wait", -1), kAccepted);
    EXPECT_EQ(prows[0].value("open_fds", -1), open_fds);
    EXPECT_EQ(prows[0].value("nofile_soft", -1), 777);
    EXPECT_EQ(prows[0].value("nofile_hard", -1), 888);

    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), kTotal) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    ASSERT_EQ(sum.at("processes").size(), 1U) << sum.dump();
    EXPECT_EQ(sum.at("processes")[0].value("close_wait", -1), kAccepted) << sum.dump();
    ASSERT_EQ(sum.at("listeners").size(), 1U) << sum.dump();
    EXPECT_EQ(sum.at("listeners")[0].value("queued_close_wait", -1), kQueued) << sum.dump();
}

// No CLOSE_WAIT on the port: exit status 0, no close_wait or process line,
// and the listener line still shows its queue (one connection ESTABLISHED in
// it, two accepted).
TEST_F(Snapshot, CleanWithoutCloseWaits)
{
    const int kAccepted = 2, kConns = 3;
    auto srv = spawn("cwt_leak_srv", {"--accept", std::to_string(kAccepted), "--backlog", "8"});
    auto lsn = wait_listen(*srv);
    ASSERT_FALSE(lsn.empty()) << srv->all_output();
    const int port = std::stoi(lsn["port"]);
    auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kConns)});
    ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(srv->wait_line("STOPPED_ACCEPTING", kStepTimeout)) << srv->all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto l = ss_state(ss_port(port), "LISTEN");
            return l.size() == 1 && l[0].recv_q == static_cast<std::uint32_t>(kConns - kAccepted);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));

    int code = snapshot({"--port", lsn["port"]});
    const auto all = ss_port(port);
    EXPECT_EQ(code, 0) << "exit status 0: no CLOSE_WAIT\n" << tool_->proc().all_output();
    json sum = expect_snapshot_shape();
    auto ev = tool_->events();
    EXPECT_TRUE(ss_state(all, "CLOSE-WAIT").empty()) << dump_ss(all);
    ASSERT_EQ(server_side(all, port, "ESTAB").size(), static_cast<size_t>(kConns)) << dump_ss(all);

    EXPECT_TRUE(of_type(ev, "close_wait").empty()) << dump_all(ev);
    EXPECT_TRUE(of_type(ev, "process").empty()) << dump_all(ev);
    auto lrows = of_type(ev, "listener");
    ASSERT_EQ(lrows.size(), 1U) << dump_all(ev);
    auto ls = ss_state(all, "LISTEN");
    ASSERT_EQ(ls.size(), 1U);
    EXPECT_EQ(str(lrows[0], "local"), ls[0].local);
    EXPECT_EQ(lrows[0].value("pid", -1), srv->pid());
    EXPECT_EQ(str(lrows[0], "fd"), lsn["fd"]);
    EXPECT_EQ(lrows[0].value("queue", -1), static_cast<int>(ls[0].recv_q));
    EXPECT_EQ(lrows[0].value("backlog", -1), 8);
    EXPECT_EQ(lrows[0].value("queued_close_wait", -1), 0);
    EXPECT_EQ(lrows[0].value("queued_established", -1), kConns - kAccepted);
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), 0) << sum.dump();
    EXPECT_TRUE(sum.at("processes").empty()) << sum.dump();
    EXPECT_TRUE(sum.at("listeners").empty()) << sum.dump();
}

// -p without --port: only that process's CLOSE_WAITs (owned, or queued on its
// listener) and its listener, while another leak server and a stuck listener
// hold CLOSE_WAITs on other ports.
TEST_F(Snapshot, PidFilterShowsOnlyThatProcess)
{
    auto a = spawn("cwt_leak_srv", {"--accept", "3"});
    auto b = spawn("cwt_leak_srv", {});
    auto c = spawn("cwt_stuck_lsn", {});
    auto la = wait_listen(*a), lb = wait_listen(*b), lc = wait_listen(*c);
    ASSERT_FALSE(la.empty() || lb.empty() || lc.empty())
        << a->all_output() << b->all_output() << c->all_output();
    const int pa = std::stoi(la["port"]), pb = std::stoi(lb["port"]), pc = std::stoi(lc["port"]);

    // A: 3 accepted + 2 queued; B: 3 accepted; C: 2 queued.
    auto ca = spawn("cwt_peer_cli", {"--port", la["port"], "--count", "5"});
    auto cb = spawn("cwt_peer_cli", {"--port", lb["port"], "--count", "3"});
    auto cc = spawn("cwt_peer_cli", {"--port", lc["port"], "--count", "2"});
    for (auto* cli : {ca.get(), cb.get(), cc.get()})
        ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
    ASSERT_TRUE(a->wait_line("STOPPED_ACCEPTING", kStepTimeout)) << a->all_output();
    ASSERT_TRUE(b->wait_until([&] { return b->count_lines("ACCEPT ") == 3; }, kStepTimeout))
        << b->all_output();
    for (auto* cli : {ca.get(), cb.get(), cc.get()}) {
        cli->send("close\n");
        ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
    }
    ASSERT_TRUE(poll_until(
        [&] {
            return server_side(ss_port(pa), pa, "CLOSE-WAIT").size() == 5 &&
                   server_side(ss_port(pb), pb, "CLOSE-WAIT").size() == 3 &&
                   server_side(ss_port(pc), pc, "CLOSE-WAIT").size() == 2;
        },
        kStepTimeout));

    int code = snapshot({"-p", std::to_string(a->pid())});
    const auto cw = server_side(ss_port(pa), pa, "CLOSE-WAIT");
    ASSERT_EQ(code, 1) << tool_->proc().all_output();
    json sum = expect_snapshot_shape();
    auto ev = tool_->events();

    auto cws = of_type(ev, "close_wait");
    for (const auto& j : cws) {
        // (pid is null for a queued socket: compare as text.)
        const std::string me = std::to_string(a->pid());
        bool mine =
            str(j, "pid") == me || (str(j, "owner") == "accept_queue" && j.at("listener").is_object() &&
                                    str(j.at("listener"), "pid") == me);
        EXPECT_TRUE(mine) << "close_wait of another process with -p " << a->pid() << ": " << j.dump();
        for (int other : {pb, pc}) {
            EXPECT_NE(port_of(str(j, "local")), other) << j.dump();
            EXPECT_NE(port_of(str(j, "remote")), other) << j.dump();
        }
    }
    // A's CLOSE_WAITs, all of them, exactly as ss shows them.
    ASSERT_EQ(cw.size(), 5U);
    auto mine = index_by_tuple(cws, "close_wait");
    EXPECT_EQ(mine.size(), cw.size()) << dump_all(cws) << dump_ss(cw);
    int owned = 0;
    for (const auto& s : cw) {
        auto it = mine.find(tuple_key(s));
        ASSERT_NE(it, mine.end()) << "ss socket not reported: " << s.raw << "\n" << dump_all(ev);
        if (s.users.empty()) {
            expect_queued(it->second, s, la, "cwt_leak_srv");
        } else {
            ++owned;
            expect_owned(it->second, s, a->pid(), "cwt_leak_srv");
        }
    }
    EXPECT_EQ(owned, 3);

    auto lrows = of_type(ev, "listener");
    ASSERT_EQ(lrows.size(), 1U) << "A's listener only:\n" << dump_all(ev);
    EXPECT_EQ(str(lrows[0], "local"), la["local"]);
    EXPECT_EQ(lrows[0].value("pid", -1), a->pid());
    EXPECT_EQ(lrows[0].value("queued_close_wait", -1), 2) << lrows[0].dump();
    auto prows = of_type(ev, "process");
    ASSERT_EQ(prows.size(), 1U) << "A only:\n" << dump_all(ev);
    expect_process_row(prows[0], a->pid(), "cwt_leak_srv", cw);
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), 5) << sum.dump();
    EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();

    // The other way round: -p B sees B's 3, and nothing of A's or C's.
    code = snapshot({"-p", std::to_string(b->pid())});
    ASSERT_EQ(code, 1) << tool_->proc().all_output();
    sum = expect_snapshot_shape();
    ev = tool_->events();
    auto bcw = server_side(ss_port(pb), pb, "CLOSE-WAIT");
    auto theirs = index_by_tuple(of_type(ev, "close_wait"), "close_wait");
    ASSERT_EQ(theirs.size(), 3U) << dump_all(ev);
    for (const auto& s : bcw) {
        auto it = theirs.find(tuple_key(s));
        ASSERT_NE(it, theirs.end()) << s.raw << "\n" << dump_all(ev);
        expect_owned(it->second, s, b->pid(), "cwt_leak_srv");
    }
    ASSERT_EQ(of_type(ev, "process").size(), 1U) << dump_all(ev);
    expect_process_row(of_type(ev, "process")[0], b->pid(), "cwt_leak_srv", bcw);
    EXPECT_EQ(sum.value("open_close_wait", -1), 3) << sum.dump();
}

// One socket held through several fds: dup() in one process, fork(), or
// SCM_RIGHTS into another. The snapshot names every holder as ss does, and
// each process line counts a socket once but lists all its fds.
class SnapshotSharedSocket : public Snapshot
{
  protected:
    void run(const std::string& how)
    {
        const int kConns = 2;
        std::vector<std::string> args = {"--backlog", "16"};
        if (how == "dup")
            args.insert(args.end(), {"--dup", "1"});
        else
            args.insert(args.end(), {"--share", how});
        auto srv = spawn("cwt_leak_srv", args);
        auto lsn = wait_listen(*srv);
        ASSERT_FALSE(lsn.empty()) << srv->all_output();
        const int port = std::stoi(lsn["port"]);
        auto cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(kConns)});
        ASSERT_TRUE(cli->wait_line("CONNECTED", kStepTimeout)) << cli->all_output();
        const std::string marker = how == "dup" ? "DUP " : "SHARED ";
        ASSERT_TRUE(srv->wait_until([&] { return srv->count_lines(marker) == kConns; }, kStepTimeout))
            << srv->all_output();
        cli->send("close\n");
        ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
        ASSERT_TRUE(poll_until(
            [&] { return server_side(ss_port(port), port, "CLOSE-WAIT").size() == kConns; }, kStepTimeout))
            << dump_ss(ss_port(port));

        int code = snapshot({"--port", lsn["port"]});
        const auto cw = server_side(ss_port(port), port, "CLOSE-WAIT");
        ASSERT_EQ(code, 1) << tool_->proc().all_output();
        json sum = expect_snapshot_shape();
        auto ev = tool_->events();
        ASSERT_EQ(cw.size(), static_cast<size_t>(kConns)) << dump_ss(ss_port(port));

        auto cws = index_by_tuple(of_type(ev, "close_wait"), "close_wait");
        ASSERT_EQ(cws.size(), static_cast<size_t>(kConns)) << dump_all(ev);
        std::map<int, std::string> holders; // pid -> comm, over all sockets
        for (const auto& s : cw) {
            SCOPED_TRACE(s.raw);
            auto it = cws.find(tuple_key(s));
            ASSERT_NE(it, cws.end()) << dump_all(ev);
            const json& f = it->second;
            ASSERT_EQ(s.users.size(), 2U) << "two fds hold it";
            std::set<std::tuple<int, int, std::string>> ss_owners, tool_owners;
            for (const auto& u : s.users) {
                ss_owners.insert({u.pid, u.fd, u.comm});
                holders[u.pid] = u.comm;
            }
            EXPECT_EQ(str(f, "owner"), "process") << f.dump();
            ASSERT_TRUE(f.contains("owners") && f.at("owners").is_array()) << f.dump();
            for (const auto& o : f.at("owners"))
                tool_owners.insert({o.value("pid", -1), o.value("fd", -1), str(o, "comm")});
            EXPECT_EQ(tool_owners, ss_owners) << f.dump();
            EXPECT_TRUE(ss_owners.count({f.value("pid", -1), f.value("fd", -1), str(f, "comm")}))
                << "the primary owner is one of the holders: " << f.dump();
            EXPECT_EQ(str(f, "local"), s.local);
            EXPECT_EQ(str(f, "remote"), s.peer);
            EXPECT_EQ(str(f, "recv_q"), std::to_string(s.recv_q));
        }
        EXPECT_EQ(holders.size(), how == "dup" ? 1U : 1U + (how == "fork" ? kConns : 1U)) << dump_ss(cw);

        // One process line per holder, each against ss and /proc.
        auto prows = of_type(ev, "process");
        std::map<int, json> by_pid;
        for (const auto& p : prows) {
            EXPECT_EQ(by_pid.count(p.value("pid", -1)), 0U) << "process listed twice: " << p.dump();
            by_pid[p.value("pid", -1)] = p;
        }
        EXPECT_EQ(by_pid.size(), holders.size()) << dump_all(prows) << dump_ss(cw);
        for (const auto& [pid, comm] : holders) {
            auto it = by_pid.find(pid);
            ASSERT_NE(it, by_pid.end()) << "no process line for holder " << pid << "\n" << dump_all(prows);
            expect_process_row(it->second, pid, comm, cw);
        }
        ASSERT_TRUE(sum.is_object());
        EXPECT_EQ(sum.value("open_close_wait", -1), kConns) << "each socket counted once: " << sum.dump();
        EXPECT_EQ(sum.value("unknown_owner", -1), 0) << sum.dump();
    }
};

TEST_F(SnapshotSharedSocket, DupedInOneProcess)
{
    run("dup");
}
TEST_F(SnapshotSharedSocket, InheritedThroughFork)
{
    run("fork");
}
TEST_F(SnapshotSharedSocket, PassedOverScmRights)
{
    run("scm");
}

// A CLOSE_WAIT whose only reference is an SCM_RIGHTS message nobody received:
// it has a file but no process fd (ss: no users, but an inode). The snapshot
// reports it as no_fd, not as queued and not as owned by anyone.
TEST_F(Snapshot, InFlightSocketIsNoFd)
{
    const int port = free_port();
    auto fd_closer = [](int* fd) {
        if (*fd >= 0)
            ::close(*fd);
    };
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cfd = -1, afd = -1, sv[2] = {-1, -1};
    std::unique_ptr<int, decltype(fd_closer)> g1(&lfd, fd_closer), g2(&cfd, fd_closer), g3(&afd, fd_closer),
        g4(&sv[0], fd_closer), g5(&sv[1], fd_closer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    ASSERT_EQ(listen(lfd, 8), 0);
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    afd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(afd, 0) << std::strerror(errno);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    // Send the accepted socket to sv[1] and never receive it; drop our fd.
    ASSERT_TRUE(scn::send_fd(sv[0], afd)) << std::strerror(errno);
    ::close(afd);
    afd = -1;
    ::close(cfd);
    cfd = -1;
    std::vector<SsSock> cw;
    ASSERT_TRUE(poll_until([&] { return (cw = server_side(ss_port(port), port, "CLOSE-WAIT")).size() == 1; },
                           kStepTimeout))
        << dump_ss(ss_port(port));
    ASSERT_TRUE(cw[0].users.empty()) << cw[0].raw;
    ASSERT_NE(cw[0].ino, 0U) << "it still has a file: " << cw[0].raw;

    int code = snapshot({"--port", std::to_string(port)});
    ASSERT_EQ(code, 1) << tool_->proc().all_output();
    json sum = expect_snapshot_shape();
    auto ev = tool_->events();
    auto cws = of_type(ev, "close_wait");
    ASSERT_EQ(cws.size(), 1U) << dump_all(ev);
    const json& f = cws[0];
    EXPECT_EQ(str(f, "owner"), "no_fd") << f.dump();
    EXPECT_TRUE(f.at("pid").is_null()) << f.dump();
    EXPECT_TRUE(f.at("fd").is_null()) << f.dump();
    EXPECT_EQ(tuple_key(f), tuple_key(cw[0])) << f.dump();
    EXPECT_EQ(str(f, "recv_q"), std::to_string(cw[0].recv_q)) << f.dump();
    EXPECT_TRUE(of_type(ev, "process").empty()) << dump_all(ev);
    auto lrows = of_type(ev, "listener");
    ASSERT_EQ(lrows.size(), 1U) << dump_all(ev);
    EXPECT_EQ(lrows[0].value("pid", -1), getpid()) << lrows[0].dump();
    EXPECT_EQ(lrows[0].value("fd", -1), lfd) << lrows[0].dump();
    EXPECT_EQ(lrows[0].value("queued_close_wait", -1), 0) << "it left the queue: " << lrows[0].dump();
    ASSERT_TRUE(sum.is_object());
    EXPECT_EQ(sum.value("open_close_wait", -1), 1) << sum.dump();
}

// A -p for a process that does not exist: exit status 2, one line on stderr,
// nothing on stdout.
TEST_F(Snapshot, NonexistentPidExitsWithTwo)
{
    const std::string dead = std::to_string(dead_pid());
    for (bool json_out : {true, false}) {
        SCOPED_TRACE(json_out ? "--json" : "columns");
        std::vector<std::string> args = {"--snapshot", "-p", dead};
        if (json_out)
            args.push_back("--json");
        Tool tool(args);
        ASSERT_TRUE(tool.proc().wait_exit(kExitTimeout)) << tool.proc().all_output();
        EXPECT_EQ(tool.proc().exit_code(), 2) << tool.proc().all_output();
        expect_one_line_error(tool.proc());
        EXPECT_NE(tool.proc().err().find(dead), std::string::npos) << "names the pid: " << tool.proc().err();
    }
}

// Two listeners sharing one port (SO_REUSEPORT, one per process), neither
// accepting; 12 clients connect and close. The kernel spreads the connections
// over both queues, and ss's Recv-Q of each listener says how many each holds.
// Each listener line must count the CLOSE_WAITs in its own queue, and -p of
// either process must report exactly the ones queued on its listener.
TEST_F(Snapshot, ReusePortListenersCountTheirOwnQueues)
{
    // iter/tcp walks each listener's own accept queue; sock_diag has no such
    // link and can only match by address (a documented limit of the fallback).
    if (inventory() == "sock_diag")
        GTEST_SKIP() << "sock_diag cannot tell which SO_REUSEPORT listener's queue holds a socket";
    {
        Proc features({tool_path(), "--features"});
        ASSERT_TRUE(features.wait_exit(kStartTimeout));
        if (features.all_output().find("SO_REUSEPORT groups merge") != std::string::npos)
            GTEST_SKIP() << "this kernel has no bpf_loop: queues are matched by address (see --features)";
    }

    const int kConns = 12;
    const int port = free_port();
    const std::string P = std::to_string(port);
    auto a = spawn("cwt_stuck_lsn", {"--port", P, "--reuseport", "1", "--backlog", "16"});
    auto la = wait_listen(*a);
    ASSERT_FALSE(la.empty()) << a->all_output();
    auto b = spawn("cwt_stuck_lsn", {"--port", P, "--reuseport", "1", "--backlog", "16"});
    auto lb = wait_listen(*b);
    ASSERT_FALSE(lb.empty()) << b->all_output();
    auto cli =
        spawn("cwt_peer_cli", {"--port", P, "--count", std::to_string(kConns), "--close-after-ms", "50"});
    ASSERT_TRUE(cli->wait_line("CLOSED", kStepTimeout)) << cli->all_output();
    std::vector<SsSock> all;
    ASSERT_TRUE(poll_until(
        [&] {
            all = ss_port(port);
            return server_side(all, port, "CLOSE-WAIT").size() == kConns;
        },
        kStepTimeout))
        << dump_ss(all);
    std::map<int, std::uint32_t> ss_queue; // listener owner pid -> Recv-Q
    for (const auto& l : ss_state(all, "LISTEN")) {
        ASSERT_EQ(l.users.size(), 1U) << l.raw;
        ss_queue[l.users[0].pid] = l.recv_q;
    }
    ASSERT_EQ(ss_queue.size(), 2U) << dump_ss(all);
    ASSERT_EQ(ss_queue[a->pid()] + ss_queue[b->pid()], static_cast<std::uint32_t>(kConns)) << dump_ss(all);
    // With 12 connections both queues get some (all on one side: p = 2^-11).
    ASSERT_GT(ss_queue[a->pid()], 0U) << dump_ss(all);
    ASSERT_GT(ss_queue[b->pid()], 0U) << dump_ss(all);

    ASSERT_EQ(snapshot({"--port", P}), 1) << tool_->proc().all_output();
    expect_snapshot_shape();
    auto lrows = of_type(tool_->events(), "listener");
    ASSERT_EQ(lrows.size(), 2U) << dump_all(tool_->events());
    for (const auto& l : lrows) {
        const int pid = l.value("pid", -1);
        ASSERT_TRUE(ss_queue.count(pid)) << l.dump();
        EXPECT_EQ(l.value("queue", -1), static_cast<int>(ss_queue[pid])) << l.dump() << "\n" << dump_ss(all);
        EXPECT_EQ(l.value("queued_close_wait", -1), static_cast<int>(ss_queue[pid]))
            << "every socket in its queue is a CLOSE_WAIT: " << l.dump() << "\n"
            << dump_ss(all);
    }
    for (pid_t pid : {a->pid(), b->pid()}) {
        SCOPED_TRACE("-p " + std::to_string(pid));
        EXPECT_EQ(snapshot({"-p", std::to_string(pid)}), 1) << "CLOSE_WAITs are queued on its listener\n"
                                                            << tool_->proc().all_output();
        expect_snapshot_shape();
        auto cws = of_type(tool_->events(), "close_wait");
        EXPECT_EQ(cws.size(), ss_queue[pid]) << dump_all(cws) << dump_ss(all);
        for (const auto& c : cws)
            EXPECT_EQ(str(c.at("listener"), "pid"), std::to_string(pid)) << c.dump();
    }
}
