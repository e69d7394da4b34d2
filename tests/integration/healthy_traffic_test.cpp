// Healthy traffic: correct churn reports nothing and loses nothing.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

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
    auto tool = start_tool({"--json", "--threshold", "1", "-d", "40", "--port", lsn["port"]}, start);
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
