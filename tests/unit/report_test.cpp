// Reporters: JSON schema, escaping of hostile names, human line width.
#include <gtest/gtest.h>

#include "endpoints.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/units.hpp"
#include "core/decoder.hpp"
#include "report/fanout.hpp"
#include "report/human.hpp"
#include "report/json.hpp"
#include "report/record.hpp"
#include "report/snapshot_report.hpp"
#include "report/summary.hpp"
#include "core/tracker.hpp"

namespace cwt
{
namespace
{

using nlohmann::json;

constexpr MonoNs kSec = kNsPerSec;
const WallClock kClock(0); // monotonic ns == unix ns: deterministic timestamps

// ---- building blocks -------------------------------------------------------

using cwt::test::v4;
using cwt::test::v6;

SocketFacts sock_facts()
{
    SocketFacts f;
    f.sk = 0xffff888012345000ULL;
    f.owner = OwnerKind::Process;
    f.processes = {ProcessRef{100, "server", 7}};
    f.tuple = Tuple{v4("10.0.0.1", 8080), v4("192.0.2.7", 40000), AF_INET};
    f.netns = 4026531840U;
    f.age_s = 32.0;
    f.recv_q = 517;
    return f;
}

template <typename F> F sock_finding()
{
    F f;
    f.ts_ns = 5 * kSec;
    f.sock = sock_facts();
    return f;
}

LeakFinding leak_finding()
{
    return sock_finding<LeakFinding>();
}

ClosedFinding closed_finding()
{
    auto f = sock_finding<ClosedFinding>();
    f.was_leak = true;
    f.closed_by = "application";
    return f;
}

ListenerView listener_view(const Endpoint& local, std::uint32_t pid, const char* comm)
{
    ListenerView v;
    v.local = local;
    v.owner = ProcessRef{pid, comm, 6};
    v.queue = 3;
    v.backlog = 128;
    return v;
}

CloseWaitFinding queued_finding()
{
    auto f = sock_finding<CloseWaitFinding>();
    f.sock.owner = OwnerKind::AcceptQueue;
    f.sock.processes.clear();
    f.sock.listener = listener_view(v4("0.0.0.0", 8080), 42, "nginx");
    f.sock.age_s = 0.0;
    return f;
}

LeakFinding preexisting_finding()
{
    LeakFinding f = leak_finding();
    f.sock.age_s.reset();
    f.sock.min_age_s = 12.5;
    f.sock.preexisting = true;
    return f;
}

LeakFinding nofd_finding()
{
    LeakFinding f = leak_finding();
    f.sock.owner = OwnerKind::NoFd;
    f.sock.processes.clear();
    f.detail = "socket has a file but no process fd (SCM_RIGHTS in flight, io_uring or kernel)";
    return f;
}

LostFinding lost_finding(std::uint64_t count = 5)
{
    LostFinding f;
    f.ts_ns = 6 * kSec;
    f.count = count;
    f.detail = "kernel could not record events (ring buffer or map full); see summary";
    return f;
}

AcceptErrorFinding accept_error_finding()
{
    AcceptErrorFinding f;
    f.ts_ns = 7 * kSec;
    f.process = ProcessRef{777, "acceptor", 3};
    f.errno_name = "EMFILE";
    f.syscall = "accept4";
    f.count = 12;
    f.nofile_soft = 1024;
    f.nofile_hard = 524288;
    f.listener = listener_view(v4("0.0.0.0", 8080), 777, "acceptor");
    return f;
}

std::vector<Finding> all_sample_findings()
{
    return {leak_finding(), closed_finding(), queued_finding(),       preexisting_finding(),
            nofd_finding(), lost_finding(),   accept_error_finding(), sock_finding<CloseWaitFinding>()};
}

std::vector<std::string> lines_of(const std::string& s)
{
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

constexpr HumanStyle kWide{true, true, false, 0};

// A human record is one line: no newline anywhere.
std::string one_line(const std::string& s)
{
    EXPECT_EQ(s.find('\n'), std::string::npos) << "a record must be one line: " << s;
    return s;
}

bool printable_ascii(const std::string& s)
{
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            return false;
    return true;
}

void expect_fits(const std::string& human, const std::string& what)
{
    EXPECT_FALSE(human.empty()) << what;
    EXPECT_EQ(human.find('\n'), std::string::npos) << what << ": one record, one line: [" << human << "]";
    for (const auto& l : lines_of(human)) {
        EXPECT_LE(l.size(), kMaxLineWidth) << what << ": [" << l << "]";
        EXPECT_TRUE(printable_ascii(l)) << what << ": [" << l << "]";
    }
    EXPECT_NE(human.back(), '\n') << what;
}

// Everything a reporter writes to its FILE*.
template <typename Fn> std::string capture(Fn&& write)
{
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* out = open_memstream(&buf, &len);
    EXPECT_NE(out, nullptr);
    if (!out)
        return {};
    write(out);
    std::fclose(out);
    std::string text(buf, len);
    std::free(buf);
    return text;
}

// A hostile name, as the kernel would hand it over (16 bytes, no NUL).
const std::string kHostileRaw("\x1b[2J\n\r\x07\xff\xc3(\\\x9b"
                              "1m\x1b]0",
                              16);

// ---- JSON schema -------------------------------------------------------------

TEST(ReportJson, EveryFindingHasTypeAndTs)
{
    for (const auto& f : all_sample_findings()) {
        json j = finding_json(f, kClock);
        ASSERT_TRUE(j.is_object());
        ASSERT_TRUE(j.contains("type")) << j.dump();
        ASSERT_TRUE(j.contains("ts")) << j.dump();
        EXPECT_EQ(j["type"], type_name(f));
        EXPECT_TRUE(j["ts"].is_string());
        EXPECT_NO_THROW(j.dump());
    }
}

// Objects keep their keys in insertion order (ordered_json): `type`, then `ts`.
TEST(ReportJson, EveryObjectStartsWithTypeThenTs)
{
    auto starts_right = [](const nlohmann::ordered_json& j) {
        std::string d = j.dump();
        return d.rfind("{\"type\":", 0) == 0 && d.find(",\"ts\":") == d.find(',');
    };
    for (const auto& f : all_sample_findings()) {
        auto j = finding_json(f, kClock);
        EXPECT_TRUE(starts_right(j)) << j.dump();
    }
    EXPECT_TRUE(starts_right(start_json(StartInfo{}, kClock, 0)));
    auto s = summary_json(Summary{}, kClock, 0);
    EXPECT_TRUE(starts_right(s)) << s.dump();
}

TEST(ReportJson, TimestampsAreRfc3339Utc)
{
    LeakFinding f = leak_finding();
    f.ts_ns = 1700000000ULL * kSec + 123456789ULL;
    EXPECT_EQ(finding_json(f, kClock)["ts"], "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(finding_json(leak_finding(), kClock)["ts"], "1970-01-01T00:00:05.000Z");
    EXPECT_EQ(finding_json(leak_finding(), WallClock(60 * kSec))["ts"], "1970-01-01T00:01:05.000Z");
}

TEST(ReportJson, CloseWaitObjectsHaveTheSocketFields)
{
    const char* keys[] = {"pid",   "comm",     "fd",    "nspid",  "cgroup", "container",   "owner",
                          "local", "listener", "age_s", "recv_q", "netns",  "preexisting", "remote"};
    for (const auto& f : all_sample_findings()) {
        if (!socket_of(f))
            continue;
        json j = finding_json(f, kClock);
        for (const char* k : keys)
            EXPECT_TRUE(j.contains(k)) << k << " missing in " << j.dump();
        EXPECT_TRUE(j["listener"].is_null() || j["listener"].is_object()) << j.dump();
        if (j["listener"].is_object()) {
            EXPECT_TRUE(j["listener"].contains("local"));
            EXPECT_TRUE(j["listener"].contains("pid"));
            EXPECT_TRUE(j["listener"].contains("comm"));
        }
        EXPECT_TRUE(j["age_s"].is_number() || j["age_s"].is_null());
        EXPECT_TRUE(j["preexisting"].is_boolean());
        EXPECT_TRUE(j["netns"].is_number_unsigned());
    }
}

TEST(ReportJson, ContainerNspidAndCgroupOfTheOwner)
{
    auto meta = std::make_shared<ProcessMeta>();
    meta->nspid = 1;
    meta->cgroup = "/kubepods.slice/kubepods-pod0f3e6a2b_1c4d.slice/cri-containerd-"
                   "4f1d2c3b4a5968778695a4b3c2d1e0f0123456789abcdef0123456789abcdef0.scope";
    meta->container = parse_container(meta->cgroup);
    ASSERT_TRUE(meta->container);
    auto f = sock_finding<LeakFinding>();
    f.sock.processes.front().meta = meta;
    json j = finding_json(f, kClock);
    EXPECT_EQ(j["nspid"], 1);
    EXPECT_EQ(j["cgroup"], meta->cgroup);
    EXPECT_EQ(j["container"]["id"], meta->container->id);
    EXPECT_EQ(j["container"]["runtime"], "containerd");
    EXPECT_EQ(j["container"]["pod_uid"], meta->container->pod_uid);
    EXPECT_NE(human_line(f, kClock).find("ctr=4f1d2c3b4a59"), std::string::npos) << human_line(f, kClock);
    // On the host, and unknown: null, never absent.
    auto host = sock_finding<LeakFinding>();
    json h = finding_json(host, kClock);
    EXPECT_TRUE(h["container"].is_null());
    EXPECT_TRUE(h["nspid"].is_null());
    EXPECT_EQ(human_line(host, kClock).find("ctr="), std::string::npos);
}

TEST(ReportJson, ProcessOwnedLeakValues)
{
    json j = finding_json(leak_finding(), kClock);
    EXPECT_EQ(j["type"], "close_wait_leak");
    EXPECT_EQ(j["pid"], 100);
    EXPECT_EQ(j["comm"], "server");
    EXPECT_EQ(j["fd"], 7);
    EXPECT_EQ(j["owner"], "process");
    EXPECT_EQ(j["local"], "10.0.0.1:8080");
    EXPECT_EQ(j["remote"], "192.0.2.7:40000");
    EXPECT_TRUE(j["listener"].is_null());
    EXPECT_DOUBLE_EQ(j["age_s"].get<double>(), 32.0);
    EXPECT_EQ(j["recv_q"], 517);
    EXPECT_EQ(j["netns"], 4026531840U);
    EXPECT_EQ(j["preexisting"], false);
    EXPECT_FALSE(j.contains("owners")) << "single owner: no owners array";
    EXPECT_FALSE(j.contains("was_leak"));
}

TEST(ReportJson, ClosedCarriesWasLeakAndClosedBy)
{
    json j = finding_json(closed_finding(), kClock);
    EXPECT_EQ(j["type"], "close_wait_closed");
    EXPECT_EQ(j["was_leak"], true);
    EXPECT_EQ(j["closed_by"], "application");
}

TEST(ReportJson, PreexistingHasNullAgeAndMinAge)
{
    json j = finding_json(preexisting_finding(), kClock);
    EXPECT_TRUE(j["age_s"].is_null());
    EXPECT_DOUBLE_EQ(j["min_age_s"].get<double>(), 12.5);
    EXPECT_EQ(j["preexisting"], true);
}

TEST(ReportJson, AcceptQueueNamesTheListenerNotAProcess)
{
    json j = finding_json(queued_finding(), kClock);
    EXPECT_EQ(j["owner"], "accept_queue");
    EXPECT_TRUE(j["pid"].is_null());
    EXPECT_TRUE(j["comm"].is_null());
    EXPECT_TRUE(j["fd"].is_null());
    ASSERT_TRUE(j["listener"].is_object());
    EXPECT_EQ(j["listener"]["local"], "0.0.0.0:8080");
    EXPECT_EQ(j["listener"]["pid"], 42);
    EXPECT_EQ(j["listener"]["comm"], "nginx");
    EXPECT_EQ(j["listener"]["queue"], 3);
    EXPECT_EQ(j["listener"]["backlog"], 128);
}

TEST(ReportJson, ListenerWithoutOwnerHasNullPidAndComm)
{
    CloseWaitFinding f = queued_finding();
    f.sock.listener->owner.reset();
    json j = finding_json(f, kClock);
    ASSERT_TRUE(j["listener"].is_object());
    EXPECT_TRUE(j["listener"]["pid"].is_null());
    EXPECT_TRUE(j["listener"]["comm"].is_null());
}

TEST(ReportJson, SeveralOwnersAreAllListed)
{
    LeakFinding f = leak_finding();
    f.sock.processes = {ProcessRef{100, "parent", 5}, ProcessRef{101, "child", 5}};
    json j = finding_json(f, kClock);
    EXPECT_EQ(j["pid"], 100);
    ASSERT_TRUE(j["owners"].is_array());
    ASSERT_EQ(j["owners"].size(), 2u);
    EXPECT_EQ(j["owners"][1]["pid"], 101);
    EXPECT_EQ(j["owners"][1]["comm"], "child");
    EXPECT_EQ(j["owners"][1]["fd"], 5);
}

TEST(ReportJson, LostAndAcceptError)
{
    json l = finding_json(lost_finding(), kClock);
    EXPECT_EQ(l["type"], "lost");
    EXPECT_EQ(l["count"], 5);
    EXPECT_EQ(l["ts"], "1970-01-01T00:00:06.000Z");

    json a = finding_json(accept_error_finding(), kClock);
    EXPECT_EQ(a["type"], "accept_error");
    EXPECT_EQ(a["pid"], 777);
    EXPECT_EQ(a["errno"], "EMFILE");
    EXPECT_EQ(a["syscall"], "accept4");
    EXPECT_EQ(a["count"], 12);
    EXPECT_EQ(a["nofile_soft"], 1024);
    EXPECT_EQ(a["nofile_hard"], 524288);
    EXPECT_EQ(a["listener"]["local"], "0.0.0.0:8080");
}

TEST(ReportJson, IPv6EndpointsAreBracketed)
{
    LeakFinding f = leak_finding();
    f.sock.tuple = Tuple{v6("2001:db8::1", 443), v6("2001:db8::2", 50000), AF_INET6};
    json j = finding_json(f, kClock);
    EXPECT_EQ(j["local"], "[2001:db8::1]:443");
    EXPECT_EQ(j["remote"], "[2001:db8::2]:50000");
}

TEST(ReportJson, SummarySchema)
{
    Summary s;
    s.ts_ns = 10 * kSec;
    s.open_close_waits = 3;
    s.unknown_owner = 1;
    s.leaks_reported = 2;
    s.lost_events = 8;
    ProcessSummary p;
    p.process = ProcessRef{100, "server", -1};
    p.open_close_waits = 2;
    p.oldest_age_s = 40.5;
    p.fds = {7, 9};
    s.processes.push_back(p);
    ListenerSummary ls;
    ls.listener = listener_view(v4("0.0.0.0", 8080), 42, "nginx");
    ls.netns = 7;
    ls.queued_close_waits = 1;
    ls.oldest_age_s = 3;
    ls.oldest_predates_start = true;
    s.listeners.push_back(ls);

    json j = summary_json(s, kClock, 12.0);
    EXPECT_EQ(j["type"], "summary");
    EXPECT_EQ(j["ts"], "1970-01-01T00:00:10.000Z");
    EXPECT_EQ(j["lost_events"], 8);
    EXPECT_EQ(j["open_close_wait"], 3);
    EXPECT_EQ(j["leaks_reported"], 2);
    EXPECT_EQ(j["unknown_owner"], 1);
    ASSERT_TRUE(j["processes"].is_array());
    ASSERT_EQ(j["processes"].size(), 1u);
    EXPECT_EQ(j["processes"][0]["pid"], 100);
    EXPECT_EQ(j["processes"][0]["comm"], "server");
    EXPECT_EQ(j["processes"][0]["close_wait"], 2);
    EXPECT_EQ(j["processes"][0]["fds"], json({7, 9}));
    ASSERT_TRUE(j["listeners"].is_array());
    ASSERT_EQ(j["listeners"].size(), 1u);
    EXPECT_EQ(j["listeners"][0]["local"], "0.0.0.0:8080");
    EXPECT_EQ(j["listeners"][0]["pid"], 42);
    EXPECT_EQ(j["listeners"][0]["comm"], "nginx");
    EXPECT_EQ(j["listeners"][0]["queued_close_wait"], 1);
    EXPECT_EQ(j["listeners"][0]["oldest_predates_start"], true);

    json empty = summary_json(Summary{}, kClock, 0);
    EXPECT_TRUE(empty["processes"].is_array());
    EXPECT_TRUE(empty["listeners"].is_array());
    EXPECT_EQ(empty["lost_events"], 0);
}

TEST(ReportJson, StartSchema)
{
    StartInfo si;
    si.tier = "tp_btf";
    si.tier_reason = "BTF available";
    si.kernel = "6.1.0-test";
    si.threshold_s = 30;
    json j = start_json(si, kClock, 2 * kSec);
    EXPECT_EQ(j["type"], "start");
    EXPECT_EQ(j["ts"], "1970-01-01T00:00:02.000Z");
    EXPECT_EQ(j["tier"], "tp_btf");
    EXPECT_EQ(j["kernel"], "6.1.0-test");
    ASSERT_TRUE(j["filters"].is_object());
    EXPECT_TRUE(j["filters"]["pid"].is_null());
    EXPECT_TRUE(j["filters"]["port"].is_null());
    EXPECT_DOUBLE_EQ(j["filters"]["threshold_s"].get<double>(), 30.0);

    EXPECT_EQ(j["filters"]["ports"], json::array());
    EXPECT_TRUE(j["filters"]["family"].is_null());

    si.filter_pid = 1234;
    si.socket_filter.ports = {443};
    si.verbose = true;
    j = start_json(si, kClock, 0);
    EXPECT_EQ(j["filters"]["pid"], 1234);
    EXPECT_EQ(j["filters"]["port"], 443);
    EXPECT_EQ(j["filters"]["ports"], json::array({443}));
    EXPECT_EQ(j["filters"]["verbose"], true);

    si.socket_filter.ports = {80, 81};
    si.socket_filter.lports = {8080};
    si.socket_filter.rports = {5432, 5433};
    si.socket_filter.family = AF_INET6;
    j = start_json(si, kClock, 0);
    EXPECT_TRUE(j["filters"]["port"].is_null()) << "port is the one -P port only";
    EXPECT_EQ(j["filters"]["ports"], json::array({80, 81}));
    EXPECT_EQ(j["filters"]["lports"], json::array({8080}));
    EXPECT_EQ(j["filters"]["rports"], json::array({5432, 5433}));
    EXPECT_EQ(j["filters"]["family"], "ipv6");
    EXPECT_EQ(describe_filter(si.socket_filter), " port=80,81 lport=8080 rport=5432,5433 ipv6");
}

// ---- hostile names: decoder -> tracker -> reporters ---------------------------

// The real path of a process name: kernel bytes, decoded, tracked, reported.
Findings findings_for_hostile_comm()
{
    cwt_sock_event raw{};
    raw.hdr.kind = CWT_EV_CLOSE_WAIT;
    raw.hdr.ts_ns = 5 * kSec;
    raw.sk = 0x1000;
    raw.new_state = CWT_TCP_CLOSE_WAIT;
    raw.cw.enter_ns = 5 * kSec;
    raw.cw.owner_kind = CWT_OWNER_PROCESS;
    raw.cw.tuple.saddr[10] = raw.cw.tuple.saddr[11] = 0xff;
    raw.cw.tuple.daddr[10] = raw.cw.tuple.daddr[11] = 0xff;
    raw.cw.tuple.family = AF_INET;
    raw.cw.owner.tgid = 100;
    raw.cw.owner.fd = 7;
    std::memcpy(raw.cw.owner.comm, kHostileRaw.data(), CWT_COMM_LEN);
    auto ev = decode_event(&raw, sizeof(raw));
    EXPECT_TRUE(ev);

    // A listener whose owner has the same name, for the accept-queue view.
    char comm[CWT_COMM_LEN];
    std::memcpy(comm, kHostileRaw.data(), CWT_COMM_LEN);
    ListenerInfo l;
    l.sk = 0x2000;
    l.local = v4("0.0.0.0", 0);
    l.owners = {decode_process(42, comm, 6)};

    TrackerConfig cfg;
    cfg.verbose = true;
    ListenerState listeners;
    Tracker t(cfg, listeners);
    listeners.update({l});
    Findings out;
    t.on_event(std::get<SockEvent>(*ev), out);

    raw.sk = 0x3000;
    raw.cw.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
    std::memset(&raw.cw.owner, 0, sizeof(raw.cw.owner));
    ev = decode_event(&raw, sizeof(raw));
    t.on_event(std::get<SockEvent>(*ev), out);
    t.report_leak(0x1000, Enrichment{}, 40 * kSec, out);
    EXPECT_EQ(out.size(), 3u);
    return out;
}

bool has_terminal_control(const std::string& s)
{
    for (char c : {'\x1b', '\x07', '\r', '\x9b'})
        if (s.find(c) != std::string::npos)
            return true;
    return false;
}

TEST(ReportEscaping, HostileCommIsPrintableInHumanLines)
{
    for (const auto& f : findings_for_hostile_comm()) {
        std::string line = human_line(f, kClock);
        EXPECT_FALSE(has_terminal_control(line)) << line;
        EXPECT_EQ(lines_of(line).size(), 1u) << "a name must not start a new line: " << line;
        expect_fits(line, "hostile comm");
        EXPECT_NE(line.find("\\x1b[2J"), std::string::npos) << line;
    }
}

TEST(ReportEscaping, HostileCommIsPrintableInJson)
{
    for (const auto& f : findings_for_hostile_comm()) {
        json j = finding_json(f, kClock);
        std::string dumped;
        ASSERT_NO_THROW(dumped = j.dump());
        EXPECT_TRUE(printable_ascii(dumped)) << dumped;
        EXPECT_FALSE(has_terminal_control(dumped));
        // What a consumer reads back is the escaped name, never the raw bytes.
        json back = json::parse(dumped);
        const json& comm = back["comm"].is_null() ? back["listener"]["comm"] : back["comm"];
        ASSERT_TRUE(comm.is_string()) << dumped;
        const std::string name = comm.get<std::string>();
        EXPECT_TRUE(printable_ascii(name)) << name;
        EXPECT_EQ(name.rfind("\\x1b[2J\\x0a\\x0d\\x07\\xff\\xc3(\\\\\\x9b1m", 0), 0u) << name;
    }
}

TEST(ReportEscaping, HostileCommInSummaryAndReporters)
{
    Findings fs = findings_for_hostile_comm();
    ASSERT_EQ(fs.size(), 3u);
    Summary s;
    s.processes.push_back(ProcessSummary{socket_of(fs[0])->processes[0], 1, 3.0, false, {7}, "", "", 0, 0});
    s.listeners.push_back(ListenerSummary{*socket_of(fs[1])->listener, 0, 1, 1.0, false});

    std::string dumped;
    ASSERT_NO_THROW(dumped = summary_json(s, kClock, 1.0).dump());
    EXPECT_TRUE(printable_ascii(dumped)) << dumped;

    const std::string human = capture([&](std::FILE* out) {
        auto r = make_human_reporter(out, out, kClock);
        for (const auto& f : fs)
            r->finding(f);
        r->summary(s, 1.0);
        r->flush();
    });
    EXPECT_FALSE(has_terminal_control(human));
    for (const auto& l : lines_of(human)) {
        EXPECT_TRUE(printable_ascii(l)) << l;
        EXPECT_LE(l.size(), kMaxLineWidth) << l;
    }

    const std::string jsonl = capture([&](std::FILE* out) {
        auto r = make_json_reporter(out, kClock);
        for (const auto& f : fs)
            r->finding(f);
        r->summary(s, 1.0);
        r->flush();
    });
    EXPECT_FALSE(has_terminal_control(jsonl));
    auto records = lines_of(jsonl);
    EXPECT_EQ(records.size(), fs.size() + 1);
    for (const auto& l : records) {
        EXPECT_TRUE(printable_ascii(l)) << l;
        EXPECT_NO_THROW(json::parse(l)) << l;
    }
}

// ---- human lines ---------------------------------------------------------------

TEST(ReportHuman, HeaderFits)
{
    expect_fits(human_header(), "header");
}

TEST(ReportHuman, SimpleLeakIsOneLineWithTheColumns)
{
    std::string line = human_line(leak_finding(), kClock);
    expect_fits(line, "leak");
    EXPECT_EQ(lines_of(line).size(), 1u);
    for (const char* part :
         {"LEAK", "100", "server", "7", "10.0.0.1:8080", "192.0.2.7:40000", "32.0s", "rq=517"})
        EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
}

TEST(ReportHuman, QueuedSocketShowsTheListenerOwner)
{
    std::string line = human_line(queued_finding(), kClock);
    expect_fits(line, "queued");
    EXPECT_NE(line.find("CLOSEWAIT"), std::string::npos) << line;
    EXPECT_NE(line.find(" 42 "), std::string::npos) << line;
    EXPECT_NE(line.find("nginx"), std::string::npos) << line;
    // Narrow: the detail's first words fit; -w: all of it.
    EXPECT_NE(line.find("queued q=3/128"), std::string::npos) << line;
    EXPECT_NE(human_line(queued_finding(), kClock, kWide).find("queued q=3/128 on 0.0.0.0:8080"),
              std::string::npos);
}

TEST(ReportHuman, PreexistingShowsALowerBound)
{
    std::string line = human_line(preexisting_finding(), kClock);
    expect_fits(line, "preexisting");
    EXPECT_NE(line.find(">12.5s"), std::string::npos) << line;
    EXPECT_NE(line.find("preexisting"), std::string::npos) << line;
}

// Every field at its widest: the line must still fit and keep its content.
TEST(ReportHuman, WidestIPv4LineFits)
{
    ClosedFinding f = closed_finding();
    f.sock.processes = {ProcessRef{4294967295U, escape_comm(kHostileRaw), 2147483647},
                        ProcessRef{4294967294U, "b", 1}, ProcessRef{3, "c", 2}};
    f.sock.tuple = Tuple{v4("255.255.255.255", 65535), v4("255.255.255.254", 65535), AF_INET};
    f.sock.listener = listener_view(v4("255.255.255.253", 65535), 4294967295U, "listener-process");
    f.sock.age_s = 1e8;
    f.sock.recv_q = 4294967295U;
    f.sock.preexisting = true;
    f.closed_by = "listener_closed";
    f.detail = "closed before the periodic scan";
    std::string out = human_line(f, kClock);
    expect_fits(out, "widest IPv4");
    EXPECT_EQ(out.back(), '+') << "the cut detail is marked: " << out;
    for (const char* part : {"4294967295", "2147483647", "255.255.255.255:65535", "255.255.255.254:65535"})
        EXPECT_NE(out.find(part), std::string::npos) << part << " in " << out;
    // -w: every field whole, still one line.
    std::string all = one_line(human_line(f, kClock, kWide));
    for (const char* part :
         {"4294967295", "2147483647", "255.255.255.255:65535", "255.255.255.254:65535", "rq=4294967295",
          "by listener_closed", "+2 more fds", "closed before the periodic scan"})
        EXPECT_NE(all.find(part), std::string::npos) << part << " in " << all;
}

TEST(ReportHuman, LongIPv6EndpointsAreCutKeepingThePortAndWholeWhenWide)
{
    LeakFinding f = leak_finding();
    f.sock.tuple = Tuple{v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 65535),
                         v6("fd00:1234:5678:9abc:def0:1234:5678:9abc", 65534), AF_INET6};
    f.sock.listener = listener_view(v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1111", 65535), 42, "nginx");
    f.sock.processes.push_back(ProcessRef{101, "worker", 8});
    std::string out = human_line(f, kClock);
    expect_fits(out, "long IPv6");
    for (const char* part : {"[2001:db8:aaa+]:65535", "[fd00:1234:56+]:65534"})
        EXPECT_NE(out.find(part), std::string::npos) << part << " in\n" << out;
    std::string all = one_line(human_line(f, kClock, kWide));
    for (const char* part :
         {"[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535", "[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65534",
          "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1111]:65535", "+1 more fds"})
        EXPECT_NE(all.find(part), std::string::npos) << part << " in\n" << all;
}

TEST(ReportHuman, MediumIPv6AndShortIPv6Fit)
{
    const char* addrs[][2] = {{"::1", "::1"},
                              {"2001:db8::1", "2001:db8::2"},
                              {"2001:db8:1:2::1", "fe80::aaaa:bbbb:cccc:dddd"},
                              {"::ffff:0:1.2.3.4", "1:2:3:4:5:6:7:8"}};
    for (auto& a : addrs) {
        auto check = [&](auto f) {
            f.sock.tuple = Tuple{v6(a[0], 443), v6(a[1], 65535), AF_INET6};
            std::string out = human_line(f, kClock);
            expect_fits(out, a[0]);
            std::string all = one_line(human_line(f, kClock, kWide));
            EXPECT_NE(all.find(format_endpoint(f.sock.tuple.local)), std::string::npos) << all;
            EXPECT_NE(all.find(format_endpoint(f.sock.tuple.remote)), std::string::npos) << all;
            // Narrow: whole where it fits in 21 columns, else cut with the port kept.
            for (const Endpoint& e : {f.sock.tuple.local, f.sock.tuple.remote}) {
                std::string ep = format_endpoint(e);
                EXPECT_NE(out.find(ep.size() <= 21 ? ep : fit_endpoint(ep, 21)), std::string::npos) << out;
            }
        };
        auto closed = sock_finding<ClosedFinding>();
        closed.closed_by = "reset";
        check(sock_finding<CloseWaitFinding>());
        check(sock_finding<LeakFinding>());
        check(closed);
    }
}

// The first 10 characters of the DETAIL column, as -w shows it.
std::string wide_prefix(const Finding& f)
{
    std::string wide = human_line(f, kClock, kWide);
    return wide.substr(human_header().find("DETAIL"), 10);
}

TEST(ReportHuman, LongDetailsAreCutOnOneLineAndWholeWhenWide)
{
    std::string longd;
    for (int i = 0; i < 40; ++i)
        longd += "detail" + std::to_string(i) + " ";
    for (Finding f : {Finding(nofd_finding()), Finding(leak_finding()), Finding(queued_finding())}) {
        std::string out = human_line(f, kClock);
        expect_fits(out, "detail");
        std::visit([&](auto& x) { x.detail = longd; }, f);
        out = human_line(f, kClock);
        expect_fits(out, "long detail");
        EXPECT_EQ(out.size(), kMaxLineWidth) << out;
        EXPECT_EQ(out.back(), '+') << out;
        EXPECT_EQ(out.substr(human_header().find("DETAIL"), 10), wide_prefix(f))
            << "the detail starts as in -w: " << out;
        std::string wide = one_line(human_line(f, kClock, kWide));
        EXPECT_GT(wide.size(), kMaxLineWidth);
        EXPECT_NE(wide.find(longd.substr(0, longd.size() - 1)), std::string::npos) << wide;
    }
}

TEST(ReportHuman, LostAndAcceptErrorFit)
{
    LostFinding lost = lost_finding(18446744073709551615ULL);
    lost.detail += std::string(200, 'x');
    std::string out = human_line(lost, kClock);
    expect_fits(out, "lost");
    EXPECT_NE(out.find("LOST"), std::string::npos);
    EXPECT_NE(out.find("18446744073709551615"), std::string::npos);
    expect_fits(human_line(lost_finding(), kClock), "lost");

    AcceptErrorFinding ae = accept_error_finding();
    ae.listener = listener_view(v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 65535), 777, "acceptor");
    ae.nofile_soft = 18446744073709551615ULL;
    ae.detail = std::string(150, 'y');
    out = human_line(ae, kClock);
    expect_fits(out, "accept error");
    EXPECT_NE(out.find("ACCEPTERR"), std::string::npos);
    for (const char* part : {"EMFILE", "accept4", "x12"})
        EXPECT_NE(out.find(part), std::string::npos) << part << " in\n" << out;
    EXPECT_NE(one_line(human_line(ae, kClock, kWide)).find(std::string(150, 'y')), std::string::npos);
}

TEST(ReportHuman, SummaryLinesFit)
{
    Summary s;
    s.open_close_waits = 250;
    s.leaks_reported = 12;
    s.lost_events = 3;
    s.unknown_owner = 4;
    ProcessSummary p;
    p.process = ProcessRef{4294967295U, escape_comm(kHostileRaw), -1};
    p.open_close_waits = 200;
    p.oldest_age_s = 1e6;
    p.oldest_predates_start = true;
    for (int fd = 1000; fd < 1200; ++fd)
        p.fds.push_back(fd);
    s.processes.push_back(p);
    ListenerSummary ls;
    ls.listener =
        listener_view(v6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 65535), 4294967295U, "a-very-long-nam");
    ls.queued_close_waits = 46;
    ls.oldest_age_s = 1e6;
    ls.oldest_predates_start = true;
    s.listeners.push_back(ls);

    const std::string text =
        capture([&](std::FILE* out) { make_human_reporter(out, out, kClock)->summary(s, 3600.0); });
    auto ls_ = lines_of(text);
    EXPECT_GE(ls_.size(), 5u) << text;
    for (const auto& l : ls_) {
        EXPECT_LE(l.size(), kMaxLineWidth) << l;
        EXPECT_TRUE(printable_ascii(l)) << l;
    }
    // Issue #12: totals per process and container, never an fd list.
    EXPECT_EQ(text.find("(+"), std::string::npos) << "no fd list: " << text;
}

} // namespace
} // namespace cwt

namespace cwt
{
namespace
{

// ---- the published JSON schema --------------------------------------------------

// Runs tests/integration/validate_json.py on `lines`; its output ("" = valid),
// or nullopt when the validator (python3-jsonschema) is missing.
std::optional<std::string> schema_check(const std::vector<std::string>& lines)
{
    char path[] = "/tmp/cwt-unit-schema-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return std::string("mkstemp failed");
    std::FILE* f = fdopen(fd, "w");
    for (const auto& l : lines)
        std::fprintf(f, "%s\n", l.c_str());
    std::fclose(f);
    std::string cmd =
        // Quoted: a clone path may hold spaces.
        std::string("python3 '" CWT_SOURCE_DIR "/tests/integration/validate_json.py' '" CWT_SOURCE_DIR
                    "/docs/schema/closewait-trace.schema.json' ") +
        path + " 2>&1";
    std::string out;
    std::FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n;
    while (p && (n = std::fread(buf, 1, sizeof(buf), p)) > 0)
        out.append(buf, n);
    int st = p ? pclose(p) : -1;
    unlink(path);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 3 || rc == 127)
        return std::nullopt;
    return rc == 0 ? "" : out + " (exit " + std::to_string(rc) + ")";
}

// Every object type, built from the model, validates; the schema is strict
// enough that a renamed key does not.
TEST(ReportSchema, EveryObjectTypeValidatesAndARenamedKeyDoesNot)
{
    std::vector<std::string> lines;
    auto add = [&](const nlohmann::ordered_json& j) { lines.push_back(j.dump()); };
    for (const auto& f : all_sample_findings())
        add(finding_json(f, kClock));
    for (const auto& f : findings_for_hostile_comm())
        add(finding_json(f, kClock));
    ListenerFacts q;
    q.listener = listener_view(v6("2001:db8::1", 443), 9, "srv");
    q.process = ProcessRef{9, "srv", 3};
    q.queued_close_wait = 2;
    ListenOverflowFinding o;
    o.queue = q;
    o.drops = 4;
    add(finding_json(o, kClock));
    AcceptStallFinding st;
    st.queue = q;
    st.min_stall_s = 7.5;
    add(finding_json(st, kClock));
    st.min_stall_s.reset();
    st.since_last_accept_s = 3.0;
    st.queue = ListenerFacts{};
    add(finding_json(st, kClock));
    StartInfo si;
    si.tier = "tp_btf";
    si.kernel = "6.18";
    si.socket_filter.ports = {80, 443};
    si.socket_filter.family = AF_INET;
    si.threshold_s = 30;
    add(start_json(si, kClock, 0));
    Summary s;
    ProcessSummary ps;
    ps.process = ProcessRef{100, "server", 7};
    ps.open_close_waits = 1;
    ps.oldest_age_s = 3.0;
    ps.fds = {7};
    s.processes.push_back(ps);
    s.listeners.push_back(ListenerSummary{listener_view(v4("0.0.0.0", 80), 1, "l"), 0, 1, 1.0, true});
    s.inventory = "sock_diag";
    add(summary_json(s, kClock, 1.0));
    // --leak-site: the site of a leak, the summary's sites and per-process
    // totals; --record: a sample.
    LeakSite site;
    site.call = "read";
    site.tid = 101;
    site.function = "handle_client";
    site.offset = 0x2d;
    site.file = "/src/server.c";
    site.line = 212;
    site.module = "/srv/server";
    site.build_id = "3f54805f";
    site.frames = {
        StackFrame{0x1000, "/srv/server", "3f54805f", 0x100, "handle_client", 0x2d, "/src/server.c", 212}};
    LeakFinding lf = leak_finding();
    lf.site = std::make_shared<const LeakSite>(site);
    add(finding_json(lf, kClock));
    site.interpreter = "python3";
    lf.site = std::make_shared<const LeakSite>(site);
    add(finding_json(lf, kClock));
    s.processes.front().leaks = 3;
    s.processes.front().site = "after read()=0 in handle_client (server.c:212)";
    s.processes.front().site_leaks = 2;
    s.sites.push_back(SiteSummary{"after read()=0 in handle_client (server.c:212)", "read_eof",
                                  "handle_client", "/src/server.c", 212, false, 2, 3});
    add(summary_json(s, kClock, 1.0));
    SeriesSample sample;
    sample.ts_ns = kNsPerSec;
    sample.processes.push_back(
        {100, "server", "", 1, 0, "after read()=0 in handle_client (server.c:212)", 2, 3});
    sample.listeners.push_back({"0.0.0.0:80", 100, "server", 0, 128});
    sample.listeners.push_back({"127.0.0.1:81", 0, "", 0, 0});
    sample.sites.push_back({"after read()=0 in handle_client (server.c:212)", 2});
    add(sample_json(sample, kClock));
    SnapshotListener sl;
    sl.info.local = v4("127.0.0.1", 8080);
    sl.info.owners = {ProcessRef{1, "a", 3}, ProcessRef{2, "b", 3}};
    add(listener_row_json(sl, kClock, 0));
    SnapshotProcess sp;
    sp.pid = 1;
    sp.comm = "a";
    sp.fds = {3, 4};
    sp.open_fds = 10;
    add(process_row_json(sp, kClock, 0));

    auto ok = schema_check(lines);
    if (!ok)
        GTEST_SKIP() << "SKIPPED: no schema validator (python3-jsonschema)";
    EXPECT_EQ(*ok, "");
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"\"recv_q\":", "\"recvq\":"}, {"\"errno\":", "\"err\":"}, {"\"drops\":", "\"dropped\":"}}) {
        auto copy = lines;
        bool changed = false;
        for (auto& l : copy)
            if (auto at = l.find(from); at != std::string::npos) {
                l.replace(at, from.size(), to);
                changed = true;
            }
        ASSERT_TRUE(changed) << from;
        auto bad = schema_check(copy);
        ASSERT_TRUE(bad.has_value());
        EXPECT_NE(*bad, "") << "renamed " << from << " must not validate";
    }
}

// The snapshot's fast one-line JSON is byte for byte the reporter's dump.
TEST(ReportJson, FastLineIsTheSameAsTheDump)
{
    auto dump = [](const Finding& f) {
        return finding_json(f, kClock).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    };
    std::vector<Finding> all = all_sample_findings();
    LeakFinding several = leak_finding();
    several.sock.processes = {ProcessRef{100, "parent", 5}, ProcessRef{101, "child", 5}};
    all.emplace_back(several);
    LeakFinding hostile = leak_finding();
    hostile.sock.processes = {ProcessRef{100, kHostileRaw, 5}};
    hostile.detail = "quote \" and backslash \\ and tab \t";
    all.emplace_back(hostile);
    ClosedFinding odd = closed_finding();
    odd.sock.age_s = 1e-7;
    odd.sock.min_age_s = 123456789.125;
    odd.sock.recv_q.reset();
    all.emplace_back(odd);
    for (const Finding& f : all)
        EXPECT_EQ(finding_json_line(f, kClock), dump(f));
}

} // namespace
} // namespace cwt

namespace
{
// Counts state() calls.
struct StateCounter : cwt::Reporter {
    int* n;
    explicit StateCounter(int* c) : n(c) {}
    void start(const cwt::StartInfo&) override {}
    void finding(const cwt::Finding&) override {}
    void summary(const cwt::Summary&, double) override {}
    void flush() override {}
    void state(const cwt::LiveState&) override { ++*n; }
};
} // namespace

// --record/--top take the state every second; the metrics reporter keeps its
// --metrics-interval (the file is not rewritten every second).
TEST(Fanout, StatePeriodPerReporter)
{
    int every = 0, metrics = 0;
    cwt::FanoutReporter f;
    f.add(std::make_unique<StateCounter>(&every));
    f.add(std::make_unique<StateCounter>(&metrics), 15 * cwt::kNsPerSec);
    for (int s = 0; s < 60; ++s) {
        cwt::LiveState st;
        st.now = cwt::kNsPerSec * (100 + s);
        f.state(st);
    }
    EXPECT_EQ(every, 60);
    EXPECT_EQ(metrics, 4); // at 100, 115, 130, 145 s
}
