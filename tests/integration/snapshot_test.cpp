// One-shot audit (--snapshot): every CLOSE_WAIT that exists now, against ss
// and /proc; run again on the sock_diag inventory (ctest integration_sock_diag).
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"
#include "scenarios/scm_rights.hpp"

using namespace itest;

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
    ASSERT_NO_FATAL_FAILURE(wait_queue(*srv, port, kQueued));
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
    ASSERT_NO_FATAL_FAILURE(wait_queue(*srv, port, kConns - kAccepted));

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
