// Races with namespaces and containers (#10.5): namespaces that come and go
// while --snapshot walks them, processes that exit while their namespace is
// entered, and a container torn down while the live mode runs. Each must be
// skipped and counted, never a crash, never a false "clean".
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace
{

constexpr double kStepTimeout = 10;
constexpr int kLeaks = 3;

std::string fakectr()
{
    return source_dir() + "/tests/integration/containers/fakectr.sh";
}

std::uint64_t inode_of(const std::string& path)
{
    struct stat st {
    };
    return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

bool have_tools()
{
    return system("command -v ip >/dev/null && command -v unshare >/dev/null && command -v nsenter "
                  ">/dev/null") == 0;
}

std::string cgroup2_root()
{
    if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0)
        return "/sys/fs/cgroup/unified";
    if (access("/sys/fs/cgroup/cgroup.procs", F_OK) == 0)
        return "/sys/fs/cgroup";
    return "";
}

// A fake docker container (fakectr.sh) with a leaking server and kLeaks
// CLOSE_WAITs made inside it; removed at the end if the test did not.
struct LeakyContainer {
    std::string root, name, id, cgroup;
    std::unique_ptr<Proc> srv, cli;
    std::uint64_t netns = 0;
    bool torn_down = false;

    bool start(int port)
    {
        root = "cwt-race-" + std::to_string(getpid());
        name = "r" + std::to_string(getpid());
        FILE* f = popen((fakectr() + " path " + root + " docker " + name).c_str(), "r");
        char buf[1024] = {0};
        if (f) {
            if (!fgets(buf, sizeof(buf), f))
                buf[0] = 0;
            pclose(f);
        }
        auto p = kv(std::string("X ") + buf);
        id = p["ID"];
        cgroup = p["CGROUP"];
        srv = std::make_unique<Proc>(std::vector<std::string>{
            fakectr(), "run", root, "docker", name, "netns", "--", scenario("cwt_leak_srv"), "--addr",
            "127.0.0.1", "--port", std::to_string(port), "--lifetime", "60"});
        if (!srv->wait_line("LISTEN ", kStepTimeout))
            return false;
        netns = inode_of("/run/netns/cwt-" + name);
        cli = std::make_unique<Proc>(
            std::vector<std::string>{fakectr(), "exec", name, "--", scenario("cwt_peer_cli"), "--addr",
                                     "127.0.0.1", "--port", std::to_string(port), "--count",
                                     std::to_string(kLeaks), "--close-after-ms", "50", "--lifetime", "60"});
        return netns != 0 &&
               poll_until(
                   [&] {
                       return static_cast<int>(
                                  ss_state(ss_port(port, "ip netns exec cwt-" + name + " "), "CLOSE-WAIT")
                                      .size()) == kLeaks;
                   },
                   kStepTimeout);
    }
    // What a runtime does on `docker rm -f`: every process killed, the
    // cgroups removed, the namespace's bind mount deleted.
    int tear_down()
    {
        torn_down = true;
        return system((fakectr() + " cleanup " + root + " " + name).c_str());
    }
    ~LeakyContainer()
    {
        if (!root.empty() && !torn_down)
            (void)!system((fakectr() + " cleanup " + root + " " + name + " >/dev/null 2>&1").c_str());
    }
};

// --snapshot run again and again while `ip netns` namespaces are added and
// deleted and `unshare --net` processes start and exit: every run finds the
// leaks of the one stable container (exit 1, never 0), none crashes, and
// the namespaces that went away are counted in the summary.
TEST(NetnsRaces, SnapshotWhileNamespacesComeAndGo)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF, namespaces)";
    if (!have_tools() || cgroup2_root().empty())
        GTEST_SKIP() << "SKIPPED: needs ip, unshare, nsenter and a cgroup v2 hierarchy";
    LeakyContainer c;
    ASSERT_TRUE(c.start(free_port())) << (c.srv ? c.srv->all_output() : "");

    // The churn: short-lived bind-mounted namespaces, and short-lived
    // processes each in a namespace of its own (bounded: 15 s).
    const std::string tag = "cwt-churn" + std::to_string(getpid()) + "-";
    std::string script = "end=$(( $(date +%s) + 15 )); i=0; "
                         "while [ $(date +%s) -lt $end ]; do i=$((i+1)); "
                         "ip netns add " +
                         tag +
                         "$i 2>/dev/null; "
                         "for k in 1 2 3 4; do unshare --net sleep 0.0$k & done; "
                         "ip netns del " +
                         tag + "$i 2>/dev/null; wait; done; echo CHURN_DONE n=$i";
    Proc churn({"/bin/sh", "-c", script});
    struct Cleanup {
        std::string tag;
        ~Cleanup()
        {
            (void)!system(("for n in /run/netns/" + tag +
                           "*; do [ -e \"$n\" ] && ip netns del \"${n##*/}\"; done "
                           "2>/dev/null")
                              .c_str());
        }
    } cleanup{tag};

    int runs = 0;
    std::uint64_t vanished = 0, skipped = 0;
    auto started = Clock::now();
    while (seconds_since(started) < 12) {
        Tool t({"--snapshot", "--json"});
        ASSERT_TRUE(t.proc().wait_exit(30)) << t.proc().all_output();
        ++runs;
        ASSERT_EQ(t.proc().exit_code(), 1) << "run " << runs << ": the container's leaks exist\n"
                                           << t.proc().all_output();
        int found = 0;
        for (const auto& f : t.events_of("close_wait"))
            found += f.value("netns", 0ULL) == c.netns ? 1 : 0;
        EXPECT_EQ(found, kLeaks) << "run " << runs << "\n" << t.proc().all_output();
        auto sum = t.summary();
        ASSERT_TRUE(sum) << t.proc().all_output();
        ASSERT_TRUE(sum->contains("netns_vanished")) << sum->dump();
        vanished += sum->value("netns_vanished", 0ULL);
        skipped += sum->value("netns_skipped", 0ULL);
    }
    std::printf("  %d snapshots during the churn; namespaces vanished mid-walk: %llu, could not be entered: "
                "%llu\n",
                runs, static_cast<unsigned long long>(vanished), static_cast<unsigned long long>(skipped));
    EXPECT_GE(runs, 3);
    EXPECT_EQ(skipped, 0U) << "every namespace that still existed was walked";
    churn.wait_exit(20);
}

// A container torn down while the live mode runs, filtered to it with
// --container (kernel filter on): its leaks are reported closed (the kernel
// closes the dead server's fds), the tool keeps running past the next
// namespace and cgroup rescan (10 s) and ends normally, with nothing open.
TEST(NetnsRaces, LiveContainerTornDown)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF, namespaces, cgroups)";
    if (!have_tools() || cgroup2_root().empty())
        GTEST_SKIP() << "SKIPPED: needs ip, unshare, nsenter and a cgroup v2 hierarchy";
    LeakyContainer c;
    ASSERT_TRUE(c.start(free_port())) << (c.srv ? c.srv->all_output() : "");

    Tool t({"--json", "--debug", "--container", c.id.substr(0, 12), "--threshold", "1", "-d", "13"});
    ASSERT_TRUE(t.wait_start(20).is_object()) << t.proc().all_output();
    ASSERT_TRUE(t.wait_count("close_wait_leak", kLeaks, kStepTimeout)) << t.proc().all_output();
    auto torn = Clock::now();
    ASSERT_EQ(c.tear_down(), 0);
    ASSERT_TRUE(t.wait_count("close_wait_closed", kLeaks, kStepTimeout)) << t.proc().all_output();
    for (const auto& f : t.events_of("close_wait_closed")) {
        EXPECT_EQ(f.value("netns", 0ULL), c.netns) << f.dump();
        EXPECT_EQ(f.value("was_leak", false), true) << f.dump();
    }
    ASSERT_TRUE(t.proc().wait_exit(20)) << t.proc().all_output();
    EXPECT_GE(seconds_since(torn), 8.0) << "ran on past the teardown and the next rescan";
    EXPECT_EQ(t.proc().exit_code(), 0) << t.proc().all_output();
    auto sum = t.summary();
    ASSERT_TRUE(sum) << t.proc().all_output();
    EXPECT_EQ(sum->value("open_close_wait", -1), 0) << sum->dump();
    EXPECT_EQ(sum->value("leaks_reported", -1), kLeaks) << sum->dump();
    EXPECT_EQ(sum->value("netns_skipped", -1), 0) << sum->dump();
    EXPECT_NE(t.proc().err().find("cgroup filter in the kernel"), std::string::npos) << t.proc().err();
}

} // namespace
