// core/: pure C++ (model, decoder, tracker, accept watch, listener index, snapshot
// classification). Includes only common/ and include/closewait_trace/events.h;
// kernel/, report/ and app/ depend on it. Never include kernel/ or report/ here.
// Plain C++ types the tracker and reporters work on. Nothing here knows BPF:
// the decoder turns kernel records into these, and unit tests build them by hand.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/container.hpp"
#include "core/leak_site.hpp"

namespace cwt
{

using SockId = std::uint64_t; // kernel address of the struct sock
using MonoNs = std::uint64_t; // CLOCK_MONOTONIC nanoseconds

enum class OwnerKind : std::uint8_t { Unknown, Process, AcceptQueue, NoFd };
const char* owner_kind_name(OwnerKind k);

struct Endpoint {
    std::array<std::uint8_t, 16> addr{}; // IPv4 stored v4-mapped
    std::uint16_t port = 0;
    bool is_v4_mapped() const;
    bool is_unspecified() const;
    bool operator==(const Endpoint& o) const { return addr == o.addr && port == o.port; }
};

struct Tuple {
    Endpoint local;
    Endpoint remote;
    std::uint16_t family = 0; // AF_INET or AF_INET6
    bool operator==(const Tuple& o) const
    {
        return local == o.local && remote == o.remote && family == o.family;
    }
};

// One fd of one process that refers to a socket.
struct ProcessRef {
    ProcessRef() = default;
    ProcessRef(std::uint32_t pid_, std::string comm_, std::int32_t fd_)
        : pid(pid_), comm(std::move(comm_)), fd(fd_)
    {
    }
    std::uint32_t pid = 0;
    std::string comm;
    std::int32_t fd = -1;
    // Container, cgroup and nspid, filled in before a record is reported
    // (shared by every record of the process); null: not looked up.
    std::shared_ptr<const ProcessMeta> meta;
    bool operator==(const ProcessRef& o) const { return pid == o.pid && comm == o.comm && fd == o.fd; }
};

// What the kernel recorded at accept() time.
struct AcceptRecord {
    ProcessRef by;
    MonoNs at_ns = 0;
    SockId listener_sk = 0;
};

// A socket in CLOSE_WAIT as the kernel map holds it.
struct CloseWaitInfo {
    MonoNs enter_ns = 0;  // 0: entered before the tool started
    MonoNs fin_by_ns = 0; // pre-existing: the FIN had arrived by then (0: unknown)
    std::uint32_t netns = 0;
    std::uint32_t recv_q = 0;
    OwnerKind owner = OwnerKind::Unknown;
    bool preexisting = false;
    Tuple tuple;
    std::optional<AcceptRecord> accepted;
};

enum class SockEventKind { EnteredCloseWait, LeftCloseWait, QueuedAccepted };

struct SockEvent {
    SockEventKind kind = SockEventKind::EnteredCloseWait;
    MonoNs ts_ns = 0;
    SockId sk = 0;
    std::uint8_t old_state = 0;
    std::uint8_t new_state = 0;
    bool local_shutdown = false; // LeftCloseWait: our side had shut down sending
    CloseWaitInfo info;
};

struct AcceptErrorEvent {
    MonoNs ts_ns = 0;
    SockId listener_sk = 0;
    ProcessRef process; // fd = the listening fd
    int err = 0;        // EMFILE or ENFILE
    std::uint32_t syscall_nr = 0;
    std::uint64_t nofile_soft = 0;
    std::uint64_t nofile_hard = 0;
};

using KernelEvent = std::variant<SockEvent, AcceptErrorEvent>;

// One TCP socket of an inventory walk (iter/tcp, or sock_diag where the
// iterators are missing). Compact: an audit holds 100k of them.
struct SocketRecord {
    SockId sk = 0; // sock_diag: the socket cookie, not an address
    std::uint64_t ino = 0;
    std::uint32_t netns = 0;
    std::uint32_t recv_q = 0; // listeners: accept queue length
    std::uint32_t send_q = 0; // listeners: backlog limit
    std::uint8_t state = 0;   // CWT_TCP_*
    bool has_socket = false;  // false: a child still in an accept queue
    Tuple tuple;
    MonoNs fin_by_ns = 0; // CLOSE_WAIT: the FIN had arrived by then (0: unknown)
};

// One fd, in some process, that refers to a TCP socket.
struct SocketFd {
    SockId sk = 0;
    std::uint64_t ino = 0;
    ProcessRef process; // .fd is the fd
};

// A listening socket, from the inventory.
struct ListenerInfo {
    SockId sk = 0;
    std::uint32_t netns = 0;
    Endpoint local;
    std::uint32_t queue = 0;   // sk_ack_backlog
    std::uint32_t backlog = 0; // sk_max_ack_backlog
    std::vector<ProcessRef> owners;
    std::optional<MonoNs> last_accept_ns;
};

// Children waiting in accept queues -> the listener whose queue holds them
// (from the kernel; SO_REUSEPORT listeners share an address).
using QueuedOn = std::unordered_map<SockId, SockId>;

// What the daemon learned about a socket when it crossed the leak threshold.
struct Enrichment {
    std::optional<std::uint32_t> recv_q;
    std::vector<ProcessRef> owners; // every fd in every process
    bool gone = false;              // no longer in CLOSE_WAIT per the inventory
};

struct ListenerView {
    Endpoint local;
    std::optional<ProcessRef> owner;
    std::optional<std::uint32_t> queue;
    std::optional<std::uint32_t> backlog;
};

// ---- findings: one type each; `Finding` is their variant ---------------------
// Adding a finding type: a struct here (with kType, its JSON "type"), one
// overload per reporter (report/human.cpp, report/json.cpp).

// What every finding about one CLOSE_WAIT socket says about that socket.
struct SocketFacts {
    SockId sk = 0;
    OwnerKind owner = OwnerKind::Unknown;
    std::vector<ProcessRef> processes; // first is the primary owner
    std::optional<ListenerView> listener;
    Tuple tuple;
    std::uint32_t netns = 0;
    std::optional<double> age_s;     // time in CLOSE_WAIT; none if it predates the tool
    std::optional<double> min_age_s; // lower bound when age_s is unknown
    std::optional<std::uint32_t> recv_q;
    bool preexisting = false;
};

// Entered CLOSE_WAIT (verbose, or queued in an accept queue).
struct CloseWaitFinding {
    static constexpr const char* kType = "close_wait";
    MonoNs ts_ns = 0;
    SocketFacts sock;
    std::string detail;
};

// Still in CLOSE_WAIT after the threshold.
struct LeakFinding {
    static constexpr const char* kType = "close_wait_leak";
    MonoNs ts_ns = 0;
    SocketFacts sock;
    std::string detail;
    // Where the application read EOF (or accepted it), with --leak-site;
    // shared by every leak of one code path.
    std::shared_ptr<const LeakSite> site;
};

// Left CLOSE_WAIT.
struct ClosedFinding {
    static constexpr const char* kType = "close_wait_closed";
    MonoNs ts_ns = 0;
    SocketFacts sock;
    bool was_leak = false; // reported as a leak before
    std::string closed_by; // "application" | "listener_closed" | "reset"
    std::string detail;
};

// accept() failed with EMFILE/ENFILE (counts since the previous line).
struct AcceptErrorFinding {
    static constexpr const char* kType = "accept_error";
    MonoNs ts_ns = 0;
    ProcessRef process; // fd = the listening fd
    std::optional<ListenerView> listener;
    std::string errno_name;
    std::string syscall;
    std::uint64_t count = 0;
    std::uint64_t shed = 0; // accepted and closed at once
    std::optional<std::uint64_t> nofile_soft;
    std::optional<std::uint64_t> nofile_hard;
    // What the process's fds are.
    std::optional<std::size_t> open_fds;
    std::optional<std::size_t> socket_fds;
    std::optional<std::size_t> close_wait_fds;
    std::string detail;
};

// What the accept-queue findings say about their listener.
struct ListenerFacts {
    std::optional<ListenerView> listener;
    std::optional<ProcessRef> process; // the listener's first owner
    std::uint32_t netns = 0;
    std::size_t queued_close_wait = 0;
};

// The kernel dropped connections on a full accept queue.
struct ListenOverflowFinding {
    static constexpr const char* kType = "listen_overflow";
    MonoNs ts_ns = 0;
    ListenerFacts queue;
    std::uint64_t drops = 0;
    std::string detail;
};

// A non-empty accept queue and no accept() for the stall time.
struct AcceptStallFinding {
    static constexpr const char* kType = "accept_stall";
    MonoNs ts_ns = 0;
    ListenerFacts queue;
    std::optional<double> since_last_accept_s;
    std::optional<double> min_stall_s; // lower bound when no accept was ever seen
    std::string detail;
};

// The kernel could not record events.
struct LostFinding {
    static constexpr const char* kType = "lost";
    MonoNs ts_ns = 0;
    std::uint64_t count = 0;
    std::string detail;
};

using Finding = std::variant<CloseWaitFinding, LeakFinding, ClosedFinding, AcceptErrorFinding,
                             ListenOverflowFinding, AcceptStallFinding, LostFinding>;

// The few questions every finding answers.
inline MonoNs ts_of(const Finding& f)
{
    return std::visit([](const auto& x) { return x.ts_ns; }, f);
}
inline const char* type_name(const Finding& f)
{
    return std::visit([](const auto& x) -> const char* { return x.kType; }, f);
}
inline const std::string& detail_of(const Finding& f)
{
    return std::visit([](const auto& x) -> const std::string& { return x.detail; }, f);
}
// The socket a finding is about; nullptr for the accept-path and lost findings.
inline const SocketFacts* socket_of(const Finding& f)
{
    if (auto* c = std::get_if<CloseWaitFinding>(&f))
        return &c->sock;
    if (auto* l = std::get_if<LeakFinding>(&f))
        return &l->sock;
    if (auto* d = std::get_if<ClosedFinding>(&f))
        return &d->sock;
    return nullptr;
}

// The fds of a process, gathered when it fails to accept.
struct FdContext {
    std::optional<std::size_t> open_fds;
    std::size_t socket_fds = 0;
    std::size_t close_wait_fds = 0;
    std::optional<std::uint64_t> nofile_soft;
    std::optional<std::uint64_t> nofile_hard;
};

// One entry of the kernel's accept-error aggregate.
struct AcceptErrorSample {
    std::uint32_t pid = 0;
    std::int32_t listen_fd = -1;
    std::string comm;
    SockId listener_sk = 0;
    std::uint32_t syscall_nr = 0;
    std::uint64_t emfile = 0;
    std::uint64_t enfile = 0;
    std::uint64_t shed = 0;
};

struct AcceptErrorSummary {
    AcceptErrorSample totals;
    FdContext fds;
    std::optional<Endpoint> listener;
};

struct ProcessSummary {
    ProcessRef process; // fd unused
    std::size_t open_close_waits = 0;
    double oldest_age_s = 0;
    bool oldest_predates_start = false;
    std::vector<std::int32_t> fds;
    std::string container; // short container id, "" = the host (filled by the live loop)
    // --leak-site: its most common site, the leaks there and its leaks in all.
    std::string site;
    std::size_t site_leaks = 0;
    std::size_t leaks = 0;
};

struct ListenerSummary {
    ListenerView listener;
    std::uint32_t netns = 0;
    std::size_t queued_close_waits = 0;
    double oldest_age_s = 0;
    bool oldest_predates_start = false;
};

// Leaks grouped by the code path that read EOF (core/site_tally.hpp).
struct SiteSummary {
    std::string label; // LeakSite::label()
    std::string kind;  // "read_eof" | "accept"
    std::string function, file;
    int line = 0;
    bool interpreted = false; // the native stack is an interpreter's
    std::size_t leaks = 0;    // leaks reported at this site
    std::size_t of = 0;       // leaks reported in all
};

struct Summary {
    MonoNs ts_ns = 0;
    std::vector<ProcessSummary> processes;
    std::vector<ListenerSummary> listeners;
    std::size_t unknown_owner = 0;
    std::size_t open_close_waits = 0;
    std::uint64_t leaks_reported = 0;
    std::uint64_t lost_events = 0;
    std::vector<AcceptErrorSummary> accept_errors;
    std::uint64_t listen_overflows = 0;
    std::string inventory; // snapshot: "iterators" | "sock_diag"
    std::size_t netns = 0;         // network namespaces walked
    std::size_t netns_skipped = 0;  // exist, but could not be entered (a hole in the walk)
    std::size_t netns_vanished = 0; // found, then gone before they could be opened (nothing to walk)
    std::vector<SiteSummary> sites; // --leak-site: most leaks first
};

} // namespace cwt
