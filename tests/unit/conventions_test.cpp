// The conventions of issue #15: bcc-style time columns, one record per line,
// the socket filters' rules, and the log facility's lines.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>

#include "common/log.hpp"
#include "core/target_filter.hpp"
#include "endpoints.hpp"
#include "report/human.hpp"

namespace cwt
{
namespace
{

using cwt::test::v4;
using cwt::test::v6;

constexpr MonoNs kSec = kNsPerSec;
const WallClock kClock(0);

LeakFinding leak_at(MonoNs ts)
{
    LeakFinding f;
    f.ts_ns = ts;
    f.sock.owner = OwnerKind::Process;
    f.sock.processes = {ProcessRef{100, "server", 7}};
    f.sock.tuple = Tuple{v4("10.0.0.1", 8080), v4("192.0.2.7", 40000), AF_INET};
    f.sock.age_s = 32.0;
    return f;
}

// ---- -T / -t ---------------------------------------------------------------

TEST(Conventions, DefaultTimeColumnIsClockTime)
{
    HumanStyle s;
    EXPECT_EQ(human_header(s).rfind("TIME     EVENT", 0), 0u) << human_header(s);
    std::string line = human_line(leak_at(5 * kSec), kClock, s);
    EXPECT_EQ(line.substr(0, 9), kClock.hms(5 * kSec) + " ") << line;
}

TEST(Conventions, LowercaseTIsSecondsSinceStartAsBcc)
{
    HumanStyle s;
    s.clock_time = false;
    s.rel_time = true;
    s.started_ns = 2 * kSec;
    EXPECT_EQ(human_header(s).rfind("TIME(s)   EVENT", 0), 0u) << human_header(s);
    std::string line = human_line(leak_at(5 * kSec + 250 * kNsPerMs), kClock, s);
    EXPECT_EQ(line.rfind("3.250     LEAK", 0), 0u) << line;
    // Never negative (a record stamped before the start).
    EXPECT_EQ(human_line(leak_at(kSec), kClock, s).rfind("0.000 ", 0), 0u);
}

TEST(Conventions, BothTimeFlagsGiveBothColumns)
{
    HumanStyle s;
    s.rel_time = true;
    s.started_ns = 0;
    EXPECT_EQ(human_header(s).rfind("TIME     TIME(s)   EVENT", 0), 0u) << human_header(s);
    std::string line = human_line(leak_at(5 * kSec), kClock, s);
    EXPECT_EQ(line.substr(9, 10), "5.000     ") << line;
    EXPECT_LE(line.size(), kMaxLineWidth);
}

// ---- one record, one line ----------------------------------------------------

TEST(Conventions, EveryFieldAtItsLongestStaysOneLine)
{
    LeakFinding f = leak_at(5 * kSec);
    f.sock.processes = {ProcessRef{4294967295U, std::string(64, 'c'), 2147483647}};
    f.sock.tuple = Tuple{v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 65535),
                         v6("fd00:1234:5678:9abc:def0:1234:5678:9abc", 65534), AF_INET6};
    f.detail = std::string(300, 'd');
    for (bool wide : {false, true}) {
        for (bool rel : {false, true}) {
            HumanStyle s;
            s.wide = wide;
            s.rel_time = rel;
            std::string line = human_line(f, kClock, s);
            EXPECT_EQ(line.find('\n'), std::string::npos) << line;
            if (wide) {
                EXPECT_NE(line.find(std::string(64, 'c')), std::string::npos);
                EXPECT_NE(line.find(std::string(300, 'd')), std::string::npos);
            } else {
                EXPECT_LE(line.size(), kMaxLineWidth) << line;
                EXPECT_NE(line.find(std::string(14, 'c') + "+"), std::string::npos) << line;
            }
        }
    }
}

TEST(Conventions, FitMarksTheCut)
{
    EXPECT_EQ(fit("abcdef", 6), "abcdef");
    EXPECT_EQ(fit("abcdefg", 6), "abcde+");
    EXPECT_EQ(fit("abc", 0), "");
    EXPECT_EQ(fit_endpoint("10.0.0.1:80", 21), "10.0.0.1:80");
    EXPECT_EQ(fit_endpoint("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535", 21), "[2001:db8:aaa+]:65535");
    EXPECT_EQ(fit_endpoint("255.255.255.255:65535", 20), "255.255.255.2+:65535");
    EXPECT_EQ(fit_endpoint("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535", 21).size(), 21u);
}

// ---- -4/-6, -P/-L/-D ----------------------------------------------------------

TEST(Conventions, SocketFilterRules)
{
    SocketFilter none;
    EXPECT_FALSE(none.active());
    EXPECT_TRUE(none.wants(AF_INET, 1, 2));

    SocketFilter p;
    p.ports = {80, 81};
    EXPECT_TRUE(p.active());
    EXPECT_TRUE(p.wants(AF_INET, 80, 40000));
    EXPECT_TRUE(p.wants(AF_INET6, 40000, 81));
    EXPECT_FALSE(p.wants(AF_INET, 82, 40000));

    SocketFilter l;
    l.lports = {8080};
    EXPECT_TRUE(l.wants(AF_INET, 8080, 1));
    EXPECT_FALSE(l.wants(AF_INET, 1, 8080)) << "-L is the local port only";

    SocketFilter d;
    d.rports = {5432};
    EXPECT_TRUE(d.wants(AF_INET, 40000, 5432));
    EXPECT_FALSE(d.wants(AF_INET, 5432, 40000)) << "-D is the remote port only";
    EXPECT_FALSE(d.wants(AF_INET, 5432, 0)) << "a listener has no remote port";

    SocketFilter both;
    both.lports = {8080};
    both.rports = {5432};
    EXPECT_TRUE(both.wants(AF_INET, 8080, 5432));
    EXPECT_FALSE(both.wants(AF_INET, 8080, 5433)) << "every list given must match";

    SocketFilter v6only;
    v6only.family = AF_INET6;
    EXPECT_TRUE(v6only.wants(Tuple{v6("::1", 80), v6("::1", 1), AF_INET6}));
    EXPECT_FALSE(v6only.wants(Tuple{v4("127.0.0.1", 80), v4("127.0.0.1", 1), AF_INET}));
}

// ---- the log facility -------------------------------------------------------------

TEST(Conventions, LogLinesHaveLevelsAndJournalPriorities)
{
    EXPECT_EQ(log_line(LogLevel::Error, "no such pid; check it", false),
              "closewait-trace: error: no such pid; check it\n");
    EXPECT_EQ(log_line(LogLevel::Warning, "w", true), "<4>closewait-trace: warning: w\n");
    EXPECT_EQ(log_line(LogLevel::Info, "i", true), "<6>closewait-trace: i\n");
    EXPECT_EQ(log_line(LogLevel::Debug, "d", true), "<7>closewait-trace: debug: d\n");
    EXPECT_EQ(log_line(LogLevel::Error, "two\nlines\n", true), "<3>closewait-trace: error: two lines\n")
        << "one message, one line";
}

TEST(Conventions, LogLevelFiltersAndDebugRaisesIt)
{
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    ASSERT_NE(f, nullptr);
    set_log_sink(f, true);
    set_log_level(LogLevel::Info);
    log_debug("hidden");
    log_info("shown");
    set_log_level(LogLevel::Debug);
    log_debug("now shown");
    set_log_level(LogLevel::Info);
    std::fflush(f);
    std::string out(buf, len);
    set_log_sink(nullptr, false);
    std::fclose(f);
    std::free(buf);
    EXPECT_EQ(out, "<6>closewait-trace: shown\n<7>closewait-trace: debug: now shown\n");
}

} // namespace
} // namespace cwt
