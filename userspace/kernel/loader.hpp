// kernel/: all that touches BPF or the OS (loader, iterators, sock_diag, procfs).
// Includes common/ and core/; only app/ depends on it.
// Loads the BPF object, picks a probe tier by trying, attaches, and owns it
// all (RAII): destroying a BpfSession detaches every program and frees every map.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/units.hpp"
#include "core/target_filter.hpp"

struct closewait_bpf;
struct bpf_link;
struct bpf_program;

namespace cwt
{

enum class Tier { Auto, Fentry, Kprobe, Tracepoint };
const char* tier_name(Tier t);
Tier parse_tier(const std::string& s); // throws UserError

struct LoaderOptions {
    bool attach_live = true; // false: iterators only (--snapshot)
    Tier tier = Tier::Auto;
    std::uint32_t filter_pid = 0;
    SocketFilter socket_filter; // -4/-6, -P/-L/-D, into the kernel's .rodata
    bool verbose = false;
    std::uint64_t leak_threshold_ns = kDefaultThresholdNs;
    std::uint32_t max_sockets = 65536; // close_waits and owners map capacity
    bool debug = false;                // libbpf's own log to stderr
};

struct ProbeResult {
    std::string hook;   // e.g. "inet_sock_set_state"
    std::string choice; // e.g. "tp_btf"
    bool ok = false;
    std::string why; // why this choice (or why the better one failed)
};

class BpfSession
{
  public:
    explicit BpfSession(const LoaderOptions& opts); // throws UserError
    ~BpfSession();
    BpfSession(const BpfSession&) = delete;
    BpfSession& operator=(const BpfSession&) = delete;

    closewait_bpf& skel() { return *skel_; }
    Tier tier() const { return tier_; }
    const std::string& tier_reason() const { return tier_reason_; }
    const std::vector<ProbeResult>& probes() const { return probes_; }

    int map_fd(const char* name) const;
    // Fd of an iterator link for iter/tcp or iter/task_file (created lazily).
    int iter_link_fd(bool tcp);
    // The iter/tcp variant that was loaded (with or without bpf_loop).
    bpf_program* tcp_iter_program() const;

  private:
    struct Candidate {
        Tier tier;
        bool btf_set_state; // tp_btf vs classic tracepoint for inet_sock_set_state
    };
    void load_with_fallbacks(const LoaderOptions& opts);
    // Opens, loads and attaches one candidate; returns "" or why it failed.
    std::string try_candidate(const LoaderOptions& opts, const Candidate& c);
    std::vector<bpf_program*> live_programs(const Candidate& c);

    struct SkelDeleter {
        void operator()(closewait_bpf* s) const;
    };
    struct LinkDeleter {
        void operator()(bpf_link* l) const;
    };
    std::unique_ptr<closewait_bpf, SkelDeleter> skel_;
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
    std::unique_ptr<bpf_link, LinkDeleter> iter_tcp_link_;
    std::unique_ptr<bpf_link, LinkDeleter> iter_file_link_;
    Tier tier_ = Tier::Tracepoint;
    std::string tier_reason_;
    std::vector<ProbeResult> probes_;
    std::string last_load_detail_; // libbpf's last warning, for the final error
    bool uring_ = false;           // io_uring_complete attached
    bool skip_uring_ = false;      // retrying a load without it
    std::size_t fd_short_need_ = 0; // the smallest fd need of a tier skipped for it
};

// Whether the per-socket hash maps (close_waits, owners) are allocated on use
// on this kernel (6.1+) rather than preallocated to --max-sockets.
bool per_socket_on_use();

// Mounts tracefs if no tracing directory is available (classic tracepoints
// resolve their ids there). Returns an empty string on success, else the cause.
std::string ensure_tracefs();

} // namespace cwt
