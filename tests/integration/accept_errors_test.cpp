// Accept path: EMFILE/ENFILE (accept()/accept4() and io_uring), shedding,
// listen overflows and accept stalls, against the servers' own logs and nstat.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

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
