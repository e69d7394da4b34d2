// Leak sites, --record + the HTML report, and --top, against real servers.
//  - A C server built with -g leaks in one function and closes in another: the
//    reports name the leaking function and its line; the healthy one never.
//  - The report of a recording renders in headless Chromium; its DOM holds the
//    recorded series; the screenshot is kept as a test artifact.
//  - --top runs in tmux at 80x24 against the leaking server; keys sort and quit.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "harness.hpp"

namespace itest
{
namespace
{

// Line of the source marked with `marker` (the test server's own source).
int marked_line(const std::string& marker)
{
    std::ifstream f(std::string(CWT_SOURCE_DIR) + "/tests/integration/servers/leak_site_server.c");
    std::string l;
    for (int n = 1; std::getline(f, l); ++n)
        if (l.find(marker) != std::string::npos)
            return n;
    return -1;
}

// Connects, sends `first` a few times, closes after `pause_us`: the server
// reads EOF later. No pause for thousands of connections.
void client(int port, char first, useconds_t pause_us = 20000)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string msg(8, first);
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    if (pause_us)
        usleep(pause_us);
    close(fd);
}

std::string run_cmd(const std::string& cmd, int* rc = nullptr)
{
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;)
        out.append(buf, n);
    int st = pclose(p);
    if (rc)
        *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

bool have(const char* prog)
{
    return run_cmd(std::string("command -v ") + prog + " 2>/dev/null").size() > 0;
}

class LeakSite : public ::testing::Test
{
  protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "SKIPPED: needs root to load BPF programs";
        srv_ = std::make_unique<Proc>(
            std::vector<std::string>{scenario("cwt_leaksite_srv"), "--lifetime", "60"});
        auto l = srv_->wait_line("port ", 10);
        ASSERT_TRUE(l) << srv_->all_output();
        port_ = std::stoi(l->substr(5));
        ASSERT_TRUE(srv_->wait_line("ready", 10));
    }
    // Leaky, healthy and never-read connections, interleaved.
    void traffic(int leaky, int healthy, int unread)
    {
        for (int i = 0; i < std::max({leaky, healthy, unread}); ++i) {
            if (i < leaky)
                client(port_, 'L');
            if (i < healthy)
                client(port_, 'H');
            if (i < unread)
                client(port_, 'A');
        }
    }
    std::unique_ptr<Proc> srv_;
    int port_ = 0;
};

TEST_F(LeakSite, NamesTheFunctionAndLineThatReadEofAndNeverTheHealthyPath)
{
    const int kLeaky = 6, kHealthy = 6, kUnread = 2;
    Tool tool({"--json", "--leak-site", "--threshold", "1", "--pid", std::to_string(srv_->pid())});
    ASSERT_TRUE(tool.wait_start(60).is_object()) << tool.proc().all_output();
    traffic(kLeaky, kHealthy, kUnread);
    ASSERT_TRUE(tool.wait_count("close_wait_leak", kLeaky + kUnread, 20)) << tool.proc().all_output();
    const int read_line = marked_line("LEAK_SITE_LINE"), accept_line = marked_line("ACCEPT_LINE");
    int read_eof = 0, accepts = 0;
    for (const auto& f : tool.events_of("close_wait_leak")) {
        ASSERT_TRUE(f.contains("leak_site") && f["leak_site"].is_object()) << f.dump();
        const json& s = f["leak_site"];
        EXPECT_GT(s.value("tid", 0), 0) << f.dump();
        EXPECT_NE(s.value("module", ""), "") << f.dump();
        EXPECT_NE(s.value("build_id", ""), "") << f.dump();
        if (s.value("kind", "") == "read_eof") {
            ++read_eof;
            EXPECT_EQ(s.value("function", ""), "handle_leaky") << f.dump();
            EXPECT_EQ(s.value("line", 0), read_line) << f.dump();
            EXPECT_NE(s.value("file", "").find("leak_site_server.c"), std::string::npos) << f.dump();
            EXPECT_EQ(s.value("call", ""), "read") << f.dump();
        } else {
            ++accepts;
            EXPECT_EQ(s.value("kind", ""), "accept") << f.dump();
            EXPECT_EQ(s.value("function", ""), "main") << f.dump();
            EXPECT_EQ(s.value("line", 0), accept_line) << f.dump();
        }
    }
    EXPECT_EQ(read_eof, kLeaky);
    EXPECT_EQ(accepts, kUnread);
    EXPECT_EQ(tool.proc().all_output().find("handle_healthy"), std::string::npos) << tool.proc().all_output();
    ASSERT_EQ(tool.interrupt(20), 0);
    auto sum = tool.summary();
    ASSERT_TRUE(sum) << tool.proc().all_output();
    ASSERT_TRUE(sum->contains("sites")) << sum->dump();
    const json& sites = (*sum)["sites"];
    ASSERT_EQ(sites.size(), 2u) << sites.dump();
    EXPECT_EQ(sites[0].value("leaks", 0), kLeaky) << sites.dump();
    EXPECT_EQ(sites[0].value("of", 0), kLeaky + kUnread) << sites.dump();
    EXPECT_EQ(sites[0].value("label", ""),
              "after read()=0 in handle_leaky (leak_site_server.c:" + std::to_string(read_line) + ")")
        << sites.dump();
}

TEST_F(LeakSite, HumanSummaryGroupsLeaksBySite)
{
    Tool tool({"--leak-site", "--threshold", "1", "--pid", std::to_string(srv_->pid()), "--duration", "6"});
    usleep(2500000); // the human mode prints no start line: give it time to attach
    traffic(5, 3, 0);
    ASSERT_TRUE(tool.proc().wait_exit(30));
    std::string out = tool.proc().all_output();
    std::regex re("5 of 5 after read\\(\\)=0 in handle_leaky \\(leak_site_server\\.c:" +
                  std::to_string(marked_line("LEAK_SITE_LINE")) + "\\)");
    EXPECT_TRUE(std::regex_search(out, re)) << out;
    EXPECT_EQ(out.find("handle_healthy"), std::string::npos) << out;
}

// Issue #12's done-when: 2500 leaks of one process, human mode, threshold 2 s:
// at most a screenful in 12 s, and one line names the total.
TEST_F(LeakSite, TwentyFiveHundredLeaksFoldIntoAScreenful)
{
    const int kLeaks = 2500;
    // With -p, as in an incident: it once lost 50 to 300 of the 2500 (a FIN
    // between sock_graft() and the accept's return, skipped by the in-kernel
    // -p decision); the accept path now picks those up.
    Tool tool({"--leak-site", "--threshold", "2", "--duration", "12", "--pid", std::to_string(srv_->pid())});
    usleep(2500000); // the human mode prints no start line: give it time to attach
    // In batches that the listener's accept queue holds: an overflow drops the
    // handshake's last ACK, and the retransmissions (1 s, 2 s, 4 s...) would
    // bring the last sockets into CLOSE_WAIT after the 12 s.
    const std::string queue = "ss -Hltn 'sport = :" + std::to_string(port_) + "' | awk '{print $2}'";
    for (int i = 0; i < kLeaks; ++i) {
        client(port_, 'L', 0);
        if (i % 250 == 249)
            poll_until([&] { return std::atoi(run_cmd(queue).c_str()) == 0; }, 2);
    }
    ASSERT_TRUE(tool.proc().wait_exit(40)) << tool.proc().all_output();
    const auto& lines = tool.proc().lines();
    std::string out;
    for (const auto& l : lines)
        out += l.text + "\n";
    EXPECT_LE(lines.size(), 24u) << out;
    std::regex total("LEAKS .* [0-9]+ new, " + std::to_string(kLeaks) + " open, ");
    bool named = false;
    for (const auto& l : lines)
        named |= std::regex_search(l.text, total);
    EXPECT_TRUE(named) << out;
    EXPECT_NE(out.find(std::to_string(kLeaks) + " of " + std::to_string(kLeaks) +
                       " after read()=0 in handle_leaky"),
              std::string::npos)
        << out;
    std::printf("%s", out.c_str()); // the README's sample
}

TEST_F(LeakSite, RecordRendersInHeadlessChromium)
{
    if (!have("chromium"))
        GTEST_SKIP() << "SKIPPED: chromium is not installed (scripts/deps.sh --with-tests)";
    std::string dir = std::string(CWT_ARTIFACT_DIR);
    mkdir(dir.c_str(), 0755);
    std::string rec = dir + "/leaksite.record.jsonl", html = dir + "/report.html", png = dir + "/report.png";
    std::remove(png.c_str());
    Tool tool(
        {"--json", "--leak-site", "--threshold", "1", "--pid", std::to_string(srv_->pid()), "--record", rec});
    ASSERT_TRUE(tool.wait_start(60).is_object()) << tool.proc().all_output();
    const int kLeaky = 7;
    traffic(kLeaky, 4, 0);
    ASSERT_TRUE(tool.wait_count("close_wait_leak", kLeaky, 20)) << tool.proc().all_output();
    usleep(2500000); // a few samples with the final counts
    ASSERT_EQ(tool.interrupt(20), 0);

    int rc = -1;
    std::string out = run_cmd(std::string(CWT_BINARY) + " report " + rec + " -o " + html + " 2>&1", &rc);
    ASSERT_EQ(rc, 0) << out;
    std::string prof = dir + "/chromium-profile";
    run_cmd("rm -rf " + prof);
    std::string flags = "--headless --no-sandbox --disable-gpu --disable-background-networking "
                        "--disable-component-update --disable-sync --no-first-run --user-data-dir=" +
                        prof;
    std::string dom =
        run_cmd("timeout 60 chromium " + flags + " --dump-dom file://" + html + " 2>/dev/null", &rc);
    ASSERT_EQ(rc, 0);
    run_cmd("timeout 60 chromium " + flags + " --window-size=1000,1600 --screenshot=" + png + " file://" +
            html + " >/dev/null 2>&1");
    struct stat st {
    };
    EXPECT_EQ(stat(png.c_str(), &st), 0) << "no screenshot at " << png;
    EXPECT_GT(st.st_size, 10000) << png;

    // The plotted CLOSE_WAIT series of the server ends at the leak count.
    std::regex proc_re("data-chart=\"close_wait_process\" data-name=\"pid " + std::to_string(srv_->pid()) +
                       " \\(cwt_leaksite_sr\\)\" data-values=\"([0-9 .]+)\"");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dom, m, proc_re)) << dom.substr(0, 4000);
    std::istringstream vals(m[1].str());
    double v = 0, last = -1, peak = 0;
    while (vals >> v) {
        last = v;
        peak = std::max(peak, v);
    }
    EXPECT_EQ(last, kLeaky) << m[1].str();
    EXPECT_EQ(peak, kLeaky) << m[1].str();
    std::regex site_re("data-chart=\"leak_sites\" data-name=\"after read\\(\\)=0 in handle_leaky[^\"]*\" "
                       "data-values=\"[0-9 .]* " +
                       std::to_string(kLeaky) + "\"");
    EXPECT_TRUE(std::regex_search(dom, site_re)) << dom.substr(0, 4000);
    EXPECT_TRUE(std::regex_search(
        dom, std::regex("data-chart=\"accept_queue\" data-name=\"127\\.0\\.0\\.1:" + std::to_string(port_))))
        << dom.substr(0, 4000);
    EXPECT_NE(dom.find("data-chart=\"emfile\""), std::string::npos);
    EXPECT_NE(dom.find("<tr class=\"offender\" data-pid=\"" + std::to_string(srv_->pid()) + "\""),
              std::string::npos);
    EXPECT_NE(dom.find(std::to_string(kLeaky) + " of " + std::to_string(kLeaky) +
                       " after read()=0 in handle_leaky"),
              std::string::npos);
}

// The server and its clients live in an `ip netns` namespace, the tool in the
// host's: the site is still reported, alone, with -p, with --netns, and both.
TEST(LeakSiteNetns, SiteReportedInAnotherNamespaceWithPidAndNetnsFilters)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "SKIPPED: needs root (BPF, namespaces)";
    if (!have("ip"))
        GTEST_SKIP() << "SKIPPED: needs ip (iproute2)";
    const std::string ns = "cwt-ls" + std::to_string(getpid());
    struct Cleanup {
        std::string ns;
        ~Cleanup() { (void)!std::system(("ip netns del " + ns + " 2>/dev/null").c_str()); }
    } cleanup{ns};
    ASSERT_EQ(std::system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up").c_str()), 0);
    const int read_line = marked_line("LEAK_SITE_LINE");
    std::string ip = "ip";
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (access(p, X_OK) == 0) {
            ip = p;
            break;
        }
    for (const auto& filter :
         std::vector<std::vector<std::string>>{{},
                                               {"--pid", "@PID@"},
                                               {"--netns", "/run/netns/" + ns},
                                               {"--netns", "/run/netns/" + ns, "-p", "@PID@"}}) {
        // `ip netns exec` execs the server: its pid is the server's.
        Proc srv({ip, "netns", "exec", ns, scenario("cwt_leaksite_srv"), "--lifetime", "30"});
        auto l = srv.wait_line("port ", 10);
        ASSERT_TRUE(l) << srv.all_output();
        const std::string port = l->substr(5);
        std::vector<std::string> args{"--json", "--leak-site", "--threshold", "1"};
        for (const auto& a : filter)
            args.push_back(a == "@PID@" ? std::to_string(srv.pid()) : a);
        std::string what = "with";
        for (const auto& a : filter.empty() ? std::vector<std::string>{"no filter"} : filter)
            what += " " + a;
        Tool tool(args);
        ASSERT_TRUE(tool.wait_start(60).is_object()) << what << ": " << tool.proc().all_output();
        for (char c : {'L', 'H', 'L', 'H'})
            ASSERT_EQ(std::system(("ip netns exec " + ns + " bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + port +
                                   "; printf " + std::string(8, c) + " >&3; sleep 0.05; exec 3>&-'")
                                      .c_str()),
                      0);
        auto ours = [&] {
            std::vector<json> v;
            for (const auto& f : tool.events_of("close_wait_leak"))
                if (f.value("pid", 0) == srv.pid())
                    v.push_back(f);
            return v;
        };
        ASSERT_TRUE(tool.proc().wait_until([&] { return ours().size() >= 2; }, 20))
            << what << ": " << tool.proc().all_output() << "\nserver " << srv.pid() << ": "
            << srv.all_output() << "\nss in " << ns << ":\n"
            << run_cmd("ip netns exec " + ns + " ss -tanpe");
        int sites = 0;
        for (const auto& f : ours()) {
            ASSERT_TRUE(f.contains("leak_site") && f["leak_site"].is_object()) << what << ": " << f.dump();
            EXPECT_EQ(f["leak_site"].value("function", ""), "handle_leaky") << what << ": " << f.dump();
            EXPECT_EQ(f["leak_site"].value("line", 0), read_line) << what << ": " << f.dump();
            ++sites;
        }
        EXPECT_EQ(sites, 2) << what << ": " << tool.proc().all_output();
        EXPECT_EQ(tool.proc().all_output().find("handle_healthy"), std::string::npos) << what;
        ASSERT_EQ(tool.interrupt(20), 0) << what;
    }
}

TEST(Top, FailsWithOneLineWhenStdoutIsNotATerminal)
{
    int rc = -1;
    std::string out = run_cmd(std::string(CWT_BINARY) + " --top 2>&1 >/dev/null </dev/null", &rc);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("terminal"), std::string::npos) << out;
}

TEST_F(LeakSite, TopInTmuxRanksTheLeakerAndQuitsOnQ)
{
    if (!have("tmux"))
        GTEST_SKIP() << "SKIPPED: tmux is not installed (scripts/deps.sh --with-tests)";
    std::string sess = "cwt-top-" + std::to_string(getpid());
    std::string sock = "-L " + sess; // a private tmux server
    run_cmd("tmux " + sock + " kill-server 2>/dev/null");
    int rc = -1;
    run_cmd("tmux " + sock + " new-session -d -s " + sess + " -x 80 -y 24 'TERM=xterm " + CWT_BINARY +
                " --top --leak-site --threshold 1 --pid " + std::to_string(srv_->pid()) + "; sleep 30'",
            &rc);
    ASSERT_EQ(rc, 0);
    struct Kill {
        std::string s;
        ~Kill() { std::system(("tmux " + s + " kill-server 2>/dev/null").c_str()); }
    } kill{sock};
    usleep(3000000);
    traffic(4, 2, 0);
    std::string screen;
    auto capture = [&] { return run_cmd("tmux " + sock + " capture-pane -p -t " + sess); };
    bool ok = poll_until(
        [&] {
            screen = capture();
            return screen.find("handle_leaky") != std::string::npos &&
                   screen.find(std::to_string(srv_->pid())) != std::string::npos;
        },
        20);
    ASSERT_TRUE(ok) << screen;
    std::istringstream lines(screen);
    std::string l;
    int n = 0;
    while (std::getline(lines, l)) {
        ++n;
        EXPECT_LE(l.size(), 80u) << l;
    }
    EXPECT_LE(n, 24);
    EXPECT_NE(screen.find("sort: open"), std::string::npos) << screen;
    run_cmd("tmux " + sock + " send-keys -t " + sess + " g");
    EXPECT_TRUE(poll_until([&] { return capture().find("sort: growth/min") != std::string::npos; }, 5))
        << capture();
    run_cmd("tmux " + sock + " send-keys -t " + sess + " q");
    // The tool quits; the pane then runs the trailing sleep (no tool screen).
    EXPECT_TRUE(poll_until([&] { return capture().find("closewait-trace --top") == std::string::npos; }, 10))
        << capture();
}

} // namespace
} // namespace itest
