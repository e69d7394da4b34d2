// core/proc_text: the /proc parsers on real and broken texts.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/proc_text.hpp"

using namespace cwt;

TEST(ProcText, StatusOfAThread)
{
    auto st = parse_proc_status("Name:\tcwt_leak_srv\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
                                "Ngid:\t0\nPid:\t4243\nPPid:\t1\nCapPrm:\t000001fffeffffff\n"
                                "CapEff:\t0000000000280004\n");
    EXPECT_EQ(st.name, "cwt_leak_srv");
    EXPECT_EQ(st.state, 'S');
    EXPECT_EQ(st.tgid, 4242U);
    EXPECT_EQ(st.pid, 4243U);
    EXPECT_EQ(st.ppid, 1U);
    EXPECT_EQ(st.cap_eff, 0x280004U);
    EXPECT_EQ(st.cap_prm, 0x1fffeffffffULL);
    EXPECT_FALSE(st.exited());
}

TEST(ProcText, StatusOfAZombieAndBrokenFields)
{
    EXPECT_TRUE(parse_proc_status("State:\tZ (zombie)\n").exited());
    EXPECT_TRUE(parse_proc_status("State:\tX (dead)").exited());
    auto st = parse_proc_status("Name:\nState:\nTgid:\t4294967296\nPid:\t-1\nPPid:\t12x\nCapEff:\tzz\n"
                                "TgidX:\t5\nTgi:\t7\n");
    EXPECT_EQ(st.state, 0);
    EXPECT_FALSE(st.tgid); // overflows u32
    EXPECT_FALSE(st.pid);
    EXPECT_FALSE(st.ppid);
    EXPECT_FALSE(st.cap_eff);
    EXPECT_FALSE(parse_proc_status("").exited());
    // Truncated mid-line: the field present is still read.
    EXPECT_EQ(parse_proc_status("Tgid:\t12").tgid, 12U);
}

TEST(ProcText, FdInfo)
{
    auto fi = parse_fdinfo("pos:\t0\nflags:\t02000002\nmnt_id:\t8\nino:\t123456\n");
    EXPECT_EQ(fi.pos, 0U);
    EXPECT_EQ(fi.flags, 02000002U);
    EXPECT_EQ(fi.mnt_id, 8U);
    EXPECT_EQ(fi.ino, 123456U);
    auto bad = parse_fdinfo("pos:\t\nflags:\t9\nmnt_id:\t99999999999999999999999\n");
    EXPECT_FALSE(bad.pos);
    EXPECT_FALSE(bad.flags); // 9 is not octal
    EXPECT_FALSE(bad.mnt_id);
    EXPECT_FALSE(bad.ino);
}

TEST(ProcText, CgroupPath)
{
    EXPECT_EQ(parse_cgroup_path("0::/system.slice/ssh.service\n"), "/system.slice/ssh.service");
    // v2 wins over v1 lines, wherever it is.
    EXPECT_EQ(parse_cgroup_path("12:pids:/a\n0::/b\n"), "/b");
    EXPECT_EQ(parse_cgroup_path("12:pids:/a\n11:cpu:/c\n"), "/a");
    // A path may contain ':'.
    EXPECT_EQ(parse_cgroup_path("0::/x:y:z"), "/x:y:z");
    EXPECT_FALSE(parse_cgroup_path(""));
    EXPECT_FALSE(parse_cgroup_path(":::\n0:\n::/x\n-1::/y\nz::/q\n0::relative\n"));
}

TEST(ProcText, Limits)
{
    const char* text = "Limit                     Soft Limit           Hard Limit           Units     \n"
                       "Max cpu time              unlimited            unlimited            seconds   \n"
                       "Max open files            1024                 524288               files     \n";
    auto row = parse_limit(text, "Max open files");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->soft, 1024U);
    EXPECT_EQ(row->hard, 524288U);
    auto cpu = parse_limit(text, "Max cpu time");
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->soft, std::numeric_limits<std::uint64_t>::max());
    EXPECT_FALSE(parse_limit(text, "Max open"));      // a prefix of a name is not the name
    EXPECT_FALSE(parse_limit(text, "Max processes")); // absent
    EXPECT_FALSE(parse_limit("Max open files            1024\n", "Max open files")); // truncated
    EXPECT_FALSE(parse_limit("Max open files  -1 5\n", "Max open files"));
    EXPECT_FALSE(parse_limit(text, ""));
}

TEST(ProcText, Numbers)
{
    EXPECT_EQ(parse_u64("18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
    EXPECT_FALSE(parse_u64("18446744073709551616"));
    EXPECT_FALSE(parse_u64(""));
    EXPECT_FALSE(parse_u64("+1"));
    EXPECT_FALSE(parse_u64(" 1"));
    EXPECT_EQ(parse_u64("ff", 16), 255U);
    EXPECT_EQ(parse_u64("17", 8), 15U);
    EXPECT_FALSE(parse_u64("8", 8));
}
