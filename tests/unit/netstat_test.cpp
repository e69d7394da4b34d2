// parse_listen_overflows() on real and broken /proc/net/netstat text.
#include <gtest/gtest.h>

#include <string>

#include "core/netstat.hpp"
#include "core/overflow_poll.hpp"

namespace cwt
{
namespace
{

TEST(Netstat, ListenOverflowsFromTcpExt)
{
    std::string text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\n"
                       "TcpExt: 0 0 42 43\n"
                       "IpExt: InNoRoutes ListenOverflows\n"
                       "IpExt: 1 999\n";
    EXPECT_EQ(parse_listen_overflows(text), 42u);
}

TEST(Netstat, AfterAnotherSection)
{
    EXPECT_EQ(parse_listen_overflows("IpExt: A B\nIpExt: 1 2\nTcpExt: ListenOverflows\nTcpExt: 7\n"), 7u);
}

TEST(Netstat, MissingOrMalformed)
{
    EXPECT_FALSE(parse_listen_overflows(""));
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\n"));            // truncated
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\nTcpExt: x\n")); // not a number
    EXPECT_FALSE(parse_listen_overflows("TcpExt: A B\nTcpExt: 1 2\n"));           // absent
    EXPECT_FALSE(parse_listen_overflows("TcpExt: ListenOverflows\nTcpExt: 123456789012345678901\n"));
    EXPECT_FALSE(parse_listen_overflows(std::string(10000, '\n')));
}

TEST(Sockstat, TcpInuse)
{
    EXPECT_EQ(parse_tcp_inuse(
                  "sockets: used 12\nTCP: inuse 301 orphan 0 tw 0 alloc 1 mem 284\nUDP: inuse 0 mem 0\n"),
              301u);
    EXPECT_FALSE(parse_tcp_inuse("sockets: used 12\nUDP: inuse 0 mem 0\n"));
    EXPECT_FALSE(parse_tcp_inuse("TCP: inuse x\n"));
    EXPECT_FALSE(parse_tcp_inuse("TCP: inuse "));
    EXPECT_FALSE(parse_tcp_inuse(""));
}

} // namespace
TEST(Sockstat, Tcp6InUseIsCountedApart)
{
    const char* v6 = "TCP6: inuse 7\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
    EXPECT_EQ(parse_tcp6_inuse(v6), std::optional<std::uint64_t>(7));
    EXPECT_FALSE(parse_tcp_inuse(v6)) << "TCP6 is not TCP";
    EXPECT_FALSE(parse_tcp6_inuse("TCP: inuse 3 orphan 0 tw 0 alloc 1 mem 1\n"));
}

} // namespace cwt

namespace
{

cwt::ListenerInfo listener_in(std::uint32_t netns, std::uint32_t queue)
{
    cwt::ListenerInfo l;
    l.netns = netns;
    l.queue = queue;
    l.backlog = 128;
    return l;
}

} // namespace

// Every namespace each all_period; in between only those with a queue or a
// counter that moved; the view handed to the accept watch stays complete.
TEST(OverflowPoll, ReadsHotNamespacesOftenAndEveryNamespaceEachPeriod)
{
    using cwt::kNsPerSec;
    cwt::OverflowPoll p(kNsPerSec, 5 * kNsPerSec);
    EXPECT_TRUE(p.all_due(0));
    auto v = p.merge(0, {{1, 10}, {2, 20}, {3, 30}}, true);
    EXPECT_EQ(v.size(), 3U);
    EXPECT_FALSE(p.all_due(kNsPerSec / 2));
    EXPECT_TRUE(p.hot(kNsPerSec / 2).empty()); // all queues empty, nothing moved
    EXPECT_TRUE(p.all_due(kNsPerSec));

    p.on_listeners({listener_in(2, 3), listener_in(3, 0)});
    EXPECT_EQ(p.hot(kNsPerSec / 2), std::vector<std::uint32_t>{2});
    v = p.merge(kNsPerSec / 2, {{2, 25}}, false);
    EXPECT_EQ(v, (cwt::NetnsCounters{{1, 10}, {2, 25}, {3, 30}}));

    // The queue drained; the moved counter keeps namespace 2 hot for 5 s.
    p.on_listeners({listener_in(2, 0)});
    EXPECT_EQ(p.hot(kNsPerSec), std::vector<std::uint32_t>{2});
    EXPECT_TRUE(p.hot(6 * kNsPerSec).empty());

    // A full read drops namespaces that are gone, and moves are seen there too.
    v = p.merge(kNsPerSec, {{1, 11}, {2, 25}}, true);
    EXPECT_EQ(v, (cwt::NetnsCounters{{1, 11}, {2, 25}}));
    EXPECT_EQ(p.hot(kNsPerSec + 1), (std::vector<std::uint32_t>{1, 2}));
    EXPECT_FALSE(p.all_due(kNsPerSec + 1));
    EXPECT_TRUE(p.all_due(2 * kNsPerSec));
}
