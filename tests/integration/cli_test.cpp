// Command line: --duration ends a run with a summary; bad input exits 2 with
// one line on stderr and leaves no BPF object behind.
//
// Runs the real tool against real loopback traffic and compares with ss;
// needs root (BPF), else every test is skipped. Shared fixture: fixture.hpp.
#include "fixture.hpp"

using namespace itest;

// --duration ends a run by itself: exit code 0, the start line first and the
// summary last.
TEST_F(ClosewaitTrace, DurationEndsTheRunWithASummary)
{
    const int port = free_port();
    auto t0 = Clock::now();
    Tool tool({"--json", "-d", "1", "--port", std::to_string(port)});
    ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout + 5)) << tool.proc().all_output();
    EXPECT_EQ(tool.proc().exit_code(), 0) << tool.proc().all_output();
    EXPECT_GE(seconds_since(t0), 1.0);
    auto ev = tool.events();
    ASSERT_GE(ev.size(), 2U) << tool.proc().all_output();
    EXPECT_EQ(str(ev.front(), "type"), "start");
    EXPECT_EQ(str(ev.back(), "type"), "summary");
    EXPECT_EQ(ev.back().value("open_close_wait", -1), 0);
    EXPECT_EQ(ev.back().value("lost_events", -1), 0);
    EXPECT_TRUE(tool.proc().err().empty()) << tool.proc().err();
    expect_clean_output(tool);
}

// ---------------------------------------------------------------------------
// (g) Bad input: exit code 2, one line on stderr, nothing on stdout, and no
// BPF program, link or map left behind.
namespace
{

// Objects of closewait-trace that are new since `before` and that no live
// process holds: leftovers. (New objects that a live process holds belong to
// a running instance, e.g. someone else's; they are not leftovers.) Polls for
// a while, since the kernel frees objects shortly after their last fd closes.
std::string leftovers_since(const BpfObjects& before, double timeout_s)
{
    std::string report;
    bool clean = poll_until(
        [&] {
            auto now = closewait_bpf_objects();
            std::vector<std::pair<std::string, std::uint64_t>> fresh;
            for (auto id : now.progs)
                if (!before.progs.count(id))
                    fresh.emplace_back("prog", id);
            for (auto id : now.links)
                if (!before.links.count(id))
                    fresh.emplace_back("link", id);
            for (auto id : now.maps)
                if (!before.maps.count(id))
                    fresh.emplace_back("map", id);
            if (fresh.empty())
                return true;
            auto held = bpf_objects_held_by_processes();
            report.clear();
            for (const auto& [kind, id] : fresh)
                if (!held.ids.count(id))
                    report += kind + " " + std::to_string(id) + " is held by no process\n";
            if (!report.empty())
                report += "all closewait-trace objects:\n" + now.describe;
            return report.empty();
        },
        timeout_s);
    return clean ? std::string() : report;
}

} // namespace

TEST_F(ClosewaitTrace, BadInputExitsWithTwoAndLeavesNothingAttached)
{
    const auto before = closewait_bpf_objects();

    // Positive control: a normal run shows up in bpftool while it runs, and
    // is gone after it exits. (Without this, the check below could be vacuous.)
    {
        json start;
        auto tool = start_tool({"--json", "-d", "30", "--port", std::to_string(free_port())}, start);
        ASSERT_TRUE(start.is_object());
        auto running = closewait_bpf_objects();
        std::size_t added = 0;
        for (auto id : running.progs)
            added += before.progs.count(id) ? 0 : 1;
        EXPECT_GE(added, 1U) << "bpftool does not show the running tool's programs:\n" << running.describe;
        EXPECT_FALSE(running.links.empty()) << running.describe;
        // ... and its objects are recognised as held by a live process.
        EXPECT_EQ(leftovers_since(before, 0), "") << "holder detection does not see the running tool";
        stop_tool(*tool);
        EXPECT_EQ(leftovers_since(before, 5), "") << "left behind after a normal exit";
    }

    const std::string dead = std::to_string(dead_pid());
    const std::vector<std::vector<std::string>> cases = {
        {"--json", "-d", "2", "-p", dead},          {"--json", "-d", "2", "--threshold", "abc"},
        {"--json", "-d", "2", "--threshold", "-1"}, {"--json", "-d", "2", "--threshold", "0"},
        {"--json", "-d", "2", "--no-such-flag"},    {"--json", "-d", "2", "--port", "70000"},
    };
    for (const auto& args : cases) {
        SCOPED_TRACE("closewait-trace" + joined(args));
        Tool tool(args);
        ASSERT_NO_FATAL_FAILURE(expect_refused(tool.proc()));
    }

    // Forcing a probe tier this kernel cannot run fails after some programs
    // were loaded (and, for kprobes, attached): the error must still be one
    // line, and everything must be released. Where the tier does work the run
    // simply succeeds.
    for (const char* tier : {"fentry", "kprobe"}) {
        SCOPED_TRACE(std::string("--probes ") + tier);
        Tool tool({"--json", "-d", "1", "--probes", tier, "--port", std::to_string(free_port())});
        ASSERT_TRUE(tool.proc().wait_exit(kStartTimeout));
        if (tool.proc().exit_code() == 0)
            continue;
        EXPECT_EQ(tool.proc().exit_code(), 2) << tool.proc().all_output();
        expect_one_line_error(tool.proc());
    }

    EXPECT_EQ(leftovers_since(before, 3), "") << "BPF objects left behind";
}
