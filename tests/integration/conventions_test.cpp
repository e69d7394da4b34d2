// bcc-style conventions (issue #15): -P/-L/-D port lists and -4/-6, decided
// in the kernel (live, and --snapshot through the iterators) or by the
// sock_diag inventory; -T/-t time columns, -w, -V; one record per line; the
// JSON schema catches a renamed field.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include <regex>

#include "fixture.hpp"

using namespace itest;

namespace
{

// CLOSE_WAITs on the server's side of `port` (local port = port).
std::size_t server_side_cw(int port)
{
    std::size_t n = 0;
    for (const auto& s : ss_state(ss_port(port), "CLOSE-WAIT"))
        n += port_of(s.local) == port;
    return n;
}

// N server-side CLOSE_WAITs on a listener of its own (local port = port):
// cwt_leak_srv never closes what it accepts; the peers close.
struct ServerLeaks {
    std::unique_ptr<Proc> srv, cli;
    int port = 0;
};

ServerLeaks server_leaks(bool v6, int n)
{
    ServerLeaks l;
    l.port = free_port(v6);
    const std::string P = std::to_string(l.port), addr = v6 ? "::1" : "127.0.0.1";
    l.srv = spawn("cwt_leak_srv", {"--addr", addr, "--port", P, "--backlog", "16"});
    EXPECT_FALSE(wait_listen(*l.srv).empty()) << l.srv->all_output();
    l.cli = spawn("cwt_peer_cli", {"--addr", addr, "--port", P, "--count", std::to_string(n), "--send", "x"});
    EXPECT_TRUE(l.cli->wait_line("CONNECTED", kStepTimeout)) << l.cli->all_output();
    EXPECT_TRUE(l.srv->wait_until(
        [&] { return l.srv->count_lines("ACCEPT ") == static_cast<std::size_t>(n); }, kStepTimeout));
    l.cli->send("close\n");
    EXPECT_TRUE(l.cli->wait_line("CLOSED", kStepTimeout)) << l.cli->all_output();
    EXPECT_TRUE(
        poll_until([&] { return server_side_cw(l.port) == static_cast<std::size_t>(n); }, kStepTimeout));
    return l;
}

// N client-side CLOSE_WAITs (remote port = the server's): the server closes
// first, cwt_leaky_cli never does.
struct ClientLeaks {
    std::unique_ptr<Proc> srv, cli;
    int port = 0; // the server's, the clients' remote port
};

ClientLeaks client_leaks(int n)
{
    ClientLeaks l;
    l.srv = spawn("cwt_closing_srv", {});
    auto lsn = wait_listen(*l.srv);
    EXPECT_FALSE(lsn.empty()) << l.srv->all_output();
    l.port = std::stoi(lsn["port"]);
    l.cli = spawn("cwt_leaky_cli", {"--port", lsn["port"], "--count", std::to_string(n)});
    EXPECT_TRUE(l.cli->wait_line("ALL_EOF", kStepTimeout)) << l.cli->all_output();
    EXPECT_TRUE(poll_until(
        [&] { return ss_state(ss_port(l.port), "CLOSE-WAIT").size() == static_cast<std::size_t>(n); },
        kStepTimeout));
    return l;
}

} // namespace

class BccFlags : public ClosewaitTrace
{
  protected:
    // CLOSE_WAITs and listeners by their ports, from one snapshot's JSON.
    struct Seen {
        std::multiset<int> cw_local, cw_remote, listeners;
        int exit_code = -1;
    };

    Seen snapshot(std::vector<std::string> args, const std::string& inventory)
    {
        args.insert(args.begin(), {"--snapshot", "--json", "--inventory", inventory});
        Tool tool(args);
        Seen s;
        EXPECT_TRUE(tool.proc().wait_exit(kStartTimeout)) << tool.proc().all_output();
        s.exit_code = tool.proc().exit_code();
        for (const auto& j : tool.events()) {
            if (str(j, "type") == "close_wait") {
                s.cw_local.insert(port_of(str(j, "local")));
                s.cw_remote.insert(port_of(str(j, "remote")));
            } else if (str(j, "type") == "listener") {
                s.listeners.insert(port_of(str(j, "local")));
            }
        }
        return s;
    }

    static std::size_t count_in(const std::multiset<int>& m, const std::set<int>& ports)
    {
        std::size_t n = 0;
        for (int p : m)
            n += ports.count(p);
        return n;
    }
};

// Every filter, in both snapshot inventories: the iterators' (the kernel
// decides, from .rodata) and sock_diag's (core/target_filter decides).
TEST_F(BccFlags, SnapshotPortAndFamilyFiltersBothInventories)
{
    auto a = server_leaks(false, 2), b = server_leaks(false, 3), c = server_leaks(false, 1);
    auto d6 = server_leaks(true, 2);
    auto out = client_leaks(2);
    const std::string A = std::to_string(a.port), B = std::to_string(b.port), C = std::to_string(c.port),
                      D = std::to_string(d6.port), E = std::to_string(out.port);
    const std::set<int> ours = {a.port, b.port, c.port, d6.port, out.port};

    for (const std::string inv : {"iterators", "sock_diag"}) {
        SCOPED_TRACE("--inventory " + inv);
        // -P A,B: local or remote port in the list.
        Seen s = snapshot({"-P", A + "," + B}, inv);
        EXPECT_EQ(s.exit_code, 1);
        EXPECT_EQ(s.cw_local.count(a.port), 2U);
        EXPECT_EQ(s.cw_local.count(b.port), 3U);
        EXPECT_EQ(s.cw_local.size(), 5U) << "only ports " << A << "," << B;
        EXPECT_EQ(s.listeners, (std::multiset<int>{a.port, b.port}));
        // The old --port N form, and -P given twice, still work.
        s = snapshot({"--port", C, "-P", D}, inv);
        EXPECT_EQ(s.cw_local, (std::multiset<int>{c.port, d6.port, d6.port}));
        // -L: the local port only. -D: the remote port only; listeners have none.
        s = snapshot({"-L", A + "," + E}, inv);
        EXPECT_EQ(s.cw_local, (std::multiset<int>{a.port, a.port}))
            << "the clients' CLOSE_WAITs have remote port E";
        EXPECT_EQ(s.listeners, (std::multiset<int>{a.port, out.port}));
        s = snapshot({"-D", E}, inv);
        EXPECT_EQ(s.cw_remote, (std::multiset<int>{out.port, out.port}));
        EXPECT_TRUE(s.listeners.empty()) << "a listener has no remote port";
        // -4 / -6.
        s = snapshot({"-6", "-P", A + "," + D}, inv);
        EXPECT_EQ(s.cw_local, (std::multiset<int>{d6.port, d6.port}));
        s = snapshot({"-4", "-P", A + "," + D}, inv);
        EXPECT_EQ(s.cw_local, (std::multiset<int>{a.port, a.port}));
        // Every list given must match: nothing has local port A and remote port E.
        s = snapshot({"-L", A, "-D", E}, inv);
        EXPECT_EQ(s.exit_code, 0);
        EXPECT_EQ(count_in(s.cw_local, ours) + count_in(s.listeners, ours), 0U);
    }
}

// Live: the kernel filters before anything reaches the ring buffer or the maps.
TEST_F(BccFlags, LivePortListAndFamilyFilters)
{
    auto a = server_leaks(false, 2), b = server_leaks(false, 1), c = server_leaks(false, 2);
    auto d6 = server_leaks(true, 1);
    const std::string A = std::to_string(a.port), B = std::to_string(b.port), D = std::to_string(d6.port);
    {
        json start;
        auto tool =
            start_tool({"--json", "--threshold", "1", "-d", "30", "-P", A + "," + B + "," + D, "-4"}, start);
        ASSERT_TRUE(start.is_object());
        EXPECT_EQ(start.at("filters").at("ports"), json::array({a.port, b.port, d6.port}));
        EXPECT_EQ(str(start.at("filters"), "family"), "ipv4");
        EXPECT_TRUE(start.at("filters").at("port").is_null());
        ASSERT_TRUE(tool->wait_count("close_wait_leak", 3, kStepTimeout)) << tool->proc().all_output();
        keep_running(*tool, 1.0);
        std::multiset<int> ports;
        for (const auto& j : tool->events_of("close_wait_leak"))
            ports.insert(port_of(str(j, "local")));
        EXPECT_EQ(ports, (std::multiset<int>{a.port, a.port, b.port})) << tool->proc().all_output();
        stop_tool(*tool);
        expect_clean_output(*tool);
    }
    {
        auto out = client_leaks(2);
        json start;
        auto tool =
            start_tool({"--json", "--threshold", "1", "-d", "30", "-D", std::to_string(out.port)}, start);
        ASSERT_TRUE(start.is_object());
        EXPECT_EQ(start.at("filters").at("rports"), json::array({out.port}));
        ASSERT_TRUE(tool->wait_count("close_wait_leak", 2, kStepTimeout)) << tool->proc().all_output();
        keep_running(*tool, 1.0);
        for (const auto& j : tool->events_of("close_wait_leak"))
            EXPECT_EQ(port_of(str(j, "remote")), out.port) << j.dump();
        EXPECT_EQ(tool->count("close_wait_leak"), 2U) << tool->proc().all_output();
        stop_tool(*tool);
    }
    {
        json start;
        auto tool = start_tool({"--json", "--threshold", "1", "-d", "30", "-6", "-L", D + "," + A}, start);
        ASSERT_TRUE(tool->wait_count("close_wait_leak", 1, kStepTimeout)) << tool->proc().all_output();
        keep_running(*tool, 1.0);
        auto leaks = tool->events_of("close_wait_leak");
        ASSERT_EQ(leaks.size(), 1U) << tool->proc().all_output();
        EXPECT_EQ(port_of(str(leaks[0], "local")), d6.port);
        stop_tool(*tool);
    }
}

// Human columns, live and --snapshot: -T/-t as bcc, one record per line,
// narrow lines fit, -w shows IPv6 endpoints whole.
TEST_F(BccFlags, TimeColumnsWideAndOneLinePerRecord)
{
    auto d6 = server_leaks(true, 2);
    const std::string D = std::to_string(d6.port);
    const std::regex both(R"(^\d\d:\d\d:\d\d \d+\.\d{3} +LEAK )");
    const std::regex rel(R"(^\d+\.\d{3} +CLOSEWAIT )");
    {
        Tool tool({"-T", "-t", "-w", "--threshold", "1", "-d", "4", "-P", D});
        ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout + 5)) << tool.proc().all_output();
        EXPECT_EQ(tool.proc().exit_code(), 0) << tool.proc().all_output();
        const auto& lines = tool.proc().lines();
        ASSERT_FALSE(lines.empty());
        EXPECT_EQ(lines[0].text.rfind("TIME     TIME(s)   EVENT", 0), 0U) << lines[0].text;
        std::size_t leaks = 0;
        for (const auto& l : lines) {
            if (l.text.find(" LEAK ") == std::string::npos)
                continue;
            ++leaks;
            EXPECT_TRUE(std::regex_search(l.text, both)) << l.text;
            EXPECT_NE(l.text.find("[::1]:" + D), std::string::npos) << l.text;
        }
        EXPECT_EQ(leaks, 2U) << tool.proc().all_output();
        // The start line on stderr, then nothing else.
        EXPECT_EQ(std::count(tool.proc().err().begin(), tool.proc().err().end(), '\n'), 1)
            << tool.proc().err();
    }
    {
        Tool tool({"--snapshot", "-t", "-P", D});
        ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout)) << tool.proc().all_output();
        EXPECT_EQ(tool.proc().exit_code(), 1) << tool.proc().all_output();
        std::size_t records = 0;
        for (const auto& l : tool.proc().lines()) {
            EXPECT_LE(l.text.size(), 119U) << l.text;
            EXPECT_NE(l.text.rfind("         ", 0), 0U) << "a continuation line: " << l.text;
            if (l.text.find(" CLOSEWAIT ") != std::string::npos) {
                ++records;
                EXPECT_TRUE(std::regex_search(l.text, rel)) << l.text;
            }
        }
        EXPECT_EQ(records, 2U) << tool.proc().all_output();
    }
}

TEST_F(BccFlags, VersionHelpAndBadFlags)
{
    {
        Tool tool({"-V"});
        ASSERT_TRUE(tool.proc().wait_exit(kExitTimeout));
        EXPECT_EQ(tool.proc().exit_code(), 0);
        ASSERT_EQ(tool.proc().lines().size(), 1U) << tool.proc().all_output();
        EXPECT_EQ(tool.proc().lines()[0].text.rfind("closewait-trace ", 0), 0U);
    }
    {
        Tool tool({"--help"});
        ASSERT_TRUE(tool.proc().wait_exit(kExitTimeout));
        EXPECT_EQ(tool.proc().exit_code(), 0);
        std::string all;
        for (const auto& l : tool.proc().lines())
            all += l.text + "\n";
        for (const char* flag : {"-P,--port", "-L,--localport", "-D,--remoteport", "-4,--ipv4", "-6,--ipv6",
                                 "-T,--time", "-t,--timestamp", "-w,--wide", "-V,--version", "--threshold"})
            EXPECT_NE(all.find(flag), std::string::npos) << flag << " in\n" << all;
        auto ex = all.find("Examples:"), st = all.find("Exit status:");
        EXPECT_NE(ex, std::string::npos) << all;
        ASSERT_NE(st, std::string::npos) << all;
        EXPECT_LT(ex, st) << "examples, then the exit statuses, at the end";
        EXPECT_NE(all.find("  2    error", st), std::string::npos) << all;
    }
    const std::vector<std::vector<std::string>> bad = {
        {"-t", "5"},     {"-4", "-6"},   {"-P", "0"},
        {"-P", "70000"}, {"-L", "80,x"}, {"-D", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"},
    };
    for (const auto& args : bad) {
        SCOPED_TRACE("closewait-trace" + joined(args));
        Tool tool(args);
        ASSERT_NO_FATAL_FAILURE(expect_refused(tool.proc()));
        if (args[0] == "-t") {
            EXPECT_NE(tool.proc().err().find("--threshold"), std::string::npos) << tool.proc().err();
        }
    }
}

// The published schema is strict: the tool's real output validates, and
// the same output with a field renamed, added or retyped does not.
TEST_F(BccFlags, SchemaCatchesARenamedField)
{
    Tool tool({"--json", "-d", "1", "-P", std::to_string(free_port())});
    ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout + 5)) << tool.proc().all_output();
    std::vector<std::string> lines;
    for (const auto& l : tool.proc().lines())
        lines.push_back(l.text);
    ASSERT_EQ(lines.size(), 2U) << tool.proc().all_output();
    if (schema_errors({R"({"type":"lost"})"}).empty())
        GTEST_SKIP() << "SKIPPED: no schema validator (python3-jsonschema)";
    EXPECT_EQ(schema_errors(lines), "");
    auto mutate = [&](std::size_t i, const std::string& from, const std::string& to) {
        auto copy = lines;
        auto at = copy[i].find(from);
        EXPECT_NE(at, std::string::npos) << from << " in " << copy[i];
        if (at != std::string::npos)
            copy[i].replace(at, from.size(), to);
        return schema_errors(copy);
    };
    EXPECT_NE(mutate(0, "\"tier\":", "\"tiers\":"), "") << "renamed field in start";
    EXPECT_NE(mutate(1, "\"open_close_wait\":", "\"open_close_waits\":"), "") << "renamed field in summary";
    EXPECT_NE(mutate(0, "\"ports\":", "\"portz\":"), "") << "renamed field in start.filters";
    EXPECT_NE(mutate(1, "\"type\":\"summary\"", "\"type\":\"summary\",\"extra\":1"), "") << "added field";
    EXPECT_NE(mutate(1, "\"type\":\"summary\"", "\"type\":\"summaries\""), "") << "unknown type";
    EXPECT_NE(mutate(0, "\"mode\":\"live\"", "\"mode\":7"), "") << "retyped field";
}
