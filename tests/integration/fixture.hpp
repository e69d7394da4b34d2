// Shared fixture and helpers of the integration tests (one file per
// capability: *_test.cpp). The harness (harness.hpp) runs processes and reads
// ss, /proc and bpftool; this header holds what the tests share on top of it:
// the ClosewaitTrace fixture (start and stop the real tool, check its output)
// and the comparisons of findings against ss.
#pragma once

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

namespace itest
{

inline constexpr double kStartTimeout = 20; // BPF load + attach + inventory
inline constexpr double kStepTimeout = 10;  // scenario steps
inline constexpr double kExitTimeout = 10;  // tool exit after SIGINT

inline std::string str(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return "<null>";
    if (it->is_string())
        return it->get<std::string>();
    return it->dump();
}

inline std::string tuple_key(const std::string& local, const std::string& remote)
{
    return local + " -> " + remote;
}
inline std::string tuple_key(const json& f)
{
    return tuple_key(str(f, "local"), str(f, "remote"));
}
inline std::string tuple_key(const SsSock& s)
{
    return tuple_key(s.local, s.peer);
}

inline int port_of(const std::string& endpoint)
{
    auto c = endpoint.rfind(':');
    return c == std::string::npos ? -1 : std::stoi(endpoint.substr(c + 1));
}

inline std::string dump_all(const std::vector<json>& v)
{
    std::string s;
    for (const auto& j : v)
        s += "  " + j.dump() + "\n";
    return s;
}

inline std::string dump_ss(const std::vector<SsSock>& v)
{
    std::string s;
    for (const auto& x : v)
        s += "  " + x.raw + "\n";
    return s;
}

// Findings of `type`, indexed by "local -> remote"; fails on duplicates
// (each socket is reported once per type).
inline std::map<std::string, json> index_by_tuple(const std::vector<json>& findings, const std::string& what)
{
    std::map<std::string, json> m;
    for (const auto& f : findings) {
        auto k = tuple_key(f);
        EXPECT_EQ(m.count(k), 0U) << what << " reported twice for " << k << ":\n" << dump_all(findings);
        m[k] = f;
    }
    return m;
}

inline std::unique_ptr<Proc> spawn(const std::string& name, std::vector<std::string> args)
{
    args.insert(args.begin(), scenario(name));
    return std::make_unique<Proc>(std::move(args));
}

// Waits for a scenario's "LISTEN pid= fd= local= port= backlog=" line.
inline std::map<std::string, std::string> wait_listen(Proc& p)
{
    auto l = p.wait_line("LISTEN ", kStepTimeout);
    if (!l)
        return {};
    return kv(*l);
}

// After a server printed STOPPED_ACCEPTING: waits until ss shows `queued`
// connections in the accept queue of its one listener on `port`.
inline void wait_queue(Proc& srv, int port, int queued)
{
    ASSERT_TRUE(srv.wait_line("STOPPED_ACCEPTING", kStepTimeout)) << srv.all_output();
    ASSERT_TRUE(poll_until(
        [&] {
            auto l = ss_state(ss_port(port), "LISTEN");
            return l.size() == 1 && l[0].recv_q == static_cast<std::uint32_t>(queued);
        },
        kStepTimeout))
        << dump_ss(ss_port(port));
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
            "summary",      "target_exit"};
        for (const auto& j : tool.events())
            EXPECT_TRUE(known.count(str(j, "type"))) << "unexpected output line: " << j.dump();
        if (!allow_lost) {
            EXPECT_EQ(tool.count("lost"), 0U) << tool.proc().all_output();
        }
    }

    // ss's CLOSE_WAITs on `port` and the tool's leak findings by 4-tuple;
    // both must number `n`. Call under ASSERT_NO_FATAL_FAILURE.
    void leaks_and_ss(Tool& tool, int port, std::size_t n, std::vector<SsSock>& cw,
                      std::map<std::string, json>& leaks)
    {
        cw = ss_state(ss_port(port), "CLOSE-WAIT");
        ASSERT_EQ(cw.size(), n) << dump_ss(ss_port(port));
        leaks = index_by_tuple(tool.events_of("close_wait_leak"), "close_wait_leak");
        ASSERT_EQ(leaks.size(), n) << tool.proc().all_output();
    }

    // Lets the tool run for `seconds` more, reading its output.
    void keep_running(Tool& tool, double seconds)
    {
        tool.proc().wait_until([] { return false; }, seconds);
    }
};

// Common checks of a finding owned by one process fd, against ss's record.
inline void expect_owned(const json& f, const SsSock& s, int pid, const std::string& comm)
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
inline void expect_queued(const json& f, const SsSock& s, const std::map<std::string, std::string>& lsn,
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

// Number of open fds of pid, from /proc/PID/fd.
inline int count_fds(pid_t pid)
{
    int n = 0;
    if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* e = readdir(d))
            n += e->d_name[0] != '.';
        closedir(d);
    }
    return n;
}

// A failed run's output: exactly one line on stderr, naming the error; nothing on stdout.
inline void expect_one_line_error(Proc& p)
{
    const std::string& err = p.err();
    ASSERT_FALSE(err.empty()) << p.all_output();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "stderr: " << err;
    EXPECT_EQ(err.back(), '\n') << "stderr: " << err;
    EXPECT_NE(err.find("error"), std::string::npos) << "stderr: " << err;
    EXPECT_TRUE(p.lines().empty()) << "nothing on stdout on error\n" << p.all_output();
}

// " a b c": a command line's arguments, for SCOPED_TRACE.
inline std::string joined(const std::vector<std::string>& args)
{
    std::string s;
    for (const auto& a : args)
        s += " " + a;
    return s;
}

// The tool refused its command line: exit 2 and one error line, nothing else.
inline void expect_refused(Proc& p)
{
    ASSERT_TRUE(p.wait_exit(kExitTimeout));
    EXPECT_EQ(p.exit_code(), 2) << p.all_output();
    expect_one_line_error(p);
}

} // namespace itest
