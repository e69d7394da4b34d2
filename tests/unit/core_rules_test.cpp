// The domain rules that used to live in the live loop: the -p target filter,
// which pre-existing sockets are seeded, and what a socket past the
// threshold is (gone, another netns, still in CLOSE_WAIT).
#include <gtest/gtest.h>

#include "closewait_trace/events.h"
#include "core/leak_resolution.hpp"
#include "core/seed_policy.hpp"
#include "core/target_filter.hpp"

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
    Enrichment e = resolve_at_threshold(SeenSock{CWT_TCP_CLOSE_WAIT, 12}, &owners, 1, 1);
    EXPECT_FALSE(e.gone);
    EXPECT_EQ(e.recv_q, std::optional<std::uint32_t>(12));
    EXPECT_EQ(e.owners, owners);

    Enrichment no_fd = resolve_at_threshold(SeenSock{CWT_TCP_CLOSE_WAIT, 0}, nullptr, 1, 1);
    EXPECT_FALSE(no_fd.gone);
    EXPECT_TRUE(no_fd.owners.empty());
}

TEST(LeakResolution, MovedOnIsGone)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    Enrichment e = resolve_at_threshold(SeenSock{CWT_TCP_LAST_ACK, 0}, &owners, 1, 1);
    EXPECT_TRUE(e.gone);
    EXPECT_FALSE(e.recv_q);
    EXPECT_TRUE(e.owners.empty());
    // Moved on in another netns too: iter/tcp saw it, so it knows.
    EXPECT_TRUE(resolve_at_threshold(SeenSock{CWT_TCP_LAST_ACK, 0}, &owners, 2, 1).gone);
}

TEST(LeakResolution, UnseenInOurNetnsIsGone)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    EXPECT_TRUE(resolve_at_threshold(std::nullopt, &owners, 1, 1).gone);
    EXPECT_TRUE(resolve_at_threshold(std::nullopt, nullptr, 1, 1).gone);
}

TEST(LeakResolution, UnseenInAnotherNetnsKeepsItsOwners)
{
    std::vector<ProcessRef> owners = {proc(100, 4)};
    Enrichment e = resolve_at_threshold(std::nullopt, &owners, 2, 1);
    EXPECT_FALSE(e.gone) << "iter/tcp does not see a container's sockets";
    EXPECT_FALSE(e.recv_q) << "unknown, not zero";
    EXPECT_EQ(e.owners, owners);
    EXPECT_FALSE(resolve_at_threshold(std::nullopt, nullptr, 2, 1).gone);
}

} // namespace
} // namespace cwt
