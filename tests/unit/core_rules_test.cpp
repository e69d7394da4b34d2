// The domain rules that used to live in the live loop: the -p target filter,
// which pre-existing sockets are seeded, and what a socket past the
// threshold is (gone, another netns, still in CLOSE_WAIT).
#include <gtest/gtest.h>

#include "closewait_trace/events.h"
#include "core/accept_watch.hpp"
#include "core/leak_resolution.hpp"
#include "core/listener_state.hpp"
#include "core/seed_policy.hpp"
#include "core/target_filter.hpp"
#include "endpoints.hpp"

namespace cwt
{
namespace
{

ProcessRef proc(std::uint32_t pid, std::int32_t fd, const char* comm = "srv")
{
    return ProcessRef{pid, comm, fd};
}

TEST(TargetFilter, WithoutPidEveryoneIsWanted)
{
    TargetFilter all;
    EXPECT_FALSE(all.active());
    EXPECT_TRUE(all.wants(42));
    EXPECT_FALSE(all.is_target(42));
    EXPECT_TRUE(all.wants_any({}));
    EXPECT_TRUE(all.wants_any({proc(7, 3)}));
}

TEST(TargetFilter, WithPidOnlyTheTarget)
{
    TargetFilter t(100);
    EXPECT_TRUE(t.active());
    EXPECT_EQ(t.pid(), 100u);
    EXPECT_TRUE(t.wants(100));
    EXPECT_FALSE(t.wants(200));
    EXPECT_TRUE(t.is_target(100));
    EXPECT_FALSE(t.wants_any({})) << "a socket no one holds is not the target's";
    EXPECT_FALSE(t.wants_any({proc(200, 3)}));
    EXPECT_TRUE(t.wants_any({proc(200, 3), proc(100, 4)})) << "shared with the target";
}

InventorySock sock(SockId sk, std::uint8_t state, bool has_socket = true, std::uint16_t port = 8080,
                   std::uint32_t recv_q = 0)
{
    return InventorySock{sk, state, has_socket, 1, port, recv_q};
}

TEST(SeedPolicy, CloseWaitsAreSeededWithTheirOwnerKind)
{
    std::vector<InventorySock> socks = {sock(1, CWT_TCP_CLOSE_WAIT, true, 8080, 5),
                                        sock(2, CWT_TCP_CLOSE_WAIT, false),
                                        sock(3, CWT_TCP_CLOSE_WAIT, true)};
    std::vector<InventoryFd> fds = {{1, proc(100, 4)}, {1, proc(101, 9)}};
    SeedPlan plan = plan_seeds(socks, fds, TargetFilter());
    ASSERT_EQ(plan.close_waits.size(), 3u);
    EXPECT_EQ(plan.close_waits[0].owner, OwnerKind::Process);
    EXPECT_EQ(plan.close_waits[0].owner_fd, std::optional<std::size_t>(0)) << "the first fd";
    EXPECT_EQ(plan.close_waits[0].enrich.recv_q, std::optional<std::uint32_t>(5));
    EXPECT_EQ(plan.close_waits[0].enrich.owners.size(), 2u) << "every holder, for the tracker";
    EXPECT_EQ(plan.close_waits[1].owner, OwnerKind::AcceptQueue);
    EXPECT_FALSE(plan.close_waits[1].owner_fd);
    EXPECT_EQ(plan.close_waits[2].owner, OwnerKind::Unknown) << "a socket with no fd anywhere";
    EXPECT_TRUE(plan.close_waits[2].enrich.owners.empty());
    EXPECT_TRUE(plan.owners.empty());
}

TEST(SeedPolicy, OwnersOfEstablishedSocketsOnly)
{
    std::vector<InventorySock> socks = {sock(1, CWT_TCP_ESTABLISHED), sock(2, CWT_TCP_LISTEN),
                                        sock(3, CWT_TCP_ESTABLISHED)};
    std::vector<InventoryFd> fds = {{1, proc(100, 4)}, {2, proc(100, 3)}};
    SeedPlan plan = plan_seeds(socks, fds, TargetFilter());
    ASSERT_EQ(plan.owners.size(), 1u) << "not listeners, not sockets without an fd";
    EXPECT_EQ(plan.owners[0].sock, 0u);
    EXPECT_EQ(plan.owners[0].owner_fd, 0u);
    EXPECT_TRUE(plan.close_waits.empty());
}

TEST(SeedPolicy, UnderPidTheSeededOwnerIsTheTargetsFd)
{
    std::vector<InventorySock> socks = {sock(1, CWT_TCP_CLOSE_WAIT), sock(2, CWT_TCP_ESTABLISHED)};
    std::vector<InventoryFd> fds = {
        {1, proc(200, 4)}, {1, proc(100, 7)}, {2, proc(200, 5)}, {2, proc(100, 8)}};
    SeedPlan plan = plan_seeds(socks, fds, TargetFilter(100));
    ASSERT_EQ(plan.close_waits.size(), 1u);
    EXPECT_EQ(plan.close_waits[0].owner_fd, std::optional<std::size_t>(1));
    ASSERT_EQ(plan.owners.size(), 1u);
    EXPECT_EQ(plan.owners[0].owner_fd, 3u);
}

TEST(SeedPolicy, UnderPidOtherProcessesSocketsAreLeftOut)
{
    std::vector<InventorySock> socks = {sock(1, CWT_TCP_CLOSE_WAIT), sock(2, CWT_TCP_ESTABLISHED),
                                        sock(3, CWT_TCP_CLOSE_WAIT)};
    std::vector<InventoryFd> fds = {{1, proc(200, 4)}, {2, proc(200, 5)}};
    SeedPlan plan = plan_seeds(socks, fds, TargetFilter(100));
    // A socket no process holds may still be the target's (passed over
    // SCM_RIGHTS, say): seeded with an unknown owner, the tracker decides.
    ASSERT_EQ(plan.close_waits.size(), 1u);
    EXPECT_EQ(plan.close_waits[0].sock, 2u);
    EXPECT_EQ(plan.close_waits[0].owner, OwnerKind::Unknown);
    EXPECT_TRUE(plan.owners.empty());
}

TEST(SeedPolicy, UnderPidQueuedSocketsCountOnlyOnTheTargetsListeners)
{
    std::vector<InventorySock> socks = {
        sock(10, CWT_TCP_LISTEN, true, 8080), sock(11, CWT_TCP_LISTEN, true, 9090),
        sock(1, CWT_TCP_CLOSE_WAIT, false, 8080), sock(2, CWT_TCP_CLOSE_WAIT, false, 9090)};
    std::vector<InventoryFd> fds = {{10, proc(100, 3)}, {11, proc(200, 3)}};
    SeedPlan plan = plan_seeds(socks, fds, TargetFilter(100));
    ASSERT_EQ(plan.close_waits.size(), 1u);
    EXPECT_EQ(plan.close_waits[0].sock, 2u);
    EXPECT_EQ(plan.close_waits[0].owner, OwnerKind::AcceptQueue);

    SeedPlan all = plan_seeds(socks, fds, TargetFilter());
    EXPECT_EQ(all.close_waits.size(), 2u);
}

TEST(SeedPolicy, QueuedPortsAreMatchedPerNetns)
{
    std::vector<InventorySock> socks = {sock(10, CWT_TCP_LISTEN, true, 8080),
                                        sock(1, CWT_TCP_CLOSE_WAIT, false, 8080)};
    socks[1].netns = 2;
    std::vector<InventoryFd> fds = {{10, proc(100, 3)}};
    EXPECT_TRUE(plan_seeds(socks, fds, TargetFilter(100)).close_waits.empty());
}

TEST(LeakResolution, StillInCloseWait)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    Enrichment e = resolve_at_threshold(SeenSock{CWT_TCP_CLOSE_WAIT, 12}, &owners, true);
    EXPECT_FALSE(e.gone);
    EXPECT_EQ(e.recv_q, std::optional<std::uint32_t>(12));
    EXPECT_EQ(e.owners, owners);

    Enrichment no_fd = resolve_at_threshold(SeenSock{CWT_TCP_CLOSE_WAIT, 0}, nullptr, true);
    EXPECT_FALSE(no_fd.gone);
    EXPECT_TRUE(no_fd.owners.empty());
}

TEST(LeakResolution, MovedOnIsGone)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    Enrichment e = resolve_at_threshold(SeenSock{CWT_TCP_LAST_ACK, 0}, &owners, true);
    EXPECT_TRUE(e.gone);
    EXPECT_FALSE(e.recv_q);
    EXPECT_TRUE(e.owners.empty());
    // Moved on in another netns too: iter/tcp saw it, so it knows.
    EXPECT_TRUE(resolve_at_threshold(SeenSock{CWT_TCP_LAST_ACK, 0}, &owners, false).gone);
}

TEST(LeakResolution, UnseenInAWalkedNetnsIsGone)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    EXPECT_TRUE(resolve_at_threshold(std::nullopt, &owners, true).gone);
    EXPECT_TRUE(resolve_at_threshold(std::nullopt, nullptr, true).gone);
}

TEST(LeakResolution, UnseenInANetnsNotWalkedKeepsItsOwners)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    Enrichment e = resolve_at_threshold(std::nullopt, &owners, false);
    EXPECT_FALSE(e.gone) << "a namespace the walk could not enter";
    EXPECT_FALSE(e.recv_q) << "unknown, not zero";
    EXPECT_EQ(e.owners, owners);
    EXPECT_FALSE(resolve_at_threshold(std::nullopt, nullptr, false).gone);
}

ListenerInfo listener(SockId sk, Endpoint local, std::uint32_t pid)
{
    ListenerInfo l;
    l.sk = sk;
    l.netns = 1;
    l.local = local;
    l.owners = {proc(pid, 3)};
    return l;
}

TEST(ListenerState, TheKernelsWordOnTheQueueBeatsTheAddress)
{
    using test::v4;
    ListenerState ls;
    // SO_REUSEPORT: two listeners on one address.
    ls.update({listener(0x10, v4("0.0.0.0", 80), 100), listener(0x20, v4("0.0.0.0", 80), 200)},
              {{0x99, 0x20}});
    ASSERT_NE(ls.queue_of(0x99, 1, v4("10.0.0.1", 80)), nullptr);
    EXPECT_EQ(ls.queue_of(0x99, 1, v4("10.0.0.1", 80))->sk, 0x20u);
    ASSERT_NE(ls.queue_of(0x98, 1, v4("10.0.0.1", 80)), nullptr) << "unnamed: by address";
    EXPECT_EQ(ls.queue_of(0x98, 1, v4("10.0.0.1", 80))->local.port, 80);
    EXPECT_EQ(ls.queue_of(0x98, 1, v4("10.0.0.1", 81)), nullptr);
    EXPECT_EQ(ls.by_sk(0x10)->owners.front().pid, 100u);
}

AcceptErrorSample sample(std::uint32_t pid, std::uint64_t emfile, SockId listener_sk = 0x10)
{
    AcceptErrorSample s;
    s.pid = pid;
    s.listen_fd = 3;
    s.comm = "srv";
    s.listener_sk = listener_sk;
    s.emfile = emfile;
    return s;
}

TEST(AcceptWatchInputs, FdContextsOnlyForTheLinesDue)
{
    using test::v4;
    AcceptWatch w(AcceptWatchConfig{kNsPerSec, 5 * kNsPerSec, TargetFilter(100), 0});
    ListenerState ls;
    ls.update({listener(0x10, v4("0.0.0.0", 80), 100)});
    std::vector<AcceptErrorSample> samples = {sample(100, 1), sample(200, 1)};
    EXPECT_EQ(w.pids_due(kNsPerSec, samples), std::vector<std::uint32_t>{100}) << "-p: not pid 200";

    FdContexts fds;
    fds[100].open_fds = 1024;
    std::vector<Finding> out;
    w.on_errors(kNsPerSec, samples, fds, ls, out);
    ASSERT_EQ(out.size(), 1u);
    const auto& e = std::get<AcceptErrorFinding>(out[0]);
    EXPECT_EQ(e.open_fds, std::optional<std::size_t>(1024));
    ASSERT_TRUE(e.listener);
    EXPECT_EQ(e.listener->local.port, 80);

    samples = {sample(100, 5)};
    EXPECT_TRUE(w.pids_due(kNsPerSec + kNsPerSec / 2, samples).empty()) << "within the interval";
    EXPECT_EQ(w.pids_due(2 * kNsPerSec, samples), std::vector<std::uint32_t>{100});
}

TEST(AcceptWatchInputs, QueuedCloseWaitsComeAsCounts)
{
    using test::v4;
    AcceptWatch w(AcceptWatchConfig{kNsPerSec, kNsPerSec, TargetFilter(), 0});
    ListenerInfo l = listener(0x10, v4("0.0.0.0", 80), 100);
    l.queue = 3;
    l.backlog = 3;
    ListenerState ls;
    ls.update({l});
    std::vector<Finding> out;
    w.on_listeners(0, ls, 0, {}, out);
    EXPECT_TRUE(out.empty());
    w.on_listeners(2 * kNsPerSec, ls, 7, {{0x10, 2}}, out);
    ASSERT_EQ(out.size(), 2u) << "an overflow and a stall";
    EXPECT_EQ(std::get<ListenOverflowFinding>(out[0]).queue.queued_close_wait, 2u);
    EXPECT_EQ(std::get<AcceptStallFinding>(out[1]).queue.queued_close_wait, 2u);
}

TEST(AcceptWatchInputs, OverflowsAreCountedPerNetns)
{
    using test::v4;
    AcceptWatch w(AcceptWatchConfig{kNsPerSec, 100 * kNsPerSec, TargetFilter(), 0});
    // The same full listener address in two namespaces.
    ListenerInfo a = listener(0x10, v4("127.0.0.1", 8080), 100);
    a.netns = 1;
    ListenerInfo b = listener(0x20, v4("127.0.0.1", 8080), 200);
    b.netns = 2;
    a.queue = a.backlog = b.queue = b.backlog = 4;
    ListenerState ls;
    ls.update({a, b});
    std::vector<Finding> out;
    w.on_listeners(0, ls, NetnsCounters{{1, 10}, {2, 50}}, {}, out);
    EXPECT_TRUE(out.empty()) << "the first sample is the base";
    w.on_listeners(kNsPerSec, ls, NetnsCounters{{1, 10}, {2, 53}}, {}, out);
    ASSERT_EQ(out.size(), 1u) << "drops in namespace 2 only";
    const auto& f = std::get<ListenOverflowFinding>(out[0]);
    EXPECT_EQ(f.drops, 3u);
    EXPECT_EQ(f.queue.netns, 2u);
    ASSERT_TRUE(f.queue.process);
    EXPECT_EQ(f.queue.process->pid, 200u);
    EXPECT_EQ(f.detail, "accept queue full") << "not shared with the other namespace's listener";
    out.clear();
    // A namespace seen for the first time is its own base.
    w.on_listeners(2 * kNsPerSec, ls, NetnsCounters{{1, 10}, {2, 53}, {3, 999}}, {}, out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(w.overflows_reported(), 3u);
}

} // namespace
} // namespace cwt
