// Accept queue: CLOSE_WAITs of children a listener never accepted, reported
// at once with the listener and its owner.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

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
    auto tool = start_tool({"--json", "--threshold", "3", "-d", "30", "--port", P}, start);
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
    auto tool = start_tool({"--json", "--threshold", "30", "-d", "30", "--port", lsn["port"]}, start);
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
