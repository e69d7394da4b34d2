// -p PID: only that process's sockets, in the live stream, the summary and
// the start-line counts.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

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
    auto tool = start_tool({"--json", "--threshold", "1", "-d", "30", "-p", std::to_string(a->pid())}, start);
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
    auto tool =
        start_tool({"--json", "--threshold", "30", "-d", "30", "-p", std::to_string(a->pid())}, start);
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
    auto tool =
        start_tool({"--json", "--threshold", "30", "-d", "30", "-p", std::to_string(a->pid())}, start);
    ASSERT_TRUE(start.is_object());
    ASSERT_TRUE(tool->wait_count("close_wait_leak", 2, kStepTimeout)) << tool->proc().all_output();
    stop_tool(*tool);
    EXPECT_EQ(start.value("preexisting_close_wait", -1), 2) << start.dump();
}
