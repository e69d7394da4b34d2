// Tracker: synthetic event/scan sequences in, Findings out.
#include <gtest/gtest.h>

#include "endpoints.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/units.hpp"
#include "core/tracker.hpp"

namespace cwt
{
namespace
{

constexpr MonoNs kSec = kNsPerSec;
constexpr MonoNs kMs = 1000000ULL;
constexpr MonoNs kThreshold = 30 * kSec;
constexpr std::uint32_t kNetns = 4026531840U;
constexpr std::uint8_t kLastAck = 9; // CWT_TCP_LAST_ACK: the application called close()
constexpr std::uint8_t kClose = 7;   // CWT_TCP_CLOSE: reset / listener gone

// ---- building blocks -------------------------------------------------------

using cwt::test::v4;
using cwt::test::v6;

Tuple tuple4(std::uint16_t lport, const char* raddr = "192.0.2.7", std::uint16_t rport = 40000,
             const char* laddr = "10.0.0.1")
{
    return Tuple{v4(laddr, lport), v4(raddr, rport), AF_INET};
}

Tuple tuple6(const char* laddr, std::uint16_t lport, const char* raddr = "2001:db8::99",
             std::uint16_t rport = 40000)
{
    return Tuple{v6(laddr, lport), v6(raddr, rport), AF_INET6};
}

ProcessRef proc(std::uint32_t pid, const char* comm, std::int32_t fd)
{
    return ProcessRef{pid, comm, fd};
}

// accept()ed by `by` before the peer's FIN: the kernel knows the owner.
CloseWaitInfo owned(MonoNs enter_ns, const ProcessRef& by, const Tuple& t = tuple4(8080),
                    SockId listener_sk = 0)
{
    CloseWaitInfo i;
    i.enter_ns = enter_ns;
    i.netns = kNetns;
    i.recv_q = 1;
    i.owner = OwnerKind::Process;
    i.tuple = t;
    i.accepted = AcceptRecord{by, enter_ns > kSec ? enter_ns - kSec : 0, listener_sk};
    return i;
}

// The peer's FIN arrived while the socket sat in the accept queue.
CloseWaitInfo queued(MonoNs enter_ns, const Tuple& t = tuple4(8080), std::uint32_t netns = kNetns)
{
    CloseWaitInfo i;
    i.enter_ns = enter_ns;
    i.netns = netns;
    i.recv_q = 1;
    i.owner = OwnerKind::AcceptQueue;
    i.tuple = t;
    return i;
}

// A socket with a struct socket but no owner the kernel knows (connect()ed).
CloseWaitInfo unowned(MonoNs enter_ns, const Tuple& t = tuple4(8080))
{
    CloseWaitInfo i;
    i.enter_ns = enter_ns;
    i.netns = kNetns;
    i.owner = OwnerKind::Unknown;
    i.tuple = t;
    return i;
}

SockEvent entered(SockId sk, const CloseWaitInfo& info, MonoNs ts = 0)
{
    SockEvent e;
    e.kind = SockEventKind::EnteredCloseWait;
    e.ts_ns = ts ? ts : info.enter_ns;
    e.sk = sk;
    e.old_state = 1; // ESTABLISHED
    e.new_state = 8; // CLOSE_WAIT
    e.info = info;
    return e;
}

SockEvent left(SockId sk, const CloseWaitInfo& info, MonoNs ts, std::uint8_t new_state = kLastAck)
{
    SockEvent e;
    e.kind = SockEventKind::LeftCloseWait;
    e.ts_ns = ts;
    e.sk = sk;
    e.old_state = 8;
    e.new_state = new_state;
    e.info = info;
    return e;
}

// The BPF side rewrites the map entry on accept(): owner Process + record.
SockEvent accepted_later(SockId sk, CloseWaitInfo info, const ProcessRef& by, MonoNs ts,
                         SockId listener_sk = 0)
{
    info.owner = OwnerKind::Process;
    info.accepted = AcceptRecord{by, ts, listener_sk};
    SockEvent e;
    e.kind = SockEventKind::QueuedAccepted;
    e.ts_ns = ts;
    e.sk = sk;
    e.old_state = 8;
    e.new_state = 8;
    e.info = info;
    return e;
}

ListenerInfo listener(SockId sk, const Endpoint& local, const ProcessRef& owner, std::uint32_t netns = kNetns)
{
    ListenerInfo l;
    l.sk = sk;
    l.netns = netns;
    l.local = local;
    l.queue = 3;
    l.backlog = 128;
    l.owners = {owner};
    return l;
}

TrackerConfig config(bool verbose = false, std::uint32_t filter_pid = 0, MonoNs started_ns = 0)
{
    TrackerConfig c;
    c.leak_threshold_ns = kThreshold;
    c.verbose = verbose;
    c.target = filter_pid;
    c.started_ns = started_ns;
    return c;
}

Findings feed(Tracker& t, const SockEvent& ev)
{
    Findings out;
    t.on_event(ev, out);
    return out;
}

Findings leak(Tracker& t, SockId sk, const Enrichment& e, MonoNs now)
{
    Findings out;
    t.report_leak(sk, e, now, out);
    return out;
}

std::vector<std::string> types_of(const Findings& fs)
{
    std::vector<std::string> v;
    for (const auto& f : fs)
        v.push_back(type_name(f));
    return v;
}

// The socket a finding is about; fails the test if it has none.
const SocketFacts& sock(const Finding& f)
{
    const SocketFacts* s = socket_of(f);
    if (!s)
        throw std::logic_error(std::string("not a socket finding: ") + type_name(f));
    return *s;
}

const ClosedFinding& as_closed(const Finding& f)
{
    return std::get<ClosedFinding>(f);
}

const ProcessSummary* summary_for(const Summary& s, std::uint32_t pid)
{
    for (const auto& p : s.processes)
        if (p.process.pid == pid)
            return &p;
    return nullptr;
}

constexpr SockId kSk = 0xffff888012345000ULL;
constexpr MonoNs kT0 = 1000 * kSec;

// ---- accept, then the peer's FIN, then close() ---------------------------------

TEST(TrackerLifecycle, AcceptedSocketClosedBeforeThresholdIsQuietByDefault)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    const auto info = owned(kT0, proc(100, "server", 7));

    EXPECT_TRUE(feed(t, entered(kSk, info)).empty());
    EXPECT_EQ(t.tracked(), 1u);
    EXPECT_TRUE(feed(t, left(kSk, info, kT0 + 2 * kSec, kLastAck)).empty());
    EXPECT_EQ(t.tracked(), 0u);
    EXPECT_EQ(t.summary(kT0 + 3 * kSec).open_close_waits, 0u);
}

TEST(TrackerLifecycle, VerbosePrintsCloseWaitAndClose)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true), listeners);
    const auto info = owned(kT0, proc(100, "server", 7));

    Findings in = feed(t, entered(kSk, info));
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(type_name(in[0]), std::string("close_wait"));
    EXPECT_EQ(sock(in[0]).owner, OwnerKind::Process);
    ASSERT_EQ(sock(in[0]).processes.size(), 1u);
    EXPECT_EQ(sock(in[0]).processes[0], proc(100, "server", 7));
    EXPECT_EQ(sock(in[0]).sk, kSk);
    EXPECT_EQ(sock(in[0]).tuple, info.tuple);
    EXPECT_EQ(sock(in[0]).netns, kNetns);
    ASSERT_TRUE(sock(in[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(in[0]).age_s, 0.0);

    Findings out = feed(t, left(kSk, info, kT0 + 2500 * kMs, kLastAck));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(type_name(out[0]), std::string("close_wait_closed"));
    EXPECT_FALSE(as_closed(out[0]).was_leak);
    EXPECT_EQ(as_closed(out[0]).closed_by, "application");
    ASSERT_TRUE(sock(out[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(out[0]).age_s, 2.5);
    ASSERT_EQ(sock(out[0]).processes.size(), 1u);
    EXPECT_EQ(sock(out[0]).processes[0].pid, 100u);
    EXPECT_EQ(sock(out[0]).processes[0].fd, 7);
}

TEST(TrackerLifecycle, ClosedByIsResetOrListenerClosedWhenNotLastAck)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true), listeners);
    const auto mine = owned(kT0, proc(100, "server", 7));
    const auto q = queued(kT0, tuple4(8080, "192.0.2.8"));

    feed(t, entered(1, mine));
    feed(t, entered(2, q));
    Findings a = feed(t, left(1, mine, kT0 + kSec, kClose));
    Findings b = feed(t, left(2, q, kT0 + kSec, kClose));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(as_closed(a[0]).closed_by, "reset");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(as_closed(b[0]).closed_by, "listener_closed");
}

// ---- FIN before accept: the accept queue -------------------------------------

TEST(TrackerAcceptQueue, QueuedCloseWaitReportedAtOnceWithExactListener)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v4("10.0.0.2", 8080), proc(50, "other", 3)),
                      listener(0x200, v4("10.0.0.1", 8080), proc(42, "nginx", 6))});

    Findings fs = feed(t, entered(kSk, queued(kT0)));
    ASSERT_EQ(fs.size(), 1u);
    const Finding& f = fs[0];
    EXPECT_EQ(type_name(f), std::string("close_wait"));
    EXPECT_EQ(sock(f).owner, OwnerKind::AcceptQueue);
    EXPECT_TRUE(sock(f).processes.empty());
    ASSERT_TRUE(sock(f).listener);
    EXPECT_EQ(sock(f).listener->local, v4("10.0.0.1", 8080));
    ASSERT_TRUE(sock(f).listener->owner);
    EXPECT_EQ(*sock(f).listener->owner, proc(42, "nginx", 6));
    EXPECT_EQ(sock(f).listener->queue, 3u);
    EXPECT_EQ(sock(f).listener->backlog, 128u);
    EXPECT_TRUE(detail_of(f).empty());
}

// SO_REUSEPORT: two listeners on the queued socket's address. The one whose
// queue holds it (the kernel's word) is named, and counts it, not the first.
TEST(TrackerAcceptQueue, ReusePortQueuedSocketNamesTheListenerHoldingIt)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v4("10.0.0.1", 8080), proc(41, "worker-a", 6)),
                      listener(0x200, v4("10.0.0.1", 8080), proc(42, "worker-b", 6))},
                     QueuedOn{{kSk, 0x200}});
    Findings fs = feed(t, entered(kSk, queued(kT0)));
    ASSERT_EQ(fs.size(), 1u);
    ASSERT_TRUE(sock(fs[0]).listener && sock(fs[0]).listener->owner);
    EXPECT_EQ(*sock(fs[0]).listener->owner, proc(42, "worker-b", 6));
    EXPECT_EQ(t.queued_close_waits(listeners.all()[0]), 0u);
    EXPECT_EQ(t.queued_close_waits(listeners.all()[1]), 1u);
}

TEST(TrackerAcceptQueue, WildcardIPv4ListenerMatches)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v4("0.0.0.0", 8080), proc(42, "nginx", 6))});

    Findings fs = feed(t, entered(kSk, queued(kT0, tuple4(8080, "192.0.2.7", 40000, "10.9.8.7"))));
    ASSERT_EQ(fs.size(), 1u);
    ASSERT_TRUE(sock(fs[0]).listener);
    EXPECT_EQ(sock(fs[0]).listener->local, v4("0.0.0.0", 8080));
    ASSERT_TRUE(sock(fs[0]).listener->owner);
    EXPECT_EQ(sock(fs[0]).listener->owner->pid, 42u);
}

TEST(TrackerAcceptQueue, WildcardIPv6ListenerMatchesIPv6AndV4MappedSockets)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v6("::", 443), proc(77, "envoy", 9))});

    Findings a = feed(t, entered(1, queued(kT0, tuple6("2001:db8::1", 443))));
    // A dual-stack listener's IPv4 children are AF_INET6 with v4-mapped addresses.
    Tuple mapped = tuple4(443);
    mapped.family = AF_INET6;
    Findings b = feed(t, entered(2, queued(kT0, mapped)));
    for (const Findings* fs : {&a, &b}) {
        ASSERT_EQ(fs->size(), 1u);
        ASSERT_TRUE(sock((*fs)[0]).listener);
        EXPECT_EQ(sock((*fs)[0]).listener->local, v6("::", 443));
        ASSERT_TRUE(sock((*fs)[0]).listener->owner);
        EXPECT_EQ(sock((*fs)[0]).listener->owner->pid, 77u);
    }
}

TEST(TrackerAcceptQueue, ExactListenerPreferredOverWildcardWhateverTheOrder)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v4("0.0.0.0", 8080), proc(1, "wild", 3)),
                      listener(0x200, v4("10.0.0.1", 8080), proc(2, "exact", 4))});
    const ListenerInfo* l = listeners.find(kNetns, v4("10.0.0.1", 8080));
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->sk, 0x200u);

    listeners.update({listener(0x200, v4("10.0.0.1", 8080), proc(2, "exact", 4)),
                      listener(0x100, v4("0.0.0.0", 8080), proc(1, "wild", 3))});
    l = listeners.find(kNetns, v4("10.0.0.1", 8080));
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->sk, 0x200u);
}

TEST(TrackerAcceptQueue, ListenerMustShareNetnsAndPort)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x100, v4("10.0.0.1", 8080), proc(42, "nginx", 6), kNetns + 1),
                      listener(0x200, v4("0.0.0.0", 8080), proc(43, "nginx", 6), kNetns + 1),
                      listener(0x300, v4("10.0.0.1", 8081), proc(44, "nginx", 6))});
    EXPECT_EQ(listeners.find(kNetns, v4("10.0.0.1", 8080)), nullptr);

    Findings fs = feed(t, entered(kSk, queued(kT0)));
    ASSERT_EQ(fs.size(), 1u);
    // Still reported, with the socket's own address and no owner.
    ASSERT_TRUE(sock(fs[0]).listener);
    EXPECT_EQ(sock(fs[0]).listener->local, v4("10.0.0.1", 8080));
    EXPECT_FALSE(sock(fs[0]).listener->owner);
    EXPECT_EQ(detail_of(fs[0]), "listener not found");
}

TEST(TrackerAcceptQueue, AcceptedLaterBecomesProcessAndLeakNamesIt)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    listeners.update({listener(0x200, v4("0.0.0.0", 8080), proc(42, "nginx", 6))});
    const auto q = queued(kT0);

    ASSERT_EQ(types_of(feed(t, entered(kSk, q))), std::vector<std::string>{"close_wait"});
    // accept() by a worker: silent unless verbose.
    EXPECT_TRUE(feed(t, accepted_later(kSk, q, proc(43, "nginx-worker", 11), kT0 + kSec, 0x200)).empty());
    EXPECT_EQ(t.tracked(), 1u);

    Summary mid = t.summary(kT0 + 2 * kSec);
    EXPECT_TRUE(mid.listeners.empty());
    ASSERT_NE(summary_for(mid, 43), nullptr);

    const MonoNs now = kT0 + kThreshold + kSec;
    t.on_scan(now, {{kSk, owned(kT0, proc(43, "nginx-worker", 11), q.tuple, 0x200)}});
    ASSERT_EQ(t.due_for_leak_report(now), std::vector<SockId>{kSk});
    Findings fs = leak(t, kSk, Enrichment{}, now);
    ASSERT_EQ(fs.size(), 1u);
    const Finding& f = fs[0];
    EXPECT_EQ(type_name(f), std::string("close_wait_leak"));
    EXPECT_EQ(sock(f).owner, OwnerKind::Process);
    ASSERT_EQ(sock(f).processes.size(), 1u);
    EXPECT_EQ(sock(f).processes[0], proc(43, "nginx-worker", 11));
    ASSERT_TRUE(sock(f).age_s);
    EXPECT_DOUBLE_EQ(*sock(f).age_s, 31.0);
    // The listener it came from, found by its sk.
    ASSERT_TRUE(sock(f).listener);
    EXPECT_EQ(sock(f).listener->local, v4("0.0.0.0", 8080));
}

TEST(TrackerAcceptQueue, AcceptedLaterIsPrintedWhenVerbose)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true), listeners);
    const auto q = queued(kT0);
    feed(t, entered(kSk, q));
    Findings fs = feed(t, accepted_later(kSk, q, proc(43, "worker", 11), kT0 + kSec));
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(type_name(fs[0]), std::string("close_wait"));
    EXPECT_EQ(sock(fs[0]).owner, OwnerKind::Process);
    ASSERT_EQ(sock(fs[0]).processes.size(), 1u);
    EXPECT_EQ(sock(fs[0]).processes[0].pid, 43u);
    EXPECT_FALSE(detail_of(fs[0]).empty());
}

// Regression: find_listener() once took the last wildcard listener of any
// address family, blaming an IPv6 child on an IPv4-only 0.0.0.0 listener.
// An IPv4 listener cannot have IPv6 children, and an AF_INET child goes to
// the AF_INET listener when both exist.
TEST(TrackerAcceptQueue, WildcardListenerMatchRespectsAddressFamily)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    const auto l4 = listener(0x400, v4("0.0.0.0", 443), proc(1, "v4srv", 3));
    const auto l6 = listener(0x600, v6("::", 443), proc(2, "v6srv", 4));

    listeners.update({l6, l4});
    const ListenerInfo* got = listeners.find(kNetns, v6("2001:db8::1", 443));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->sk, 0x600u) << "IPv6 socket attributed to the IPv4 listener";

    listeners.update({l4, l6});
    got = listeners.find(kNetns, v4("10.0.0.1", 443));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->sk, 0x400u) << "IPv4 socket attributed to the IPv6-only listener";
}

// ---- the leak threshold ----------------------------------------------------

TEST(TrackerThreshold, LeakReportedExactlyOnceThenClosedAsLeak)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    const auto info = owned(kT0, proc(100, "server", 7));
    t.on_scan(kT0, {{kSk, info}});
    EXPECT_EQ(t.tracked(), 1u);

    EXPECT_TRUE(t.due_for_leak_report(kT0).empty());
    EXPECT_TRUE(t.due_for_leak_report(kT0 + kThreshold - 1).empty());
    EXPECT_EQ(t.due_for_leak_report(kT0 + kThreshold), std::vector<SockId>{kSk});
    EXPECT_EQ(t.due_for_leak_report(kT0 + kThreshold + 5 * kSec), std::vector<SockId>{kSk});

    const MonoNs now = kT0 + kThreshold + 2 * kSec;
    Enrichment e;
    e.recv_q = 517;
    e.owners = {proc(100, "server", 7)};
    Findings fs = leak(t, kSk, e, now);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(type_name(fs[0]), std::string("close_wait_leak"));
    EXPECT_EQ(sock(fs[0]).owner, OwnerKind::Process);
    ASSERT_TRUE(sock(fs[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).age_s, 32.0);
    EXPECT_FALSE(sock(fs[0]).min_age_s);
    EXPECT_EQ(sock(fs[0]).recv_q, 517u);
    EXPECT_FALSE(sock(fs[0]).preexisting);
    EXPECT_EQ(t.summary(now).leaks_reported, 1u);

    // Not again: neither due nor reported on later scans.
    t.on_scan(now + kSec, {{kSk, info}});
    EXPECT_TRUE(t.due_for_leak_report(now + kSec).empty());

    Findings closed = feed(t, left(kSk, info, now + 10 * kSec, kLastAck));
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(type_name(closed[0]), std::string("close_wait_closed"));
    EXPECT_TRUE(as_closed(closed[0]).was_leak);
    EXPECT_EQ(as_closed(closed[0]).closed_by, "application");
    ASSERT_TRUE(sock(closed[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(closed[0]).age_s, 42.0);
    EXPECT_EQ(t.tracked(), 0u);
    EXPECT_EQ(t.summary(now + 11 * kSec).leaks_reported, 1u);
}

TEST(TrackerThreshold, PastThresholdCloseBetweenScansIsALateLeak)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    const auto info = owned(kT0, proc(100, "server", 7));
    // Entered without an event (not verbose), left before any scan saw it.
    Findings fs = feed(t, left(kSk, info, kT0 + kThreshold, kLastAck));
    ASSERT_EQ(types_of(fs), (std::vector<std::string>{"close_wait_leak", "close_wait_closed"}));
    EXPECT_EQ(sock(fs[0]).owner, OwnerKind::Process);
    ASSERT_EQ(sock(fs[0]).processes.size(), 1u);
    EXPECT_EQ(sock(fs[0]).processes[0].pid, 100u);
    ASSERT_TRUE(sock(fs[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).age_s, 30.0);
    EXPECT_TRUE(as_closed(fs[1]).was_leak);
    EXPECT_EQ(as_closed(fs[1]).closed_by, "application");
    EXPECT_EQ(t.tracked(), 0u);
    EXPECT_EQ(t.summary(kT0 + kThreshold).leaks_reported, 1u);
}

TEST(TrackerThreshold, SeenButUnreportedSocketClosingPastThresholdIsALateLeak)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    const auto info = owned(kT0, proc(100, "server", 7));
    t.on_scan(kT0 + kSec, {{kSk, info}});
    Findings fs = feed(t, left(kSk, info, kT0 + kThreshold + kMs, kLastAck));
    EXPECT_EQ(types_of(fs), (std::vector<std::string>{"close_wait_leak", "close_wait_closed"}));
}

// ---- address reuse -----------------------------------------------------------

TEST(TrackerReuse, SameSkNewEnterTimeIsANewSocket)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true), listeners);
    const auto first = owned(kT0, proc(100, "old", 7));
    feed(t, entered(kSk, first));
    const MonoNs t1 = kT0 + kThreshold;
    ASSERT_EQ(t.due_for_leak_report(t1), std::vector<SockId>{kSk});
    ASSERT_EQ(leak(t, kSk, Enrichment{}, t1).size(), 1u);
    EXPECT_TRUE(t.due_for_leak_report(t1).empty());

    // The close was missed; the address now holds a new socket of another process.
    const MonoNs t2 = t1 + 5 * kSec;
    const auto second = owned(t2, proc(200, "new", 9), tuple4(9090));
    Findings fs = feed(t, entered(kSk, second));
    ASSERT_EQ(fs.size(), 1u);
    ASSERT_EQ(sock(fs[0]).processes.size(), 1u);
    EXPECT_EQ(sock(fs[0]).processes[0].pid, 200u);
    EXPECT_EQ(sock(fs[0]).tuple, second.tuple);
    ASSERT_TRUE(sock(fs[0]).age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).age_s, 0.0);
    EXPECT_EQ(t.tracked(), 1u);

    Summary s = t.summary(t2);
    EXPECT_EQ(summary_for(s, 100), nullptr);
    ASSERT_NE(summary_for(s, 200), nullptr);

    EXPECT_TRUE(t.due_for_leak_report(t2 + kThreshold - 1).empty());
    ASSERT_EQ(t.due_for_leak_report(t2 + kThreshold), std::vector<SockId>{kSk});
    Findings again = leak(t, kSk, Enrichment{}, t2 + kThreshold);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(sock(again[0]).processes[0].pid, 200u);
    EXPECT_EQ(t.summary(t2 + kThreshold).leaks_reported, 2u);

    // Its close is not a leak of the first socket's past.
    Findings closed = feed(t, left(kSk, second, t2 + kThreshold + kSec));
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_TRUE(as_closed(closed[0]).was_leak);
    EXPECT_EQ(sock(closed[0]).processes[0].pid, 200u);
}

TEST(TrackerReuse, ScanWithNewEnterTimeReplacesTheOldSocket)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0, {{kSk, owned(kT0, proc(100, "old", 7))}});
    ASSERT_EQ(leak(t, kSk, Enrichment{}, kT0 + kThreshold).size(), 1u);

    const MonoNs t2 = kT0 + kThreshold + kSec;
    t.on_scan(t2, {{kSk, owned(t2, proc(200, "new", 9))}});
    EXPECT_EQ(t.tracked(), 1u);
    EXPECT_TRUE(t.due_for_leak_report(t2).empty());
    EXPECT_EQ(t.due_for_leak_report(t2 + kThreshold), std::vector<SockId>{kSk});
    Summary s = t.summary(t2);
    EXPECT_EQ(summary_for(s, 100), nullptr);
    ASSERT_NE(summary_for(s, 200), nullptr);
}

TEST(TrackerReuse, ScanDropsSocketsAbsentFromTheMap)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0,
              {{1, owned(kT0, proc(100, "a", 4))}, {2, owned(kT0, proc(100, "a", 5))}, {3, queued(kT0)}});
    EXPECT_EQ(t.tracked(), 3u);
    t.on_scan(kT0 + kSec, {{2, owned(kT0, proc(100, "a", 5))}});
    EXPECT_EQ(t.tracked(), 1u);
    EXPECT_EQ(t.due_for_leak_report(kT0 + kThreshold), std::vector<SockId>{2});
    t.on_scan(kT0 + 2 * kSec, {});
    EXPECT_EQ(t.tracked(), 0u);
    EXPECT_TRUE(t.due_for_leak_report(kT0 + kThreshold).empty());
    // A dropped socket produces nothing when reported late.
    EXPECT_TRUE(leak(t, 2, Enrichment{}, kT0 + kThreshold).empty());
}

// ---- events from many CPUs ---------------------------------------------------

TEST(TrackerInterleaving, ShuffledAcrossSocketsInOrderPerSocket)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true), listeners);
    constexpr int kSockets = 60;
    const std::uint32_t pids[] = {100, 200, 300};
    std::vector<std::deque<SockEvent>> per_socket(kSockets);
    std::map<std::uint32_t, std::size_t> expected_open;
    std::size_t closed = 0, late_leaks = 0, open = 0;

    for (int i = 0; i < kSockets; ++i) {
        const SockId sk = 0x1000 + 0x40 * static_cast<SockId>(i);
        const std::uint32_t pid = pids[i % 3];
        const MonoNs enter = kT0 + static_cast<MonoNs>(i) * kMs;
        const auto info = owned(enter, proc(pid, "srv", 10 + i),
                                tuple4(8080, "192.0.2.7", static_cast<std::uint16_t>(30000 + i)));
        per_socket[i].push_back(entered(sk, info));
        switch (i % 4) {
        case 0: // still open at the end
            ++expected_open[pid];
            ++open;
            break;
        case 1: // closed quickly
        case 2:
            per_socket[i].push_back(left(sk, info, enter + 3 * kSec));
            ++closed;
            break;
        case 3: // closed after the threshold, between scans
            per_socket[i].push_back(left(sk, info, enter + kThreshold + kSec));
            ++closed;
            ++late_leaks;
            break;
        }
    }

    std::mt19937 rng(12345);
    Findings all;
    std::size_t remaining = 0;
    for (const auto& q : per_socket)
        remaining += q.size();
    while (remaining) {
        std::size_t i = rng() % per_socket.size();
        if (per_socket[i].empty())
            continue;
        t.on_event(per_socket[i].front(), all);
        per_socket[i].pop_front();
        --remaining;
    }

    auto count = [&](const std::string& ty) {
        return static_cast<std::size_t>(
            std::count_if(all.begin(), all.end(), [&](const Finding& f) { return type_name(f) == ty; }));
    };
    EXPECT_EQ(count("close_wait"), static_cast<std::size_t>(kSockets));
    EXPECT_EQ(count("close_wait_closed"), closed);
    EXPECT_EQ(count("close_wait_leak"), late_leaks);
    EXPECT_EQ(t.tracked(), open);

    Summary s = t.summary(kT0 + 10 * kSec);
    EXPECT_EQ(s.open_close_waits, open);
    EXPECT_EQ(s.leaks_reported, late_leaks);
    EXPECT_EQ(s.unknown_owner, 0u);
    std::size_t sum = 0;
    for (const auto& p : s.processes) {
        EXPECT_EQ(p.open_close_waits, expected_open[p.process.pid]) << "pid " << p.process.pid;
        EXPECT_EQ(p.fds.size(), p.open_close_waits);
        EXPECT_TRUE(std::is_sorted(p.fds.begin(), p.fds.end()));
        sum += p.open_close_waits;
    }
    EXPECT_EQ(sum, open);
    EXPECT_EQ(s.processes.size(), expected_open.size());
}

// ---- sockets that predate the tool ------------------------------------------

TEST(TrackerPreexisting, DueImmediatelyWithOnlyALowerBoundOnAge)
{
    const MonoNs started = kT0;
    ListenerState listeners;
    Tracker t(config(false, 0, started), listeners);
    CloseWaitInfo info = owned(0, proc(100, "legacy", 12));
    info.preexisting = true;

    t.on_scan(started + 100 * kMs, {{kSk, info}});
    ASSERT_EQ(t.due_for_leak_report(started + 100 * kMs), std::vector<SockId>{kSk});

    const MonoNs now = started + 2 * kSec;
    Enrichment e;
    e.recv_q = 0;
    e.owners = {proc(100, "legacy", 12)};
    Findings fs = leak(t, kSk, e, now);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(type_name(fs[0]), std::string("close_wait_leak"));
    EXPECT_TRUE(sock(fs[0]).preexisting);
    EXPECT_FALSE(sock(fs[0]).age_s);
    ASSERT_TRUE(sock(fs[0]).min_age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).min_age_s, 2.0);
    EXPECT_TRUE(t.due_for_leak_report(now).empty());

    Summary s = t.summary(now + kSec);
    const ProcessSummary* p = summary_for(s, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->oldest_predates_start);
    EXPECT_DOUBLE_EQ(p->oldest_age_s, 3.0);
    EXPECT_EQ(p->fds, std::vector<std::int32_t>{12});

    // Its close is always shown, as a leak it was reported as.
    Findings closed = feed(t, left(kSk, info, now + 5 * kSec));
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_TRUE(as_closed(closed[0]).was_leak);
    EXPECT_TRUE(sock(closed[0]).preexisting);
}

// The kernel's bound (the last segment received came no earlier than the FIN)
// lengthens the minimum age when it goes back further than the tool's start;
// a bound after the start changes nothing.
TEST(TrackerPreexisting, KernelBoundOnTheFinLengthensTheMinimumAge)
{
    const MonoNs started = 100 * kSec;
    ListenerState listeners;
    Tracker t(config(false, 0, started), listeners);
    CloseWaitInfo old = owned(0, proc(100, "legacy", 12));
    old.preexisting = true;
    old.fin_by_ns = started - 60 * kSec;
    CloseWaitInfo recent = owned(0, proc(100, "legacy", 13));
    recent.preexisting = true;
    recent.fin_by_ns = started + kSec; // a segment after start: the start bounds it better
    t.on_scan(started, {{kSk, old}, {kSk + 1, recent}});

    Enrichment e;
    e.owners = {proc(100, "legacy", 12)};
    Findings fs = leak(t, kSk, e, started + 2 * kSec);
    ASSERT_EQ(fs.size(), 1u);
    ASSERT_TRUE(sock(fs[0]).min_age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).min_age_s, 62.0);
    EXPECT_FALSE(sock(fs[0]).age_s);

    e.owners = {proc(100, "legacy", 13)};
    fs = leak(t, kSk + 1, e, started + 2 * kSec);
    ASSERT_EQ(fs.size(), 1u);
    ASSERT_TRUE(sock(fs[0]).min_age_s);
    EXPECT_DOUBLE_EQ(*sock(fs[0]).min_age_s, 2.0);
}

TEST(TrackerPreexisting, QueuedPreexistingSummarizedUnderItsListener)
{
    ListenerState listeners;
    Tracker t(config(false, 0, kT0), listeners);
    listeners.update({listener(0x200, v4("0.0.0.0", 8080), proc(42, "nginx", 6))});
    CloseWaitInfo info = queued(0);
    info.preexisting = true;
    t.on_scan(kT0, {{kSk, info}, {kSk + 64, queued(kT0 + kSec, tuple4(8080, "192.0.2.9"))}});

    Summary s = t.summary(kT0 + 10 * kSec);
    ASSERT_EQ(s.listeners.size(), 1u);
    EXPECT_EQ(s.listeners[0].queued_close_waits, 2u);
    EXPECT_TRUE(s.listeners[0].oldest_predates_start);
    EXPECT_DOUBLE_EQ(s.listeners[0].oldest_age_s, 10.0);
    EXPECT_EQ(s.listeners[0].listener.local, v4("0.0.0.0", 8080));
    ASSERT_TRUE(s.listeners[0].listener.owner);
    EXPECT_EQ(s.listeners[0].listener.owner->pid, 42u);
    EXPECT_TRUE(s.processes.empty());
}

// ---- leak resolution ---------------------------------------------------------

TEST(TrackerReportLeak, GoneSocketIsDroppedSilently)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0, {{kSk, owned(kT0, proc(100, "server", 7))}});
    Enrichment e;
    e.gone = true;
    EXPECT_TRUE(leak(t, kSk, e, kT0 + kThreshold).empty());
    EXPECT_EQ(t.tracked(), 0u);
    EXPECT_TRUE(t.due_for_leak_report(kT0 + kThreshold).empty());
    EXPECT_EQ(t.summary(kT0 + kThreshold).leaks_reported, 0u);
}

TEST(TrackerReportLeak, NoOwnersAndUnknownKindBecomesNoFd)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0, {{kSk, unowned(kT0)}});
    Findings fs = leak(t, kSk, Enrichment{}, kT0 + kThreshold);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(type_name(fs[0]), std::string("close_wait_leak"));
    EXPECT_EQ(sock(fs[0]).owner, OwnerKind::NoFd);
    EXPECT_TRUE(sock(fs[0]).processes.empty());
    EXPECT_FALSE(sock(fs[0]).listener);
    EXPECT_FALSE(detail_of(fs[0]).empty());
}

TEST(TrackerReportLeak, SeveralOwnersAreListedAndEachProcessSummarized)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0, {{kSk, unowned(kT0)}});
    Enrichment e;
    e.owners = {proc(100, "parent", 5), proc(101, "child", 5), proc(100, "parent", 9)};
    Findings fs = leak(t, kSk, e, kT0 + kThreshold);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(sock(fs[0]).owner, OwnerKind::Process);
    EXPECT_EQ(sock(fs[0]).processes, e.owners);

    Summary s = t.summary(kT0 + kThreshold);
    EXPECT_EQ(s.open_close_waits, 1u);
    ASSERT_EQ(s.processes.size(), 2u);
    const ProcessSummary* parent = summary_for(s, 100);
    const ProcessSummary* child = summary_for(s, 101);
    ASSERT_NE(parent, nullptr);
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(parent->open_close_waits, 1u); // one socket, though two fds
    EXPECT_EQ(parent->fds, (std::vector<std::int32_t>{5, 9}));
    EXPECT_EQ(child->open_close_waits, 1u);
    EXPECT_EQ(child->fds, std::vector<std::int32_t>{5});
    EXPECT_DOUBLE_EQ(parent->oldest_age_s, 30.0);
}

TEST(TrackerReportLeak, UnknownOwnerCountedUntilResolved)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    t.on_scan(kT0, {{kSk, unowned(kT0)}});
    Summary s = t.summary(kT0 + kSec);
    EXPECT_EQ(s.open_close_waits, 1u);
    EXPECT_EQ(s.unknown_owner, 1u);
}

// ---- -p PID ------------------------------------------------------------------

TEST(TrackerFilter, OtherProcessesSocketsAreInvisible)
{
    ListenerState listeners;
    Tracker t(config(/*verbose=*/true, /*filter_pid=*/200), listeners);
    const auto theirs = owned(kT0, proc(100, "other", 7));
    const auto mine = owned(kT0, proc(200, "mine", 8), tuple4(9090));

    EXPECT_TRUE(feed(t, entered(1, theirs)).empty());
    EXPECT_EQ(feed(t, entered(2, mine)).size(), 1u);

    const MonoNs now = kT0 + kThreshold;
    t.on_scan(now, {{1, theirs}, {2, mine}});
    EXPECT_EQ(t.due_for_leak_report(now), std::vector<SockId>{2});
    EXPECT_EQ(leak(t, 2, Enrichment{}, now).size(), 1u);
    // Even if asked directly, the other process's socket reports nothing.
    EXPECT_TRUE(leak(t, 1, Enrichment{}, now).empty());

    Summary s = t.summary(now);
    EXPECT_EQ(s.open_close_waits, 1u);
    ASSERT_EQ(s.processes.size(), 1u);
    EXPECT_EQ(s.processes[0].process.pid, 200u);
    EXPECT_EQ(s.leaks_reported, 1u);

    EXPECT_TRUE(feed(t, left(1, theirs, now + kSec)).empty());
    EXPECT_EQ(feed(t, left(2, mine, now + kSec)).size(), 1u);
}

TEST(TrackerFilter, UnresolvedOwnerFilteredOutAtResolution)
{
    ListenerState listeners;
    Tracker t(config(false, 200), listeners);
    t.on_scan(kT0, {{1, unowned(kT0)}, {2, unowned(kT0, tuple4(9090))}});
    ASSERT_EQ(t.due_for_leak_report(kT0 + kThreshold), (std::vector<SockId>{1, 2}));
    Enrichment theirs, mine;
    theirs.owners = {proc(100, "other", 3)};
    mine.owners = {proc(200, "mine", 4)};
    EXPECT_TRUE(leak(t, 1, theirs, kT0 + kThreshold).empty());
    EXPECT_EQ(leak(t, 2, mine, kT0 + kThreshold).size(), 1u);
    // A socket with no fd at all belongs to nobody, so not to the filtered pid.
    t.on_scan(kT0 + kThreshold, {{1, unowned(kT0)}, {2, unowned(kT0, tuple4(9090))}, {3, unowned(kT0)}});
    EXPECT_TRUE(leak(t, 3, Enrichment{}, kT0 + kThreshold).empty());

    Summary s = t.summary(kT0 + kThreshold);
    ASSERT_EQ(s.processes.size(), 1u);
    EXPECT_EQ(s.processes[0].process.pid, 200u);
    EXPECT_EQ(s.open_close_waits, 1u);
}

TEST(TrackerFilter, QueuedSocketsCountOnlyForTheListenerOwner)
{
    ListenerState listeners;
    Tracker t(config(false, 200), listeners);
    listeners.update({listener(0x10, v4("0.0.0.0", 80), proc(200, "mine", 3)),
                      listener(0x20, v4("0.0.0.0", 81), proc(300, "theirs", 3))});

    Findings a = feed(t, entered(1, queued(kT0, tuple4(80))));
    Findings b = feed(t, entered(2, queued(kT0, tuple4(81))));
    Findings c = feed(t, entered(3, queued(kT0, tuple4(82)))); // no listener at all
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(sock(a[0]).listener->owner->pid, 200u);
    EXPECT_TRUE(b.empty());
    EXPECT_TRUE(c.empty());

    Summary s = t.summary(kT0 + kSec);
    EXPECT_EQ(s.open_close_waits, 1u);
    ASSERT_EQ(s.listeners.size(), 1u);
    EXPECT_EQ(s.listeners[0].listener.local.port, 80);
    EXPECT_EQ(s.listeners[0].queued_close_waits, 1u);
    EXPECT_EQ(t.due_for_leak_report(kT0 + kThreshold), std::vector<SockId>{1});
}

// ---- losses ------------------------------------------------------------------

TEST(TrackerLost, ReportsOnlyGrowthOfTheCumulativeCounter)
{
    ListenerState listeners;
    Tracker t(config(), listeners);
    Findings out;
    t.on_lost(0, kT0, out);
    EXPECT_TRUE(out.empty());

    t.on_lost(5, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(type_name(out[0]), std::string("lost"));
    EXPECT_EQ(std::get<LostFinding>(out[0]).count, 5u);
    EXPECT_EQ(ts_of(out[0]), kT0);

    out.clear();
    t.on_lost(5, kT0 + kSec, out);
    EXPECT_TRUE(out.empty());

    t.on_lost(8, kT0 + 2 * kSec, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(std::get<LostFinding>(out[0]).count, 3u);
    EXPECT_EQ(t.lost_total(), 8u);
    EXPECT_EQ(t.summary(kT0 + 3 * kSec).lost_events, 8u);
}

} // namespace
} // namespace cwt
