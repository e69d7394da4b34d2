// Sharing: one socket behind several fds (dup), processes (fork) or passed
// over SCM_RIGHTS; every holder is listed, as ss lists them.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

// A cwt_leak_srv (with `args`) whose `conns` accepted sockets the client
// closed, the tool watching its port: returns when the server printed one
// `marker` line per connection and the tool reported every leak.
struct SharedLeaks {
    std::unique_ptr<Proc> srv, cli;
    std::unique_ptr<Tool> tool;
    int port = 0;
};

class SharedSocket : public ClosewaitTrace
{
  protected:
    void leak_shared(const std::vector<std::string>& args, const std::string& marker, int conns,
                     SharedLeaks& out)
    {
        out.srv = spawn("cwt_leak_srv", args);
        auto lsn = wait_listen(*out.srv);
        ASSERT_FALSE(lsn.empty()) << out.srv->all_output();
        out.port = std::stoi(lsn["port"]);
        json start;
        out.tool = start_tool({"--json", "--threshold", "1", "-d", "30", "--port", lsn["port"]}, start);
        ASSERT_TRUE(start.is_object());
        out.cli = spawn("cwt_peer_cli", {"--port", lsn["port"], "--count", std::to_string(conns)});
        ASSERT_TRUE(out.cli->wait_line("CONNECTED", kStepTimeout)) << out.cli->all_output();
        Proc& srv = *out.srv;
        ASSERT_TRUE(srv.wait_until([&] { return srv.count_lines(marker) == static_cast<std::size_t>(conns); },
                                   kStepTimeout))
            << srv.all_output();
        out.cli->send("close\n");
        ASSERT_TRUE(out.cli->wait_line("CLOSED", kStepTimeout));
        ASSERT_TRUE(out.tool->wait_count("close_wait_leak", conns, kStepTimeout))
            << out.tool->proc().all_output();
    }

    void run(const std::string& how);
};

// ---------------------------------------------------------------------------
// One socket, two fds (dup): the leak names both in owners[], ss agrees, and
// the summary lists both fds but counts the socket once.
TEST_F(SharedSocket, DupedSocketListsEveryOwnerFd)
{
    const int kConns = 2;
    SharedLeaks x;
    ASSERT_NO_FATAL_FAILURE(leak_shared({"--dup", "1"}, "DUP ", kConns, x));
    auto& tool = x.tool;
    auto& srv = x.srv;
    const int port = x.port;
    keep_running(*tool, 0.3);

    std::vector<SsSock> cw;
    std::map<std::string, json> leaks;
    ASSERT_NO_FATAL_FAILURE(leaks_and_ss(*tool, port, kConns, cw, leaks));
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

// Sockets shared between processes: inherited through fork, or passed over
// SCM_RIGHTS. Every holder is listed, as ss lists them.
void SharedSocket::run(const std::string& how)
{
    const int kConns = 2;
    SharedLeaks x;
    ASSERT_NO_FATAL_FAILURE(leak_shared({"--share", how}, "SHARED ", kConns, x));
    auto& tool = x.tool;
    const int port = x.port;

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

TEST_F(SharedSocket, InheritedThroughFork)
{
    run("fork");
}
TEST_F(SharedSocket, PassedOverScmRights)
{
    run("scm");
}
