// Leak sites (frame choice, labels, grouping keys), the record's series, the
// HTML report and the --top screen: pure, no terminal, no BPF.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "core/leak_site.hpp"
#include "core/series.hpp"
#include "core/site_tally.hpp"
#include "report/fold.hpp"
#include "report/human.hpp"
#include "report/html.hpp"
#include "report/record.hpp"
#include "report/top.hpp"

namespace cwt
{
namespace
{

constexpr MonoNs kSec = 1000000000ULL;
const WallClock kClock(0);

StackFrame frame(const char* module, const char* fn, const char* file = "", int line = 0)
{
    StackFrame f;
    f.pc = 0x1000;
    f.module = module;
    f.function = fn;
    f.file = file;
    f.line = line;
    f.offset = 0x1f;
    return f;
}

TEST(LeakSite, PicksTheCallerOfTheLibcWrapper)
{
    LeakSite s;
    s.call = "read";
    s.frames = {frame("/usr/lib/x86_64-linux-gnu/libc.so.6", "read", "read.c", 26),
                frame("/srv/bin/server", "handle_client", "/src/server.c", 212),
                frame("/srv/bin/server", "main", "/src/server.c", 300)};
    fill_site_from_frames(s);
    EXPECT_EQ(s.function, "handle_client");
    EXPECT_EQ(s.line, 212);
    EXPECT_EQ(s.label(), "after read()=0 in handle_client (server.c:212)");
}

TEST(LeakSite, WithoutDebugInfoNamesSymbolOffsetAndModule)
{
    LeakSite s;
    s.kind = SiteKind::Accept;
    s.call = "accept4";
    s.frames = {frame("/lib/x86_64-linux-gnu/libc.so.6", "accept4"),
                frame("/usr/sbin/nginx", "ngx_event_accept")};
    fill_site_from_frames(s);
    EXPECT_EQ(s.label(), "accepted by accept4() in ngx_event_accept+0x1f (nginx)");
}

TEST(LeakSite, SameLineGroupsDifferentLinesSplit)
{
    LeakSite a, b, c;
    for (auto* s : {&a, &b, &c}) {
        s->call = "read";
        s->frames = {frame("/lib/libc.so.6", "read"), frame("/bin/srv", "handle", "srv.c", 10)};
    }
    c.frames[1].line = 11;
    b.frames[1].offset = 0x40; // another pc on the same line
    for (auto* s : {&a, &b, &c})
        fill_site_from_frames(*s);
    EXPECT_EQ(a.key(), b.key());
    EXPECT_NE(a.key(), c.key());
}

TEST(LeakSite, InterpretersAreNamedAndHostileSymbolsEscaped)
{
    EXPECT_EQ(interpreter_of("/usr/bin/python3.11"), "python3.11");
    EXPECT_EQ(interpreter_of("/usr/bin/node"), "node");
    EXPECT_EQ(interpreter_of("/usr/sbin/nginx"), "");
    LeakSite s;
    s.call = "recvfrom";
    s.interpreter = "python3.11";
    s.frames = {frame("/usr/bin/python3.11", "\x1b[31mevil")};
    fill_site_from_frames(s);
    std::string l = s.label();
    EXPECT_EQ(l.find('\x1b'), std::string::npos);
    EXPECT_NE(l.find("interpreter stack (python3.11)"), std::string::npos);
}

SeriesSample sample(int i, std::size_t open, std::uint64_t emfile)
{
    SeriesSample s;
    s.ts_ns = static_cast<MonoNs>(1000 + i) * kSec;
    SeriesSample::Process p;
    p.pid = 4448;
    p.comm = "srv<b>";
    p.close_waits = open;
    p.emfile_total = emfile;
    p.site = "after read()=0 in handle_client (server.c:212)";
    p.site_leaks = open;
    p.leaks = open;
    s.processes.push_back(p);
    s.listeners.push_back({"127.0.0.1:8080", 4448, "srv", static_cast<std::uint32_t>(i), 128});
    s.emfile_total = emfile;
    s.sites.push_back({p.site, open});
    return s;
}

TEST(HtmlReport, PlotsTheRecordedValuesAndEscapesNames)
{
    std::stringstream rec;
    for (int i = 0; i < 5; ++i)
        rec << sample_json(sample(i, static_cast<std::size_t>(i * 10), static_cast<std::uint64_t>(i * 3)),
                           kClock)
                   .dump()
            << "\n";
    rec << R"j({"type":"close_wait_leak","pid":4448,"leak_site":{"label":"after read()=0 in handle_client (server.c:212)"}})j"
        << "\n";
    std::string html = render_html_report(rec, "rec.jsonl");
    EXPECT_NE(html.find("data-name=\"pid 4448 (srv&lt;b&gt;)\" data-values=\"0 10 20 30 40\""),
              std::string::npos);
    EXPECT_NE(html.find("data-values=\"0 1 2 3 4\""), std::string::npos); // queue
    EXPECT_NE(html.find("data-values=\"0 3 3 3 3\""), std::string::npos); // EMFILE/s
    EXPECT_NE(html.find("1 of 1 after read()=0 in handle_client"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg")); // no other URL
}

TEST(HtmlReport, RejectsWhatIsNotARecord)
{
    std::stringstream bad("hello\n");
    EXPECT_THROW(render_html_report(bad, "x"), UserError);
}

TEST(Top, FitsEightyByTwentyFour)
{
    TopModel m;
    for (int i = 0; i < 61; ++i)
        m.add(sample(i, static_cast<std::size_t>(i * 2), static_cast<std::uint64_t>(i * 5)));
    auto lines = m.render(80, 24, TopSort::Open, kClock);
    ASSERT_EQ(lines.size(), 24u);
    for (const auto& l : lines)
        EXPECT_LE(l.size(), 80u) << l;
    std::string all;
    for (const auto& l : lines)
        all += l + "\n";
    EXPECT_NE(all.find("4448"), std::string::npos);
    EXPECT_TRUE(std::regex_search(all, std::regex("4448 .* 120 +120 "))) << all; // 2 per second = 120/min
    EXPECT_NE(all.find("after read()=0 in handle_cl"), std::string::npos) << all;
    EXPECT_NE(all.find("q quit"), std::string::npos);
}

// A leak of pid 4448 on 127.0.0.1:8080, `age` s in CLOSE_WAIT at `ts`.
LeakFinding leak(SockId sk, MonoNs ts, double age, std::shared_ptr<const LeakSite> site = nullptr)
{
    LeakFinding f;
    f.ts_ns = ts;
    f.sock.sk = sk;
    f.sock.owner = OwnerKind::Process;
    f.sock.processes = {ProcessRef{4448, "server", static_cast<std::int32_t>(sk)}};
    ListenerView l;
    l.local.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    l.local.port = 8080;
    f.sock.listener = l;
    f.sock.tuple.local = l.local;
    f.sock.age_s = age;
    f.site = std::move(site);
    return f;
}

std::shared_ptr<const LeakSite> handle_client_site()
{
    LeakSite s;
    s.call = "read";
    s.frames = {frame("/lib/libc.so.6", "read"), frame("/srv/server", "handle_client", "/src/server.c", 212)};
    fill_site_from_frames(s);
    return std::make_shared<const LeakSite>(s);
}

TEST(Fold, FewLeaksStayOneLinePerSocket)
{
    LeakFolder fold(10);
    for (SockId sk = 1; sk <= 10; ++sk)
        fold.leak(leak(sk, 100 * kSec, 2.0));
    EXPECT_TRUE(fold.due(100 * kSec + kSec / 2, kClock).empty()); // held for one interval
    auto lines = fold.due(101 * kSec, kClock);
    ASSERT_EQ(lines.size(), 10u);
    for (const auto& l : lines)
        EXPECT_NE(l.find("LEAK "), std::string::npos) << l;
}

TEST(Fold, ManyLeaksFoldIntoOneLinePerIntervalThatNamesTheTotal)
{
    LeakFolder fold(10);
    auto site = handle_client_site();
    std::vector<std::string> all;
    SockId sk = 1;
    // 2500 leaks over 12 s: about 208 per second, most of them at one site.
    for (int sec = 0; sec < 12; ++sec) {
        for (int i = 0; i < 208 + (sec < 4 ? 1 : 0); ++i, ++sk)
            fold.leak(leak(sk, static_cast<MonoNs>(100 + sec) * kSec, 2.0 + sec, site));
        auto lines = fold.due(static_cast<MonoNs>(101 + sec) * kSec, kClock);
        all.insert(all.end(), lines.begin(), lines.end());
    }
    EXPECT_EQ(sk - 1, 2500u);
    // One LEAKS record per interval, a SITE record of its own when the site
    // changes; every record one line (no continuation lines).
    std::size_t leaks_lines = 0, site_lines = 0;
    for (const auto& l : all) {
        EXPECT_EQ(l.find('\n'), std::string::npos) << l;
        EXPECT_LE(l.size(), kMaxLineWidth) << l;
        leaks_lines += l.find(" LEAKS ") != std::string::npos;
        site_lines += l.find(" SITE ") != std::string::npos;
    }
    EXPECT_EQ(leaks_lines, 12u);
    EXPECT_EQ(leaks_lines + site_lines, all.size());
    EXPECT_LE(all.size(), 24u); // the site is printed when it changes
    EXPECT_NE(all.back().find("208 new, 2500 open"), std::string::npos) << all.back();
    EXPECT_TRUE(std::regex_search(all.back(), std::regex("\\+12[45][0-9][0-9]/min"))) << all.back(); // ~208/s
    ASSERT_GE(all.size(), 2u);
    EXPECT_NE(all[1].find(" SITE "), std::string::npos) << all[1];
    EXPECT_NE(all[1].find(" of 209 after read()=0 in handle_client (server.c:212)"), std::string::npos)
        << all[1];
    EXPECT_NE(all.back().find("127.0.0.1:8080"), std::string::npos);
    EXPECT_NE(all.back().find("4448"), std::string::npos);
    auto totals = fold.totals(112 * kSec);
    ASSERT_EQ(totals.size(), 1u);
    EXPECT_NE(totals[0].find("2500 reported, 2500 still open"), std::string::npos) << totals[0];
}

TEST(Fold, ClosedLeaksLeaveTheOpenCount)
{
    LeakFolder fold(2);
    for (SockId sk = 1; sk <= 5; ++sk)
        fold.leak(leak(sk, 100 * kSec, 2.0));
    ClosedFinding c;
    c.sock.sk = 3;
    c.was_leak = true;
    fold.closed(c);
    auto lines = fold.due(101 * kSec, kClock);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("5 new, 4 open"), std::string::npos) << lines[0];
}

TEST(SiteTally, GroupsByCodeLocationMostFirst)
{
    SiteTally t;
    auto site = handle_client_site();
    for (SockId sk = 1; sk <= 8789; ++sk)
        t.on_finding(Finding(leak(sk, kSec, 1, sk <= 8700 ? site : nullptr)));
    auto s = t.sites();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(site_sentence(s[0]), "8700 of 8789 after read()=0 in handle_client (server.c:212)");
}

} // namespace
} // namespace cwt
