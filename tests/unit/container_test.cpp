// parse_container() and the /proc readers on every runtime's cgroup path
// format, and on hostile or truncated input.
#include <gtest/gtest.h>

#include <string>

#include "core/annotate.hpp"
#include "core/container.hpp"
#include "core/target_filter.hpp"

namespace cwt
{
namespace
{

const std::string kId = "4f1d2c3b4a5968778695a4b3c2d1e0f0123456789abcdef0123456789abcdef0";
const std::string kUid = "0f3e6a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b";
const std::string kUidSystemd = "0f3e6a2b_1c4d_4e5f_8a9b_0c1d2e3f4a5b";

TEST(Container, DockerSystemdDriver)
{
    auto c = parse_container("/system.slice/docker-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->runtime, "docker");
    EXPECT_EQ(c->pod_uid, "");
}

TEST(Container, DockerCgroupfsDriver)
{
    auto c = parse_container("/docker/" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->runtime, "docker");
}

TEST(Container, SubCgroupOfAContainerNamesTheContainer)
{
    auto c = parse_container("/system.slice/docker-" + kId + ".scope/init.scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->id, kId);
}

TEST(Container, ContainerdUnderKubepodsSystemd)
{
    auto c = parse_container("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd +
                             ".slice/cri-containerd-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->runtime, "containerd");
    EXPECT_EQ(c->pod_uid, kUid); // underscores become dashes
}

TEST(Container, GuaranteedPodHasNoQosSlice)
{
    auto c = parse_container("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/cri-containerd-" + kId +
                             ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod_uid, kUid);
}

TEST(Container, CrioAndItsMonitor)
{
    auto c = parse_container("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                             kUidSystemd + ".slice/crio-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->runtime, "cri-o");
    EXPECT_EQ(c->pod_uid, kUid);
    // conmon runs beside the container, in its own scope: not the container.
    EXPECT_FALSE(parse_container("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                 kUidSystemd + ".slice/crio-conmon-" + kId + ".scope"));
}

TEST(Container, Podman)
{
    auto c =
        parse_container("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->runtime, "podman");
    EXPECT_EQ(c->id, kId);
    auto cgfs = parse_container("/libpod_parent/libpod-" + kId);
    ASSERT_TRUE(cgfs);
    EXPECT_EQ(cgfs->runtime, "podman");
    EXPECT_FALSE(parse_container("/machine.slice/libpod-conmon-" + kId + ".scope"));
}

TEST(Container, KubepodsCgroupfsDriver)
{
    auto c = parse_container("/kubepods/burstable/pod" + kUid + "/" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->runtime, "cri");
    EXPECT_EQ(c->pod_uid, kUid);
    EXPECT_EQ(parse_pod_uid("/kubepods/burstable/pod" + kUid + "/" + kId), kUid);
}

TEST(Container, HostIsNull)
{
    EXPECT_FALSE(parse_container("/"));
    EXPECT_FALSE(parse_container(""));
    EXPECT_FALSE(parse_container("/user.slice/user-0.slice/session-3.scope"));
    EXPECT_FALSE(parse_container("/system.slice/ssh.service"));
    EXPECT_FALSE(parse_container("/system.slice/docker.service"));             // dockerd itself
    EXPECT_FALSE(parse_container("/kubepods.slice/kubepods-burstable.slice")); // a pod slice, no container
    // A 64-hex directory that is not under docker/ or a pod is nobody's container.
    EXPECT_FALSE(parse_container("/" + kId));
}

TEST(Container, HostileAndTruncated)
{
    EXPECT_FALSE(parse_container("/system.slice/docker-.scope"));
    EXPECT_FALSE(parse_container("/system.slice/docker-abc.scope"));           // too short
    EXPECT_FALSE(parse_container("/system.slice/docker-" + kId + "00.scope")); // too long
    EXPECT_FALSE(parse_container("/system.slice/docker-" + kId.substr(0, 30) + "\x1b[2J.scope"));
    EXPECT_FALSE(parse_container("/system.slice/docker-" + std::string(64, 'G') + ".scope"));
    EXPECT_FALSE(parse_container("/docker/"));
    EXPECT_FALSE(parse_container("docker-"));
    EXPECT_FALSE(parse_container(std::string("/docker/\0abc", 12)));
    // Truncated in the middle of the id: still hex and long enough to be one.
    auto t = parse_container("/docker/" + kId.substr(0, 20));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->id.size(), 20u);
    // A hostile pod uid is dropped, the container still named.
    auto c =
        parse_container("/kubepods.slice/kubepods-pod\x1b]0;x\x07.slice/cri-containerd-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod_uid, "");
    EXPECT_EQ(parse_pod_uid("/kubepods.slice/kubepods-pod.slice"), "");
    std::string deep;
    for (int i = 0; i < 10000; ++i)
        deep += "/a";
    EXPECT_FALSE(parse_container(deep));
    EXPECT_TRUE(parse_container(deep + "/docker-" + kId + ".scope"));
    EXPECT_FALSE(parse_container("//////"));
}

TEST(Container, ShortId)
{
    EXPECT_EQ(short_container_id(kId), kId.substr(0, 12));
    EXPECT_EQ(short_container_id("abc"), "abc");
}

TEST(ProcCgroup, UnifiedLineWinsOnAHybridHost)
{
    std::string text = "9:name=systemd:/system.slice/docker-" + kId +
                       ".scope\n8:pids:/docker/x\n4:memory:/process_api/7c3b\n0::/system.slice/docker-" +
                       kId + ".scope\n";
    auto p = cgroup_path_from_proc(text);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, "/system.slice/docker-" + kId + ".scope");
}

TEST(ProcCgroup, NameSystemdWithoutUnified)
{
    auto p =
        cgroup_path_from_proc("12:cpu,cpuacct:/a\n1:name=systemd:/kubepods/pod" + kUid + "/" + kId + "\n");
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, "/kubepods/pod" + kUid + "/" + kId);
    auto q = cgroup_path_from_proc("1:cpu,name=systemd:/x");
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, "/x");
}

TEST(ProcCgroup, PureV2AndDeletedAndColons)
{
    EXPECT_EQ(*cgroup_path_from_proc("0::/\n"), "/");
    EXPECT_EQ(*cgroup_path_from_proc("0::/a/b (deleted)\n"), "/a/b");
    EXPECT_EQ(*cgroup_path_from_proc("0::/we:ird:path"), "/we:ird:path"); // no final newline
}

TEST(ProcCgroup, Malformed)
{
    EXPECT_FALSE(cgroup_path_from_proc(""));
    EXPECT_FALSE(cgroup_path_from_proc("garbage\n"));
    EXPECT_FALSE(cgroup_path_from_proc("0:"));
    EXPECT_FALSE(cgroup_path_from_proc("0::"));
    EXPECT_FALSE(cgroup_path_from_proc("0::relative\n"));
    EXPECT_FALSE(cgroup_path_from_proc("4:memory:/x\n3:cpuset:/\n"));
    EXPECT_FALSE(cgroup_path_from_proc("1:name=systemdX:/x\n"));
    EXPECT_FALSE(cgroup_path_from_proc(std::string(100000, ':')));
}

TEST(NsPid, InnermostIsLast)
{
    EXPECT_EQ(nspid_from_status("Name:\tpython3\nTgid:\t4242\nNSpid:\t4242\t7\t1\nNSpgid:\t4242\n"), 1u);
    EXPECT_EQ(nspid_from_status("Name:\tx\nNSpid:\t4242\n"), 4242u);
    EXPECT_EQ(nspid_from_status("NSpid:\t99"), 99u); // first line, no newline
}

TEST(NsPid, MalformedOrAbsent)
{
    EXPECT_FALSE(nspid_from_status(""));
    EXPECT_FALSE(nspid_from_status("Name:\tx\nPid:\t3\n")); // kernels before 4.1
    EXPECT_FALSE(nspid_from_status("Name:\tNSpid:\t5\n"));  // not at a line start
    EXPECT_FALSE(nspid_from_status("NSpid:\t\n"));
    EXPECT_FALSE(nspid_from_status("NSpid:\t12x\t3\n"));
    EXPECT_FALSE(nspid_from_status("NSpid:\t99999999999\n")); // overflows 32 bits
    EXPECT_FALSE(nspid_from_status("NSpid:\t-1\n"));
    EXPECT_EQ(nspid_from_status("NSpgid:\t1\nNSpid:\t8\t2\n"), 2u); // NSpgid is not NSpid
}

TEST(ContainerFromProc, UnifiedPathFirstThenV1)
{
    EXPECT_EQ(container_from_proc("12:memory:/other\n1:name=systemd:/x\n0::/system.slice/docker-" + kId +
                                  ".scope\n")
                  ->id,
              kId);
    // Hybrid host, runtime managing only v1: the unified path is "/".
    auto c = container_from_proc("12:memory:/docker/" + kId + "\n0::/\n");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->runtime, "docker");
    EXPECT_FALSE(container_from_proc("0::/user.slice/user-1000.slice/session-2.scope\n"));
    EXPECT_FALSE(container_from_proc("garbage"));
}

TEST(Scope, CgroupMatchesItselfAndBelowOnly)
{
    ProcessMeta m;
    m.cgroup = "/system.slice/nginx.service";
    EXPECT_TRUE(cgroup_matches(m, ""));
    EXPECT_TRUE(cgroup_matches(m, "/"));
    EXPECT_TRUE(cgroup_matches(m, "/system.slice"));
    EXPECT_TRUE(cgroup_matches(m, "/system.slice/"));
    EXPECT_TRUE(cgroup_matches(m, "/system.slice/nginx.service"));
    EXPECT_FALSE(cgroup_matches(m, "/system.slice/nginx")) << "a prefix of a name is not a parent";
    EXPECT_FALSE(cgroup_matches(m, "/user.slice"));
    ProcessMeta none;
    EXPECT_FALSE(cgroup_matches(none, "/system.slice"));
}

TEST(Scope, ContainerMatchesAnIdPrefix)
{
    ProcessMeta m;
    m.container = parse_container("/system.slice/docker-" + kId + ".scope");
    ASSERT_TRUE(m.container);
    EXPECT_TRUE(container_matches(m, ""));
    EXPECT_TRUE(container_matches(m, kId.substr(0, 8)));
    EXPECT_TRUE(container_matches(m, kId));
    EXPECT_FALSE(container_matches(m, "ffff"));
    EXPECT_FALSE(container_matches(ProcessMeta{}, kId.substr(0, 4))) << "the host is in no container";
}

TEST(Scope, TargetFilterOfAProcessSet)
{
    auto pids = std::make_shared<TargetFilter::PidSet>(TargetFilter::PidSet{10, 11});
    TargetFilter t(0, pids);
    EXPECT_TRUE(t.active());
    EXPECT_TRUE(t.wants(10));
    EXPECT_TRUE(t.is_target(11));
    EXPECT_FALSE(t.wants(12));
    EXPECT_TRUE(t.wants_any(std::vector<ProcessRef>{ProcessRef(12, "x", 3), ProcessRef(11, "y", 4)}));
    EXPECT_FALSE(t.wants_any(std::vector<ProcessRef>{}));
    pids->insert(12); // the live loop adds processes that join later
    EXPECT_TRUE(t.wants(12));
    TargetFilter both(10, pids);
    EXPECT_TRUE(both.wants(10));
    EXPECT_FALSE(both.wants(11)) << "-p and the set both hold";
}

TEST(Annotate, EveryProcessRecordOfAFindingGetsItsMeta)
{
    LeakFinding f;
    f.sock.processes = {ProcessRef(100, "srv", 7), ProcessRef(101, "srv", 8)};
    ListenerView v;
    v.owner = ProcessRef(100, "srv", 3);
    f.sock.listener = v;
    Finding any = f;
    int calls = 0;
    annotate(any, [&](std::uint32_t pid) {
        ++calls;
        auto m = std::make_shared<ProcessMeta>();
        m->nspid = pid - 99;
        return std::shared_ptr<const ProcessMeta>(m);
    });
    const auto& got = std::get<LeakFinding>(any);
    ASSERT_TRUE(got.sock.processes[0].meta);
    EXPECT_EQ(got.sock.processes[0].meta->nspid, 1u);
    EXPECT_EQ(got.sock.processes[1].meta->nspid, 2u);
    ASSERT_TRUE(got.sock.listener->owner->meta);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(container_holder(got.sock), &got.sock.processes[0]);
    // A queued socket: its listener's owner is the one in a container.
    SocketFacts q;
    q.listener = v;
    EXPECT_EQ(container_holder(q), &*q.listener->owner);
    EXPECT_EQ(container_holder(SocketFacts{}), nullptr);
}

} // namespace
} // namespace cwt
