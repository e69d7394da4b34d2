// --container / --cgroup filtered in the kernel: the accept path and
// connect() record an owner only for a task whose v2 cgroup id
// (bpf_get_current_cgroup_id) is in the kernel's set, and state changes are
// then filtered by that recorded owner (never by `current` in softirq).
//
// The decisive check: a leak made after the start by a server in the scope
// is reported with its pid and fd. Under the kernel filter a socket whose
// accept was dropped has no owner and is never tracked, so that report
// proves that bpf_get_current_cgroup_id() returned the inode of the cgroup
// directory under the unified hierarchy (`stat -c %i`), which is what
// userspace puts in the set, on this hybrid v1/v2 host.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>

#include "harness.hpp"

using namespace itest;

namespace
{

constexpr double kStepTimeout = 10;

std::string cgroup2_root()
{
    if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0)
        return "/sys/fs/cgroup/unified";
    if (access("/sys/fs/cgroup/cgroup.procs", F_OK) == 0)
        return "/sys/fs/cgroup";
    return "";
}

// A directory tree of cgroups under the v2 root, removed at the end (its
// processes killed first).
struct CgroupTree {
    std::string v2, name;
    ~CgroupTree()
    {
        if (!name.empty())
            (void)!std::system((source_dir() + "/tests/integration/containers/fakectr.sh cleanup " + name +
                                " >/dev/null 2>&1")
                                   .c_str());
    }
    std::string dir(const std::string& rel) const { return v2 + "/" + name + rel; }
};

// argv that runs `cmd` inside cgroup directory `dir`.
std::vector<std::string> in_cgroup(const std::string& dir, std::vector<std::string> cmd)
{
    std::vector<std::string> a = {"/bin/sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", dir};
    a.insert(a.end(), cmd.begin(), cmd.end());
    return a;
}

std::uint64_t inode_of(const std::string& path)
{
    struct stat st {
    };
    return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(CgroupFilterInKernel, OnlyTheScopesAcceptsAreRecorded)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF, cgroups)";
    CgroupTree t;
    t.v2 = cgroup2_root();
    if (t.v2.empty())
        GTEST_SKIP() << "SKIPPED: no cgroup v2 hierarchy mounted";
    t.name = "cwt-cgf-" + std::to_string(getpid());
    for (const char* d : {"", "/in", "/in/sub", "/out"})
        ASSERT_EQ(mkdir(t.dir(d).c_str(), 0755), 0) << t.dir(d);

    int in_port = free_port(), out_port = free_port();
    Proc in_srv(in_cgroup(t.dir("/in/sub"), {scenario("cwt_leak_srv"), "--addr", "127.0.0.1", "--port",
                                             std::to_string(in_port), "--lifetime", "40"}));
    Proc out_srv(in_cgroup(t.dir("/out"), {scenario("cwt_leak_srv"), "--addr", "127.0.0.1", "--port",
                                           std::to_string(out_port), "--lifetime", "40"}));
    ASSERT_TRUE(in_srv.wait_line("LISTEN ", kStepTimeout)) << in_srv.all_output();
    ASSERT_TRUE(out_srv.wait_line("LISTEN ", kStepTimeout)) << out_srv.all_output();
    // The kernel's view of the server's cgroup is the unified hierarchy's.
    {
        std::ifstream cg("/proc/" + std::to_string(in_srv.pid()) + "/cgroup");
        std::string text((std::istreambuf_iterator<char>(cg)), std::istreambuf_iterator<char>());
        ASSERT_NE(text.find("0::/" + t.name + "/in/sub"), std::string::npos) << text;
    }

    Tool tool({"--json", "--debug", "--cgroup", "/" + t.name + "/in", "--threshold", "1", "-d", "5"});
    ASSERT_TRUE(tool.wait_start(20).is_object()) << tool.proc().all_output();
    // Clients in the out-of-scope cgroup: their connect()s are dropped in the
    // kernel too, and so are the out-of-scope server's accepts.
    constexpr int kLeaks = 2;
    Proc c1(in_cgroup(t.dir("/out"),
                      {scenario("cwt_peer_cli"), "--addr", "127.0.0.1", "--port", std::to_string(in_port),
                       "--count", std::to_string(kLeaks), "--close-after-ms", "50", "--lifetime", "30"}));
    Proc c2(in_cgroup(t.dir("/out"),
                      {scenario("cwt_peer_cli"), "--addr", "127.0.0.1", "--port", std::to_string(out_port),
                       "--count", std::to_string(kLeaks), "--close-after-ms", "50", "--lifetime", "30"}));
    ASSERT_TRUE(c1.wait_line("CONNECTED", kStepTimeout)) << c1.all_output();
    ASSERT_TRUE(c2.wait_line("CONNECTED", kStepTimeout)) << c2.all_output();
    tool.proc().wait_exit(20);
    ASSERT_TRUE(tool.proc().exited()) << tool.proc().all_output();
    EXPECT_EQ(tool.proc().exit_code(), 0) << tool.proc().all_output();

    int in_leaks = 0;
    for (const auto& f : tool.events_of("close_wait_leak")) {
        std::string local = f.value("local", std::string(":0"));
        int lport = std::stoi(local.substr(local.rfind(':') + 1));
        EXPECT_EQ(lport, in_port) << "only the scope's leaks: " << f.dump();
        if (lport != in_port)
            continue;
        ++in_leaks;
        EXPECT_EQ(f.value("owner", ""), "process") << f.dump();
        EXPECT_EQ(f.value("pid", -1), in_srv.pid()) << "owner from the kernel's accept record: " << f.dump();
        EXPECT_GE(f.value("fd", -1), 0) << f.dump();
        EXPECT_EQ(f.value("cgroup", ""), "/" + t.name + "/in/sub") << f.dump();
    }
    EXPECT_EQ(in_leaks, kLeaks) << tool.proc().all_output();

    // What the kernel held, and what it dropped (other processes of this
    // machine may add to the count, never take from it).
    const std::string& err = tool.proc().err();
    EXPECT_NE(
        err.find("filters in kernel: cgroup (cgroup filter in the kernel: 2 v2 cgroups under " + t.v2 + ")"),
        std::string::npos)
        << err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(err, m, std::regex("dropped in the kernel: ([0-9]+)"))) << err;
    EXPECT_GE(std::stoi(m[1]), 2 * kLeaks + kLeaks) << "4 connects, 2 accepts out of scope: " << err;
    EXPECT_NE(inode_of(t.dir("/in/sub")), 0U);
}

TEST(CgroupFilterInKernel, FeaturesSayWhichFiltersRunInTheKernel)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF)";
    if (cgroup2_root().empty())
        GTEST_SKIP() << "SKIPPED: no cgroup v2 hierarchy mounted";
    Tool f({"--features"});
    f.proc().wait_exit(kStepTimeout);
    EXPECT_NE(
        f.proc().all_output().find("--container/--cgroup (accepting and connecting task's v2 cgroup id, " +
                                   cgroup2_root() + ")"),
        std::string::npos)
        << f.proc().all_output();
}

} // namespace
