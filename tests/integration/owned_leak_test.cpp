// Owned leaks: a socket held by a process fd that stays in CLOSE_WAIT past
// the threshold, accepted by a server or opened by a client.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

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
        auto tool = start_tool({"--json", "--threshold", "1", "-d", "30", "--port", P}, start);
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

        std::vector<SsSock> ss_now;
        std::map<std::string, json> leaks;
        ASSERT_NO_FATAL_FAILURE(leaks_and_ss(*tool, port, kConns, ss_now, leaks));
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
    auto tool = start_tool({"--json", "--threshold", "1", "-d", "30", "--port", lsn["port"]}, start);
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
    auto tool = start_tool({"--json", "--threshold", "1", "-d", "30", "--port", lsn["port"]}, start);
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
