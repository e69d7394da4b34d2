// Leak sites (frame choice, labels, grouping keys), the record's series, the
// HTML report and the --top screen: pure, no terminal, no BPF.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/leak_site.hpp"
#include "core/series.hpp"
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
    s.frames = {frame("/lib/x86_64-linux-gnu/libc.so.6", "accept4"), frame("/usr/sbin/nginx", "ngx_event_accept")};
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

TEST(Series, ContainerIdFromCgroup)
{
    EXPECT_EQ(container_of_cgroup("0::/init.scope\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/system.slice/docker-"
                                  "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2.scope\n"),
              "4f3c2b1a09e8");
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
        rec << sample_json(sample(i, static_cast<std::size_t>(i * 10), static_cast<std::uint64_t>(i * 3)), kClock)
                   .dump()
            << "\n";
    rec << R"({"type":"close_wait_leak","pid":4448,"leak_site":{"label":"after read()=0 in handle_client (server.c:212)"}})"
        << "\n";
    std::string html = render_html_report(rec, "rec.jsonl");
    EXPECT_NE(html.find("data-name=\"pid 4448 (srv&lt;b&gt;)\" data-values=\"0 10 20 30 40\""), std::string::npos);
    EXPECT_NE(html.find("data-values=\"0 1 2 3 4\""), std::string::npos);    // queue
    EXPECT_NE(html.find("data-values=\"0 3 3 3 3\""), std::string::npos);    // EMFILE/s
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
    EXPECT_NE(all.find("120.0"), std::string::npos) << all; // 2 per second = 120/min
    EXPECT_NE(all.find("after read()=0 in handle_cl"), std::string::npos) << all;
    EXPECT_NE(all.find("q quit"), std::string::npos);
}

} // namespace
} // namespace cwt
