// classify_snapshot() on synthetic iterator records: what the one-shot audit
// makes of listeners, owned and queued CLOSE_WAITs, shared sockets and -p.
#include <gtest/gtest.h>

#include <cstring>

#include "endpoints.hpp"
#include "common/units.hpp"
#include "core/snapshot.hpp"

namespace cwt
{
namespace
{

using test::v4;
using test::v6;

constexpr std::uint32_t kNetns = 4026531840u;
constexpr MonoNs kNow = 1000ULL * kNsPerSec;

SocketRecord sock(SockId sk, std::uint8_t state, const Endpoint& local, const Endpoint& remote,
                  bool has_socket)
{
    SocketRecord s;
    s.sk = sk;
    s.netns = kNetns;
    s.state = state;
    s.has_socket = has_socket;
    s.tuple = Tuple{local, remote, static_cast<std::uint16_t>(local.is_v4_mapped() ? 2 : 10)};
    return s;
}

SocketRecord listener(SockId sk, const Endpoint& local, std::uint32_t queue, std::uint32_t backlog)
{
    SocketRecord s = sock(sk, CWT_TCP_LISTEN, local, Endpoint{}, true);
    s.recv_q = queue;
    s.send_q = backlog;
    return s;
}

SocketFd file(SockId sk, std::uint32_t pid, std::int32_t fd, const char* comm)
{
    return SocketFd{sk, 0, ProcessRef{pid, comm, fd}};
}

// A server (pid 100) on 10.0.0.1:80 with two accepted CLOSE_WAITs, one
// queued CLOSE_WAIT, one queued ESTABLISHED and one healthy connection; a
// client (pid 200) holding an outbound CLOSE_WAIT.
struct Fixture {
    std::vector<SocketRecord> socks;
    std::vector<SocketFd> files;
    Fixture()
    {
        socks = {listener(1, v4("10.0.0.1", 80), 2, 128),
                 sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 5001), true),
                 sock(12, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 5002), true),
                 sock(13, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 5003), false),
                 sock(14, CWT_TCP_ESTABLISHED, v4("10.0.0.1", 80), v4("10.0.0.9", 5004), false),
                 sock(15, CWT_TCP_ESTABLISHED, v4("10.0.0.1", 80), v4("10.0.0.9", 5005), true),
                 sock(21, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 40000), v4("10.0.0.7", 443), true)};
        files = {file(1, 100, 3, "server"), file(12, 100, 8, "server"), file(11, 100, 7, "server"),
                 file(15, 100, 9, "server"), file(21, 200, 4, "client")};
    }
};

TEST(Snapshot, ClassifiesOwnedQueuedAndOutboundCloseWaits)
{
    Fixture fx;
    Snapshot snap = classify_snapshot(fx.socks, fx.files, {}, 0, kNow);

    ASSERT_EQ(snap.close_waits.size(), 4u);
    EXPECT_TRUE(snap.has_findings());
    // Sorted by local port, then remote port.
    CloseWaitFinding a = snap.finding(snap.close_waits[0]);
    EXPECT_EQ(a.sock.sk, 11u);
    EXPECT_STREQ(type_name(Finding(a)), "close_wait");
    EXPECT_TRUE(a.sock.preexisting);
    EXPECT_EQ(a.sock.owner, OwnerKind::Process);
    ASSERT_EQ(a.sock.processes.size(), 1u);
    EXPECT_EQ(a.sock.processes[0].pid, 100u);
    EXPECT_EQ(a.sock.processes[0].fd, 7);
    ASSERT_TRUE(a.sock.listener.has_value());
    EXPECT_EQ(a.sock.listener->local, v4("10.0.0.1", 80));
    EXPECT_EQ(a.sock.listener->owner->pid, 100u);
    EXPECT_FALSE(a.sock.min_age_s.has_value()) << "no kernel bound given";

    CloseWaitFinding q = snap.finding(snap.close_waits[2]);
    EXPECT_EQ(q.sock.sk, 13u);
    EXPECT_EQ(q.sock.owner, OwnerKind::AcceptQueue);
    EXPECT_TRUE(q.sock.processes.empty());
    ASSERT_TRUE(q.sock.listener.has_value());
    EXPECT_EQ(*q.sock.listener->queue, 2u);
    EXPECT_EQ(*q.sock.listener->backlog, 128u);

    CloseWaitFinding out = snap.finding(snap.close_waits[3]);
    EXPECT_EQ(out.sock.sk, 21u);
    EXPECT_EQ(out.sock.owner, OwnerKind::Process);
    EXPECT_EQ(out.sock.processes[0].comm, "client");
    EXPECT_FALSE(out.sock.listener.has_value()) << "an outbound socket has no listener";

    ASSERT_EQ(snap.listeners.size(), 1u);
    EXPECT_EQ(snap.listeners[0].queued_close_wait, 1u);
    EXPECT_EQ(snap.listeners[0].queued_established, 1u);

    ASSERT_EQ(snap.processes.size(), 2u);
    EXPECT_EQ(snap.processes[0].pid, 100u); // most CLOSE_WAITs first
    EXPECT_EQ(snap.processes[0].close_wait, 2u);
    EXPECT_EQ(snap.processes[0].fds, (std::vector<std::int32_t>{7, 8}));
    EXPECT_EQ(snap.processes[1].pid, 200u);

    EXPECT_EQ(snap.summary.open_close_waits, 4u);
    EXPECT_EQ(snap.summary.unknown_owner, 0u);
    ASSERT_EQ(snap.summary.listeners.size(), 1u);
    EXPECT_EQ(snap.summary.listeners[0].queued_close_waits, 1u);
    ASSERT_EQ(snap.summary.processes.size(), 2u);
    EXPECT_EQ(snap.summary.processes[0].open_close_waits, 2u);
}

TEST(Snapshot, PidFilterKeepsOnlyTheTargetsSocketsAndListeners)
{
    Fixture fx;
    Snapshot server = classify_snapshot(fx.socks, fx.files, {}, 100, kNow);
    ASSERT_EQ(server.close_waits.size(), 3u) << "two accepted plus the one queued on its listener";
    for (const auto& cw : server.close_waits)
        EXPECT_NE(cw.sk, 21u);
    ASSERT_EQ(server.processes.size(), 1u);
    EXPECT_EQ(server.processes[0].pid, 100u);
    EXPECT_EQ(server.listeners.size(), 1u);

    Snapshot client = classify_snapshot(fx.socks, fx.files, {}, 200, kNow);
    ASSERT_EQ(client.close_waits.size(), 1u);
    EXPECT_EQ(client.close_waits[0].sk, 21u);
    EXPECT_TRUE(client.listeners.empty()) << "the server's listener is not the client's";
    EXPECT_EQ(client.summary.open_close_waits, 1u);

    EXPECT_FALSE(classify_snapshot(fx.socks, fx.files, {}, 300, kNow).has_findings());
}

TEST(Snapshot, SharedSocketListsEveryOwnerAndCountsItOncePerProcess)
{
    std::vector<SocketRecord> socks = {
        sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 5001), true)};
    // Parent 100 with the fd and a dup; child 101 inherited it through fork.
    std::vector<SocketFd> files = {file(11, 101, 5, "worker"), file(11, 100, 9, "server"),
                                   file(11, 100, 5, "server")};
    Snapshot snap = classify_snapshot(socks, files, {}, 0, kNow);
    ASSERT_EQ(snap.close_waits.size(), 1u);
    CloseWaitFinding f = snap.finding(snap.close_waits[0]);
    ASSERT_EQ(f.sock.processes.size(), 3u);
    EXPECT_EQ(f.sock.processes[0].pid, 100u); // primary: lowest pid, then lowest fd
    EXPECT_EQ(f.sock.processes[0].fd, 5);
    EXPECT_EQ(f.sock.processes[1].fd, 9);
    EXPECT_EQ(f.sock.processes[2].pid, 101u);
    ASSERT_EQ(snap.processes.size(), 2u);
    EXPECT_EQ(snap.processes[0].close_wait, 1u) << "one socket, though two fds";
    EXPECT_EQ(snap.processes[0].fds, (std::vector<std::int32_t>{5, 9}));
    EXPECT_EQ(snap.summary.open_close_waits, 1u);
}

TEST(Snapshot, SocketWithAFileButNoFdIsNoFdNeverAcceptQueue)
{
    std::vector<SocketRecord> socks = {
        listener(1, v4("10.0.0.1", 80), 0, 16),
        sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 1), true)};
    std::vector<SocketFd> files = {file(1, 100, 3, "server")};
    Snapshot snap = classify_snapshot(socks, files, {}, 0, kNow);
    ASSERT_EQ(snap.close_waits.size(), 1u);
    CloseWaitFinding f = snap.finding(snap.close_waits[0]);
    EXPECT_EQ(f.sock.owner, OwnerKind::NoFd);
    EXPECT_FALSE(f.detail.empty());
    EXPECT_FALSE(f.sock.listener.has_value());
    EXPECT_EQ(snap.summary.unknown_owner, 1u);
    EXPECT_EQ(snap.listeners[0].queued_close_wait, 0u);
    EXPECT_FALSE(classify_snapshot(socks, files, {}, 100, kNow).has_findings())
        << "-p: nobody's is not the target's";
}

TEST(Snapshot, QueuedSocketWithoutListenerSaysSo)
{
    std::vector<SocketRecord> socks = {
        sock(13, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 5003), false)};
    Snapshot snap = classify_snapshot(socks, {}, {}, 0, kNow);
    ASSERT_EQ(snap.close_waits.size(), 1u);
    CloseWaitFinding f = snap.finding(snap.close_waits[0]);
    EXPECT_EQ(f.sock.owner, OwnerKind::AcceptQueue);
    EXPECT_EQ(f.detail, "listener not found");
    ASSERT_TRUE(f.sock.listener.has_value());
    EXPECT_EQ(f.sock.listener->local, v4("10.0.0.1", 80));
    ASSERT_EQ(snap.summary.listeners.size(), 1u);
}

TEST(Snapshot, Ipv4ChildMatchesDualStackListenerButIpv6ChildNeverMatchesIpv4Wildcard)
{
    std::vector<SocketRecord> socks = {
        listener(1, v6("::", 443), 1, 64), listener(2, v4("0.0.0.0", 8443), 1, 64),
        sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 443), v4("10.0.0.9", 1), false),
        sock(12, CWT_TCP_CLOSE_WAIT, v6("2001:db8::1", 8443), v6("2001:db8::9", 1), false)};
    Snapshot snap = classify_snapshot(socks, {}, {}, 0, kNow);
    ASSERT_EQ(snap.close_waits.size(), 2u);
    CloseWaitFinding dual = snap.finding(snap.close_waits[0]);
    EXPECT_EQ(dual.sock.listener->local, v6("::", 443));
    EXPECT_TRUE(dual.detail.empty());
    CloseWaitFinding none = snap.finding(snap.close_waits[1]);
    EXPECT_EQ(none.detail, "listener not found");
}

TEST(Snapshot, KernelBoundOnTheFinGivesMinimumAge)
{
    std::vector<SocketRecord> socks = {
        sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 1), true),
        sock(12, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 2), true)};
    socks[0].fin_by_ns = kNow - 90ULL * kNsPerSec;
    socks[1].fin_by_ns = kNow + 1000; // last segment came during the walk: no bound
    Snapshot snap = classify_snapshot(socks, {}, {}, 0, kNow);
    ASSERT_EQ(snap.close_waits.size(), 2u);
    CloseWaitFinding f = snap.finding(snap.close_waits[0]);
    ASSERT_TRUE(f.sock.min_age_s.has_value());
    EXPECT_DOUBLE_EQ(*f.sock.min_age_s, 90.0);
    EXPECT_FALSE(f.sock.age_s.has_value()) << "a bound, not an age";
    EXPECT_FALSE(snap.finding(snap.close_waits[1]).sock.min_age_s.has_value());
}

} // namespace
} // namespace cwt

namespace cwt
{
namespace
{

// SO_REUSEPORT: two listeners on one address. The kernel says whose queue
// holds each child; a child it does not name falls back to the address.
TEST(Snapshot, ReusePortQueuesAreCountedOnTheListenerThatHoldsThem)
{
    std::vector<SocketRecord> socks = {
        listener(1, v4("10.0.0.1", 80), 1, 16), listener(2, v4("10.0.0.1", 80), 2, 16),
        sock(11, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 1), false),
        sock(12, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 2), false),
        sock(13, CWT_TCP_ESTABLISHED, v4("10.0.0.1", 80), v4("10.0.0.9", 3), false)};
    std::vector<SocketFd> files = {file(1, 100, 3, "worker-a"), file(2, 101, 3, "worker-b")};
    QueuedOn queued_on = {{11, 1}, {12, 2}, {13, 2}};
    Snapshot snap = classify_snapshot(socks, files, queued_on, 0, kNow);
    ASSERT_EQ(snap.listeners.size(), 2u);
    for (const auto& l : snap.listeners) {
        EXPECT_EQ(l.queued_close_wait, 1u) << l.info.sk;
        EXPECT_EQ(l.queued_established, l.info.sk == 2 ? 1u : 0u) << l.info.sk;
    }
    ASSERT_EQ(snap.close_waits.size(), 2u);
    EXPECT_EQ(snap.finding(snap.close_waits[1]).sock.listener->owner->comm, "worker-b");

    Snapshot b = classify_snapshot(socks, files, queued_on, 101, kNow);
    ASSERT_EQ(b.close_waits.size(), 1u) << "-p of the second worker: the CLOSE_WAIT in its own queue";
    EXPECT_EQ(b.close_waits[0].sk, 12u);

    Snapshot unnamed = classify_snapshot(socks, files, {}, 0, kNow);
    EXPECT_EQ(unnamed.close_waits.size(), 2u) << "without the kernel's word, still reported (by address)";

    // An accepted one names the listener its owner holds, not the first.
    socks.push_back(sock(14, CWT_TCP_CLOSE_WAIT, v4("10.0.0.1", 80), v4("10.0.0.9", 4), true));
    files.push_back(file(14, 101, 7, "worker-b"));
    Snapshot owned = classify_snapshot(socks, files, queued_on, 0, kNow);
    ASSERT_EQ(owned.close_waits.size(), 3u);
    CloseWaitFinding f = owned.finding(owned.close_waits[2]);
    EXPECT_EQ(f.sock.owner, OwnerKind::Process);
    EXPECT_EQ(f.sock.listener->owner->comm, "worker-b");
}

} // namespace
} // namespace cwt
