// Containers: a leaking server and a listener that never accepts in each of
// four fake containers (tests/integration/containers/fakectr.sh): `ip netns`
// and `unshare --net --pid --fork` namespaces, in cgroups named like docker's,
// containerd's (under a kubepods pod slice), CRI-O's and podman's. Everything
// is made before the tool starts. --snapshot, -p HOSTPID and live mode must
// report every socket with its host pid, nspid, fd, listener and container,
// checked against `ss -tanpe` run inside each namespace.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace
{

constexpr double kStartTimeout = 20;
constexpr double kStepTimeout = 10;
constexpr int kLeakPort = 18080; // the same port in every namespace
constexpr int kStuckPort = 18000;
constexpr int kSharedSrcPort = 40001; // the same 4-tuple in two namespaces
constexpr int kLeaks = 3;
constexpr int kQueued = 2;

std::string fakectr()
{
    return std::string(CWT_SOURCE_DIR) + "/tests/integration/containers/fakectr.sh";
}

std::string jstr(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return "<null>";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Children of `pid` (no /proc/PID/task/TID/children on this kernel config).
std::vector<int> children_of(int pid)
{
    std::vector<int> out;
    DIR* d = opendir("/proc");
    while (dirent* e = d ? readdir(d) : nullptr) {
        int p = std::atoi(e->d_name);
        if (p <= 0)
            continue;
        std::string st = slurp("/proc/" + std::to_string(p) + "/stat");
        auto rp = st.rfind(')');
        if (rp == std::string::npos)
            continue;
        std::istringstream in(st.substr(rp + 2));
        std::string state;
        int ppid = 0;
        if (in >> state >> ppid && ppid == pid)
            out.push_back(p);
    }
    if (d)
        closedir(d);
    return out;
}

int nspid_of(int pid)
{
    std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("NSpid:", 0) != 0)
            continue;
        std::istringstream f(line.substr(6));
        int v = 0, last = -1;
        while (f >> v)
            last = v;
        return last;
    }
    return -1;
}

std::uint64_t netns_inode(int pid)
{
    struct stat st {
    };
    if (stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) != 0)
        return 0;
    return st.st_ino;
}

struct Server {
    std::unique_ptr<Proc> proc;
    int host_pid = 0;
    int nspid = 0;
    int fd = -1;
};

struct FakeContainer {
    std::string name, runtime, kind; // kind: netns | unshare
    std::string id, pod_uid, cgroup;
    std::string expect_runtime; // as the tool names it
    Server leak, stuck;
    std::uint64_t netns = 0;
    std::vector<std::unique_ptr<Proc>> clients;

    std::string ss_runner() const
    {
        return kind == "netns" ? "ip netns exec cwt-" + name + " "
                               : "nsenter --net=/proc/" + std::to_string(leak.host_pid) + "/ns/net ";
    }
    std::vector<std::string> client_argv(std::vector<std::string> args) const
    {
        std::vector<std::string> a = {fakectr()};
        if (kind == "netns")
            a.insert(a.end(), {"exec", name, "--"});
        else
            a.insert(a.end(), {"enter", std::to_string(leak.host_pid), "--"});
        a.push_back(scenario("cwt_peer_cli"));
        a.insert(a.end(), args.begin(), args.end());
        return a;
    }
};

class Containers : public ::testing::Test
{
  protected:
    static std::string root_;
    static std::vector<FakeContainer>* ctrs_;
    static std::string skip_;

    static void SetUpTestSuite()
    {
        if (geteuid() != 0) {
            skip_ = "SKIPPED: needs root (BPF, namespaces, cgroups)";
            return;
        }
        if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) != 0 &&
            access("/sys/fs/cgroup/cgroup.procs", F_OK) != 0) {
            skip_ = "SKIPPED: no cgroup v2 hierarchy mounted";
            return;
        }
        if (system("command -v ip >/dev/null && command -v unshare >/dev/null && command -v nsenter "
                   ">/dev/null")) {
            skip_ = "SKIPPED: needs ip (iproute2), unshare and nsenter (util-linux)";
            return;
        }
        root_ = "cwt-itest-" + std::to_string(getpid());
        ctrs_ = new std::vector<FakeContainer>();
        struct Spec {
            const char* name;
            const char* runtime;
            const char* kind;
            const char* expect;
        };
        for (Spec s :
             {Spec{"a", "docker", "netns", "docker"}, Spec{"b", "cri-containerd", "unshare", "containerd"},
              Spec{"c", "crio", "netns", "cri-o"}, Spec{"d", "libpod", "unshare", "podman"}}) {
            FakeContainer c;
            c.name = std::string(s.name) + std::to_string(getpid());
            c.runtime = s.runtime;
            c.kind = s.kind;
            c.expect_runtime = s.expect;
            auto p = kv("X " + [&] {
                std::string cmd = fakectr() + " path " + root_ + " " + c.runtime + " " + c.name;
                FILE* f = popen(cmd.c_str(), "r");
                char buf[1024] = {0};
                if (f) {
                    if (!fgets(buf, sizeof(buf), f))
                        buf[0] = 0;
                    pclose(f);
                }
                return std::string(buf);
            }());
            c.cgroup = p["CGROUP"];
            c.id = p["ID"];
            c.pod_uid = p["POD"];
            ctrs_->push_back(std::move(c));
        }
        for (auto& c : *ctrs_) {
            if (!start_servers(c)) {
                skip_ = "container " + c.name + " did not start";
                return;
            }
        }
        for (auto& c : *ctrs_)
            make_close_waits(c);
        // The same 4-tuple in the two `ip netns` containers.
        for (auto* c : {&(*ctrs_)[0], &(*ctrs_)[2]}) {
            c->clients.push_back(std::make_unique<Proc>(c->client_argv(
                {"--addr", "127.0.0.1", "--port", std::to_string(kLeakPort), "--count", "1", "--src-port",
                 std::to_string(kSharedSrcPort), "--close-after-ms", "50", "--lifetime", "120"})));
        }
        for (auto& c : *ctrs_) {
            int want_leaks = kLeaks + (c.kind == "netns" ? 1 : 0);
            bool ok = poll_until(
                [&] {
                    return static_cast<int>(
                               ss_state(ss_port(kLeakPort, c.ss_runner()), "CLOSE-WAIT").size()) ==
                               want_leaks &&
                           static_cast<int>(
                               ss_state(ss_port(kStuckPort, c.ss_runner()), "CLOSE-WAIT").size()) == kQueued;
                },
                kStepTimeout);
            if (!ok)
                skip_ = "CLOSE_WAITs did not appear in container " + c.name;
        }
    }

    static bool start_servers(FakeContainer& c)
    {
        std::vector<std::string> leak = {fakectr(),    "run",       root_,    c.runtime,
                                         c.name,       c.kind,      "--",     scenario("cwt_leak_srv"),
                                         "--addr",     "127.0.0.1", "--port", std::to_string(kLeakPort),
                                         "--lifetime", "120"};
        c.leak.proc = std::make_unique<Proc>(leak);
        auto l = c.leak.proc->wait_line("LISTEN ", kStepTimeout);
        if (!l)
            return false;
        c.leak.fd = std::stoi(kv(*l)["fd"]);
        c.leak.host_pid = c.leak.proc->pid();
        if (c.kind == "unshare") {
            auto kids = children_of(c.leak.proc->pid()); // unshare forks: pid 1 of the new namespace
            if (kids.size() != 1)
                return false;
            c.leak.host_pid = kids[0];
        }
        c.leak.nspid = nspid_of(c.leak.host_pid);
        c.netns = netns_inode(c.leak.host_pid);

        std::vector<std::string> stuck = {fakectr()};
        if (c.kind == "netns")
            stuck.insert(stuck.end(), {"run", root_, c.runtime, c.name, c.kind, "--"});
        else
            stuck.insert(stuck.end(),
                         {"join", root_, c.runtime, c.name, std::to_string(c.leak.host_pid), "--"});
        stuck.insert(stuck.end(), {scenario("cwt_stuck_lsn"), "--addr", "127.0.0.1", "--port",
                                   std::to_string(kStuckPort), "--backlog", "8", "--lifetime", "120"});
        c.stuck.proc = std::make_unique<Proc>(stuck);
        auto s = c.stuck.proc->wait_line("LISTEN ", kStepTimeout);
        if (!s)
            return false;
        c.stuck.fd = std::stoi(kv(*s)["fd"]);
        c.stuck.host_pid = c.stuck.proc->pid();
        if (c.kind == "unshare") {
            auto kids = children_of(c.stuck.proc->pid()); // nsenter --pid forks
            if (kids.size() != 1)
                return false;
            c.stuck.host_pid = kids[0];
        }
        c.stuck.nspid = nspid_of(c.stuck.host_pid);
        return c.netns != 0 && netns_inode(c.stuck.host_pid) == c.netns;
    }

    static void make_close_waits(FakeContainer& c)
    {
        c.clients.push_back(std::make_unique<Proc>(
            c.client_argv({"--addr", "127.0.0.1", "--port", std::to_string(kLeakPort), "--count",
                           std::to_string(kLeaks), "--close-after-ms", "50", "--lifetime", "120"})));
        c.clients.push_back(std::make_unique<Proc>(
            c.client_argv({"--addr", "127.0.0.1", "--port", std::to_string(kStuckPort), "--count",
                           std::to_string(kQueued), "--close-after-ms", "50", "--lifetime", "120"})));
    }

    static void TearDownTestSuite()
    {
        if (ctrs_) {
            std::string names;
            for (auto& c : *ctrs_)
                names += " " + c.name;
            delete ctrs_; // kills every process (Proc's destructor)
            ctrs_ = nullptr;
            std::string cmd = fakectr() + " cleanup " + root_ + names;
            if (system(cmd.c_str()) != 0)
                ADD_FAILURE() << "cleanup failed: " << cmd;
        }
    }

    void SetUp() override
    {
        if (!skip_.empty())
            GTEST_SKIP() << skip_;
    }

    static std::vector<FakeContainer>& ctrs() { return *ctrs_; }

    static const FakeContainer* by_netns(std::uint64_t ino)
    {
        for (const auto& c : ctrs())
            if (c.netns == ino)
                return &c;
        return nullptr;
    }

    // Runs the tool to its end; returns its JSON lines.
    static std::vector<json> run_to_end(std::vector<std::string> args, int* rc, double timeout = 30)
    {
        Tool t(std::move(args));
        t.proc().wait_exit(timeout);
        EXPECT_TRUE(t.proc().exited()) << t.proc().all_output();
        if (rc)
            *rc = t.proc().exit_code();
        if (t.proc().exit_code() == 2)
            ADD_FAILURE() << t.proc().all_output();
        return t.events();
    }

    static void expect_container(const json& f, const FakeContainer& c, const std::string& what)
    {
        ASSERT_TRUE(f.contains("container") && f["container"].is_object()) << what << ": " << f.dump();
        EXPECT_EQ(jstr(f["container"], "id"), c.id) << what << ": " << f.dump();
        EXPECT_EQ(jstr(f["container"], "runtime"), c.expect_runtime) << what << ": " << f.dump();
        EXPECT_EQ(jstr(f["container"], "pod_uid"), c.pod_uid.empty() ? "<null>" : c.pod_uid)
            << what << ": " << f.dump();
        EXPECT_EQ(jstr(f, "cgroup"), c.cgroup) << what << ": " << f.dump();
    }

    // Every CLOSE-WAIT that ss shows inside container c (ports kLeakPort and
    // kStuckPort) is among `findings`, with the right owner or listener.
    static void expect_matches_ss(const std::vector<json>& findings, const FakeContainer& c,
                                  bool leak_side = true, bool queued_side = true)
    {
        std::map<std::string, json> mine;
        for (const auto& f : findings)
            if (f.value("netns", 0ULL) == c.netns)
                mine[jstr(f, "local") + " -> " + jstr(f, "remote")] = f;
        if (leak_side) {
            auto ss = ss_state(ss_port(kLeakPort, c.ss_runner()), "CLOSE-WAIT");
            ASSERT_FALSE(ss.empty());
            for (const auto& s : ss) {
                auto it = mine.find(s.local + " -> " + s.peer);
                ASSERT_NE(it, mine.end()) << c.name << ": " << s.raw << " not reported";
                const json& f = it->second;
                ASSERT_EQ(s.users.size(), 1U) << s.raw;
                EXPECT_EQ(jstr(f, "owner"), "process") << f.dump();
                EXPECT_EQ(f.value("pid", -1), s.users[0].pid) << f.dump() << "\nss: " << s.raw;
                EXPECT_EQ(f.value("pid", -1), c.leak.host_pid) << f.dump();
                EXPECT_EQ(f.value("fd", -1), s.users[0].fd) << f.dump() << "\nss: " << s.raw;
                EXPECT_EQ(f.value("nspid", -1), c.leak.nspid) << f.dump();
                ASSERT_TRUE(f["listener"].is_object()) << f.dump();
                EXPECT_EQ(f["listener"].value("pid", -1), c.leak.host_pid) << f.dump();
                EXPECT_EQ(f["listener"].value("fd", -1), c.leak.fd) << f.dump();
                expect_container(f, c, c.name + " leak");
            }
        }
        if (queued_side) {
            auto ss = ss_state(ss_port(kStuckPort, c.ss_runner()), "CLOSE-WAIT");
            ASSERT_FALSE(ss.empty());
            for (const auto& s : ss) {
                auto it = mine.find(s.local + " -> " + s.peer);
                ASSERT_NE(it, mine.end()) << c.name << ": " << s.raw << " not reported";
                const json& f = it->second;
                EXPECT_TRUE(s.users.empty()) << s.raw;
                EXPECT_EQ(jstr(f, "owner"), "accept_queue") << f.dump();
                ASSERT_TRUE(f["listener"].is_object()) << f.dump();
                EXPECT_EQ(f["listener"].value("pid", -1), c.stuck.host_pid) << f.dump();
                EXPECT_EQ(f["listener"].value("fd", -1), c.stuck.fd) << f.dump();
                EXPECT_EQ(f["listener"].value("nspid", -1), c.stuck.nspid) << f.dump();
                expect_container(f, c, c.name + " queued");
            }
        }
    }
};

std::string Containers::root_;
std::vector<FakeContainer>* Containers::ctrs_ = nullptr;
std::string Containers::skip_;

std::vector<json> of_type(const std::vector<json>& v, const std::string& type)
{
    std::vector<json> out;
    for (const auto& j : v)
        if (j.value("type", "") == type)
            out.push_back(j);
    return out;
}

TEST_F(Containers, SnapshotSeesEveryNamespace)
{
    int rc = -1;
    auto ev = run_to_end({"--snapshot", "--json"}, &rc);
    EXPECT_EQ(rc, 1) << "CLOSE_WAITs exist (only in containers): exit status 1";
    auto cws = of_type(ev, "close_wait");
    for (const auto& c : ctrs())
        expect_matches_ss(cws, c);
    // Listeners: one per container and port, each with its own owner.
    auto ls = of_type(ev, "listener");
    for (const auto& c : ctrs()) {
        int seen = 0;
        for (const auto& l : ls)
            if (l.value("netns", 0ULL) == c.netns) {
                ++seen;
                int pid = l.value("pid", -1);
                EXPECT_TRUE(pid == c.leak.host_pid || pid == c.stuck.host_pid) << l.dump();
                EXPECT_EQ(l.value("nspid", -1), pid == c.leak.host_pid ? c.leak.nspid : c.stuck.nspid)
                    << l.dump();
                expect_container(l, c, "listener " + c.name);
            }
        EXPECT_EQ(seen, 2) << c.name << "\n"
                           << [&] {
                                  std::string s;
                                  for (const auto& l : ls)
                                      s += l.dump() + "\n";
                                  return s;
                              }();
    }
    // Processes: the leak servers, each with its container and nspid.
    auto ps = of_type(ev, "process");
    for (const auto& c : ctrs()) {
        bool found = false;
        for (const auto& p : ps)
            if (p.value("pid", -1) == c.leak.host_pid) {
                found = true;
                EXPECT_EQ(p.value("nspid", -1), c.leak.nspid) << p.dump();
                expect_container(p, c, "process " + c.name);
            }
        EXPECT_TRUE(found) << "no process record for " << c.name;
    }
}

TEST_F(Containers, SameTupleInTwoNamespacesReportedTwice)
{
    // No --port: that would leave out the listener (its port is the other one).
    auto ev = run_to_end({"--snapshot", "--json"}, nullptr);
    auto cws = of_type(ev, "close_wait");
    std::map<std::uint64_t, json> by_ns;
    for (const auto& f : cws)
        if (jstr(f, "remote") == "127.0.0.1:" + std::to_string(kSharedSrcPort))
            by_ns[f.value("netns", 0ULL)] = f;
    ASSERT_EQ(by_ns.size(), 2U) << "one per namespace";
    for (const auto* c : {&ctrs()[0], &ctrs()[2]}) {
        ASSERT_TRUE(by_ns.count(c->netns)) << c->name;
        const json& f = by_ns[c->netns];
        EXPECT_EQ(jstr(f, "local"), "127.0.0.1:" + std::to_string(kLeakPort));
        EXPECT_EQ(f.value("pid", -1), c->leak.host_pid) << f.dump();
        EXPECT_EQ(f["listener"].value("pid", -1), c->leak.host_pid) << f.dump();
        expect_container(f, *c, c->name);
    }
}

TEST_F(Containers, SnapshotPidInAnotherNamespace)
{
    const auto& b = ctrs()[1]; // unshare --net --pid: pid 1 inside
    int rc = -1;
    auto ev = run_to_end({"--snapshot", "--json", "-p", std::to_string(b.leak.host_pid)}, &rc);
    EXPECT_EQ(rc, 1);
    auto cws = of_type(ev, "close_wait");
    EXPECT_EQ(static_cast<int>(cws.size()), kLeaks) << "only its own sockets";
    expect_matches_ss(cws, b, true, false);
    for (const auto& f : cws)
        EXPECT_EQ(f.value("nspid", -1), 1) << f.dump();
    // The never-accepting listener's queue, under -p of its own host pid.
    const auto& d = ctrs()[3];
    auto q = of_type(run_to_end({"--snapshot", "--json", "-p", std::to_string(d.stuck.host_pid)}, nullptr),
                     "close_wait");
    EXPECT_EQ(static_cast<int>(q.size()), kQueued);
    expect_matches_ss(q, d, false, true);
}

TEST_F(Containers, Filters)
{
    const auto& a = ctrs()[0];
    const auto& b = ctrs()[1];
    const auto& c = ctrs()[2];
    auto only = [&](const std::vector<json>& cws, const FakeContainer& want, const std::string& what) {
        EXPECT_EQ(static_cast<int>(cws.size()), kLeaks + kQueued + (want.kind == "netns" ? 1 : 0)) << what;
        for (const auto& f : cws)
            EXPECT_EQ(f.value("netns", 0ULL), want.netns) << what << ": " << f.dump();
    };
    only(of_type(run_to_end({"--snapshot", "--json", "--netns", "/run/netns/cwt-" + c.name}, nullptr),
                 "close_wait"),
         c, "--netns /run/netns/NAME");
    only(of_type(run_to_end({"--snapshot", "--json", "--netns", std::to_string(b.netns)}, nullptr),
                 "close_wait"),
         b, "--netns INODE");
    only(of_type(run_to_end({"--snapshot", "--json", "--netns",
                             "/proc/" + std::to_string(b.leak.host_pid) + "/ns/net"},
                            nullptr),
                 "close_wait"),
         b, "--netns /proc/PID/ns/net");
    only(of_type(run_to_end({"--snapshot", "--json", "--container", a.id.substr(0, 8)}, nullptr),
                 "close_wait"),
         a, "--container PREFIX");
    only(of_type(run_to_end({"--snapshot", "--json", "--cgroup", b.cgroup}, nullptr), "close_wait"), b,
         "--cgroup PATH");
    int rc = -1;
    Tool bad({"--snapshot", "--netns", "/nonexistent/ns"});
    bad.proc().wait_exit(kStepTimeout);
    rc = bad.proc().exit_code();
    EXPECT_EQ(rc, 2) << bad.proc().all_output();
}

TEST_F(Containers, PidModeReportsPreexistingLeaksInItsNamespace)
{
    const auto& b = ctrs()[1];
    Tool t({"--json", "-p", std::to_string(b.leak.host_pid), "--threshold", "1", "-d", "4"});
    json start = t.wait_start(kStartTimeout);
    ASSERT_TRUE(start.is_object()) << t.proc().all_output();
    EXPECT_EQ(start.value("preexisting_close_wait", -1), kLeaks) << start.dump();
    ASSERT_TRUE(t.wait_count("close_wait_leak", kLeaks, kStepTimeout)) << t.proc().all_output();
    t.proc().wait_exit(kStepTimeout);
    auto leaks = t.events_of("close_wait_leak");
    EXPECT_EQ(static_cast<int>(leaks.size()), kLeaks);
    expect_matches_ss(leaks, b, true, false);
    auto sum = t.summary();
    ASSERT_TRUE(sum) << t.proc().all_output();
    EXPECT_EQ((*sum).value("open_close_wait", -1), kLeaks) << sum->dump();
}

TEST_F(Containers, LiveModeNewLeaksInContainers)
{
    Tool t({"--json", "--threshold", "1", "-d", "8"});
    json start = t.wait_start(kStartTimeout);
    ASSERT_TRUE(start.is_object()) << t.proc().all_output();
    // New leaks and queued CLOSE_WAITs after the start, in an unshare and an ip netns container.
    std::vector<std::unique_ptr<Proc>> clients;
    for (auto* c : {&ctrs()[1], &ctrs()[2]}) {
        clients.push_back(std::make_unique<Proc>(
            c->client_argv({"--addr", "127.0.0.1", "--port", std::to_string(kLeakPort), "--count", "2",
                            "--close-after-ms", "50", "--lifetime", "60"})));
        clients.push_back(std::make_unique<Proc>(
            c->client_argv({"--addr", "127.0.0.1", "--port", std::to_string(kStuckPort), "--count", "1",
                            "--close-after-ms", "50", "--lifetime", "60"})));
    }
    t.proc().wait_exit(20);
    auto ev = t.events();
    auto leaks = of_type(ev, "close_wait_leak");
    auto queued = of_type(ev, "close_wait");
    for (const auto& c : ctrs()) {
        // Every CLOSE_WAIT of every container is a leak by the end (pre-existing
        // ones at attach), queued ones included.
        expect_matches_ss(leaks, c);
    }
    for (auto* c : {&ctrs()[1], &ctrs()[2]}) {
        int n = 0;
        for (const auto& f : queued)
            if (f.value("netns", 0ULL) == c->netns && jstr(f, "owner") == "accept_queue") {
                ++n;
                ASSERT_TRUE(f["listener"].is_object()) << f.dump();
                EXPECT_EQ(f["listener"].value("pid", -1), c->stuck.host_pid) << f.dump();
                expect_container(f, *c, "live queued " + c->name);
            }
        EXPECT_GE(n, 1) << "queued CLOSE_WAIT in " << c->name << " reported at once";
    }
}

std::string ip_path()
{
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (access(p, X_OK) == 0)
            return p;
    return "ip";
}

// A namespace that only a bind mount holds (`ip netns add`), whose sockets
// belong to a process living in the host's namespace: no /proc/PID/ns/net
// leads to it, the bind mount does.
TEST(NetnsBindMount, NamespaceWithSocketsAndNoProcessIsWalked)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF, namespaces)";
    if (system("command -v ip >/dev/null"))
        GTEST_SKIP() << "SKIPPED: needs ip (iproute2)";
    const std::string ns = "cwt-bm" + std::to_string(getpid());
    struct Cleanup {
        std::string ns;
        ~Cleanup() { (void)!system(("ip netns del " + ns + " 2>/dev/null").c_str()); }
    } cleanup{ns};
    ASSERT_EQ(system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up").c_str()), 0);
    Proc srv({scenario("cwt_leak_srv"), "--addr", "127.0.0.1", "--port", std::to_string(kLeakPort), "--netns",
              "/run/netns/" + ns, "--lifetime", "60"});
    auto l = srv.wait_line("LISTEN ", kStepTimeout);
    ASSERT_TRUE(l) << srv.all_output();
    ASSERT_NE(netns_inode(srv.pid()), 0U);
    struct stat st {
    };
    ASSERT_EQ(stat(("/run/netns/" + ns).c_str(), &st), 0);
    ASSERT_NE(netns_inode(srv.pid()), st.st_ino) << "the server must live outside the namespace";
    {
        Proc cli({ip_path(), "netns", "exec", ns, scenario("cwt_peer_cli"), "--addr", "127.0.0.1", "--port",
                  std::to_string(kLeakPort), "--count", std::to_string(kLeaks), "--close-after-ms", "50",
                  "--lifetime", "20"});
        ASSERT_TRUE(cli.wait_line("CONNECTED", kStepTimeout)) << cli.all_output();
        ASSERT_TRUE(poll_until(
            [&] {
                return static_cast<int>(
                           ss_state(ss_port(kLeakPort, "ip netns exec " + ns + " "), "CLOSE-WAIT").size()) ==
                       kLeaks;
            },
            kStepTimeout));
        cli.close_stdin();
        cli.wait_exit(kStepTimeout);
    } // no process is left in the namespace
    Tool t({"--snapshot", "--json"});
    t.proc().wait_exit(30);
    EXPECT_EQ(t.proc().exit_code(), 1) << t.proc().all_output();
    auto ss = ss_state(ss_port(kLeakPort, "ip netns exec " + ns + " "), "CLOSE-WAIT");
    int found = 0;
    for (const auto& f : t.events_of("close_wait")) {
        if (f.value("netns", 0ULL) != st.st_ino)
            continue;
        ++found;
        EXPECT_EQ(f.value("pid", -1), srv.pid()) << f.dump();
        EXPECT_EQ(f["container"].is_null(), true) << "the server is on the host: " << f.dump();
    }
    EXPECT_EQ(found, static_cast<int>(ss.size())) << t.proc().all_output();
    EXPECT_EQ(found, kLeaks);
}

} // namespace
