#include "kernel/loader.hpp"

#include <algorithm>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/units.hpp"
#include "closewait.skel.h"
#include "common/error.hpp"
#include "common/log.hpp"
#include "kernel/caps.hpp"
#include "kernel/fd_budget.hpp"
#include "kernel/procfs.hpp"

namespace cwt
{

namespace
{

bool g_libbpf_debug = false;
std::string g_last_libbpf_error;
// libbpf said EMFILE/ENFILE (its feature probes too, which otherwise turn
// the shortage into a missing feature and a later EINVAL).
bool g_libbpf_fd_shortage = false;

// The socket filters into .rodata (at most kMaxPorts per list: the CLI checks).
template <typename Rodata> void set_socket_filter(Rodata& r, const SocketFilter& f)
{
    auto put = [](const std::vector<std::uint16_t>& from, volatile std::uint16_t* to,
                  volatile std::uint8_t& n) {
        n = static_cast<std::uint8_t>(std::min(from.size(), SocketFilter::kMaxPorts));
        for (std::size_t i = 0; i < n; ++i)
            to[i] = from[i];
    };
    put(f.ports, r.filter_ports, r.filter_n_ports);
    put(f.lports, r.filter_lports, r.filter_n_lports);
    put(f.rports, r.filter_rports, r.filter_n_rports);
    r.filter_family = f.family;
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args)
{
    char buf[1024];
    va_list copy;
    va_copy(copy, args);
    std::vsnprintf(buf, sizeof(buf), fmt, copy);
    va_end(copy);
    if (names_fd_shortage(buf))
        g_libbpf_fd_shortage = true;
    if (g_libbpf_debug) {
        // Whole: a verifier log is one message of many kilobytes.
        va_list again;
        va_copy(again, args);
        int n = std::vsnprintf(nullptr, 0, fmt, again);
        va_end(again);
        if (n > 0) {
            std::string text(static_cast<std::size_t>(n) + 1, '\0');
            std::vsnprintf(text.data(), text.size(), fmt, args);
            text.pop_back();
            log_debug_block(text);
        }
        return 0;
    }
    if (level == LIBBPF_WARN) {
        // Keep the last warning: it names the cause when a load fails.
        std::string line = buf;
        while (!line.empty() && (line.back() == '\n' || line.back() == ' '))
            line.pop_back();
        if (!line.empty() && line.find("-- BEGIN") == std::string::npos &&
            line.find("-- END") == std::string::npos)
            g_last_libbpf_error = line;
    }
    return 0;
}

bool path_exists(const char* p)
{
    struct stat st {
    };
    return stat(p, &st) == 0;
}

// iter/tcp (5.9) and iter/task_file (5.8) exist where their context types do.
std::string missing_iterators()
{
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux)
        return "";
    std::string missing;
    for (const char* t : {"bpf_iter__tcp", "bpf_iter__task_file"})
        if (btf__find_by_name_kind(vmlinux, t, BTF_KIND_STRUCT) < 0)
            missing += std::string(missing.empty() ? "" : ", ") + t;
    btf__free(vmlinux);
    return missing;
}

// bpf_loop (5.17) is offered to every program type: probe it once.
bool kernel_has_bpf_loop()
{
    static const bool has = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_loop, nullptr) == 1;
    return has;
}

// Hash maps allocated on use may be used from tracing programs (tracepoint,
// raw_tp, kprobe) safely from 6.1 on: the BPF memory allocator (struct
// bpf_mem_alloc, "bpf: Introduce any context BPF specific memory allocator")
// came with "bpf: Relax the requirement to use preallocated hash maps in
// tracing progs". Before it, the verifier accepts such a map only with a
// kernel WARN (and refuses it on PREEMPT_RT), so those kernels keep the
// preallocated maps.
bool kernel_has_bpf_mem_alloc()
{
    static const bool has = [] {
        btf* vmlinux = btf__load_vmlinux_btf();
        if (!vmlinux)
            return false;
        bool found = btf__find_by_name_kind(vmlinux, "bpf_mem_alloc", BTF_KIND_STRUCT) >= 0;
        btf__free(vmlinux);
        return found;
    }();
    return has;
}

UserError privilege_error(const std::vector<std::string>& missing)
{
    std::string names;
    for (const auto& m : missing)
        names += (names.empty() ? "" : ", ") + m;
    return UserError("missing capabilities " + names +
                         " to load the BPF programs and read every process's fds",
                     "run as root (sudo closewait-trace), or grant " + required_capabilities_text());
}

} // namespace

bool per_socket_on_use()
{
    return kernel_has_bpf_mem_alloc();
}

const char* tier_name(Tier t)
{
    switch (t) {
    case Tier::Auto:
        return "auto";
    case Tier::Fentry:
        return "fentry";
    case Tier::Kprobe:
        return "kprobe";
    case Tier::Tracepoint:
        return "tracepoint";
    }
    return "?";
}

Tier parse_tier(const std::string& s)
{
    if (s == "auto")
        return Tier::Auto;
    if (s == "fentry")
        return Tier::Fentry;
    if (s == "kprobe")
        return Tier::Kprobe;
    if (s == "tracepoint")
        return Tier::Tracepoint;
    throw UserError("unknown probe tier '" + s + "'", "use --probes auto|fentry|kprobe|tracepoint");
}

void BpfSession::SkelDeleter::operator()(closewait_bpf* s) const
{
    closewait_bpf__destroy(s);
}
void BpfSession::LinkDeleter::operator()(bpf_link* l) const
{
    bpf_link__destroy(l);
}

std::string ensure_tracefs()
{
    if (path_exists("/sys/kernel/tracing/events") || path_exists("/sys/kernel/debug/tracing/events"))
        return "";
    if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0)
        return "";
    return std::string("tracefs is not mounted and mounting it failed: ") + std::strerror(errno);
}

BpfSession::BpfSession(const LoaderOptions& opts)
{
    g_libbpf_debug = opts.debug;
    libbpf_set_print(libbpf_print);

    if (!path_exists("/sys/kernel/btf/vmlinux"))
        throw UserError(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 11+, Ubuntu 20.10+, RHEL 8.2+)");
    if (auto missing = missing_required_capabilities(); !missing.empty())
        throw privilege_error(missing);

    load_with_fallbacks(opts);
}

BpfSession::~BpfSession()
{
    // Links first, then the object; unique_ptr members would do it in reverse
    // declaration order anyway, this just makes the order explicit.
    links_.clear();
    iter_tcp_link_.reset();
    iter_file_link_.reset();
    skel_.reset();
}

std::vector<bpf_program*> BpfSession::live_programs(const Candidate& c)
{
    auto& p = skel_->progs;
    std::vector<bpf_program*> v = {c.btf_set_state ? p.set_state_btf : p.set_state_tp, p.accept4_enter,
                                   p.accept4_exit, p.accept_enter, p.accept_exit};
    if (c.tier == Tier::Fentry) {
        v.push_back(p.accept_fexit);
        v.push_back(p.fd_install_fentry);
    } else if (c.tier == Tier::Kprobe) {
        v.push_back(p.accept_kprobe);
        v.push_back(p.accept_kretprobe);
        v.push_back(p.fd_install_kprobe);
    }
    return v;
}

std::string BpfSession::try_candidate(const LoaderOptions& opts, const Candidate& c)
{
    links_.clear();
    skel_.reset();
    closewait_bpf* raw = closewait_bpf__open();
    if (!raw)
        throw UserError(std::string("cannot open the BPF object: ") + std::strerror(errno),
                        "check that libbpf matches the build (ldd closewait-trace)");
    skel_.reset(raw);
    auto& s = *skel_;
    s.rodata->filter_tgid = opts.filter_pid;
    set_socket_filter(*s.rodata, opts.socket_filter);
    s.rodata->emit_every_close_wait = opts.verbose;
    s.rodata->leak_threshold_ns = opts.leak_threshold_ns;
    s.rodata->ringbuf_wake_bytes = bpf_map__max_entries(s.maps.events) / 4;
    if (auto hz = kernel_hz())
        s.rodata->jiffy_ns = kNsPerSec / *hz;
    if (opts.attach_live) {
        bpf_map__set_max_entries(s.maps.close_waits, opts.max_sockets);
        bpf_map__set_max_entries(s.maps.owners, opts.max_sockets);
        if (per_socket_on_use()) {
            // Memory follows the sockets (and listeners, and threads in
            // accept()) tracked, not the capacities.
            for (bpf_map* m : {s.maps.close_waits, s.maps.owners, s.maps.listeners, s.maps.accept_args})
                bpf_map__set_map_flags(m, BPF_F_NO_PREALLOC);
        }
        if (c.tier != Tier::Kprobe)
            bpf_map__set_max_entries(s.maps.kaccept_args, 1); // kprobe tier only
    } else {
        // Iterators only: the live maps are never used, so keep them tiny
        // (hash maps are preallocated in full).
        // The audit's fd walk picks listeners and CLOSE_WAITs by their state
        // (iterators.bpf.c), so `wanted` is not used either.
        for (bpf_map* m : {s.maps.close_waits, s.maps.owners, s.maps.listeners, s.maps.accept_args,
                           s.maps.accept_errors, s.maps.kaccept_args, s.maps.wanted})
            bpf_map__set_max_entries(m, 1);
        bpf_map__set_max_entries(s.maps.events, 4096);
    }

    // Everything off but the iterators, then exactly this candidate's hooks on.
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, s.obj)
    {
        bpf_program__set_autoload(prog, std::strncmp(bpf_program__section_name(prog), "iter/", 5) == 0);
    }
    {
        // One iter/tcp variant: with bpf_loop where the kernel has it.
        bool loop = kernel_has_bpf_loop();
        bpf_program__set_autoload(s.progs.iter_tcp, loop);
        bpf_program__set_autoload(s.progs.iter_tcp_no_queue_walk, !loop);
    }
    std::vector<bpf_program*> live;
    if (opts.attach_live) {
        live = live_programs(c);
        for (bpf_program* p : live)
            bpf_program__set_autoload(p, true);
        bpf_program__set_autoload(s.progs.uring_complete, !skip_uring_);
    }

    // Enough fds for this candidate? If not, Auto tries the smaller tiers.
    {
        std::size_t maps = 0, progs = 0;
        bpf_map* m = nullptr;
        bpf_object__for_each_map(m, s.obj)
        {
            ++maps;
        }
        bpf_object__for_each_program(prog, s.obj)
        {
            progs += bpf_program__autoload(prog) ? 1 : 0;
        }
        std::size_t needed = fds_needed(maps, progs, live.size() + 1);
        if (needed > fd_hard_limit()) {
            fd_short_need_ = fd_short_need_ ? std::min(fd_short_need_, needed) : needed;
            return "needs about " + std::to_string(needed) + " file descriptors, the hard limit is " +
                   std::to_string(fd_hard_limit());
        }
        note_fds_needed(needed);
    }

    g_last_libbpf_error.clear();
    g_libbpf_fd_shortage = false;
    int err = closewait_bpf__load(&s);
    if (err && (is_fd_shortage(-err) || g_libbpf_fd_shortage))
        throw_fd_shortage(-err);
    if (err && err != -EPERM && err != -EACCES && opts.attach_live && !skip_uring_) {
        // A kernel without io_uring has no type for its tracepoint: the tier
        // itself may still load without that one optional program.
        skip_uring_ = true;
        std::string why = try_candidate(opts, c);
        skip_uring_ = false;
        return why;
    }
    if (err) {
        last_load_detail_ = g_last_libbpf_error;
        return std::string("load: ") + std::strerror(-err);
    }
    if (!live.empty()) {
        // The syscall tracepoints resolve their ids through tracefs.
        std::string why = ensure_tracefs();
        if (!why.empty())
            throw UserError(why, "mount it: mount -t tracefs nodev /sys/kernel/tracing");
    }
    for (bpf_program* p : live) {
        bpf_link* l = bpf_program__attach(p);
        if (!l) {
            int e = errno;
            if (is_fd_shortage(e))
                throw_fd_shortage(e);
            links_.clear();
            return std::string("attach ") + bpf_program__name(p) + ": " + std::strerror(e);
        }
        links_.emplace_back(l);
    }
    // Optional: io_uring accept failures, where the kernel has io_uring.
    uring_ = false;
    if (!live.empty() && !skip_uring_) {
        if (bpf_link* l = bpf_program__attach(s.progs.uring_complete)) {
            links_.emplace_back(l);
            uring_ = true;
        }
    }
    return "";
}

void BpfSession::load_with_fallbacks(const LoaderOptions& opts)
{
    // Best first. fentry/fexit see every accept (io_uring and kernel ones
    // too) and every fd_install (dup, SCM_RIGHTS); kprobes do the same where
    // fentry is refused; tracepoints + iterators work everywhere.
    std::vector<Candidate> order;
    for (const Candidate& c : {Candidate{Tier::Fentry, true}, Candidate{Tier::Kprobe, true},
                               Candidate{Tier::Tracepoint, true}, Candidate{Tier::Tracepoint, false}})
        if (opts.tier == Tier::Auto || opts.tier == c.tier)
            order.push_back(c);
    if (!opts.attach_live)
        order = {{Tier::Tracepoint, true}}; // iterators only: no hooks to choose

    std::string failures;
    for (const auto& c : order) {
        std::string why = try_candidate(opts, c);
        if (why.empty()) {
            tier_ = c.tier;
            probes_.push_back({"inet_sock_set_state", c.btf_set_state ? "tp_btf" : "tracepoint", true,
                               c.btf_set_state ? "BTF-typed, no tracefs needed" : "tp_btf did not load"});
            probes_.push_back({"accept errors", "tracepoint syscalls:sys_{enter,exit}_accept{,4}", true,
                               "EMFILE/ENFILE fail before inet_csk_accept runs"});
            if (c.tier == Tier::Fentry)
                probes_.push_back({"accept + fd install", "fexit/inet_csk_accept, fentry/fd_install", true,
                                   "sees io_uring and kernel accepts, dup and SCM_RIGHTS"});
            else if (c.tier == Tier::Kprobe)
                probes_.push_back({"accept + fd install", "kretprobe/inet_csk_accept, kprobe/fd_install",
                                   true, "fentry unavailable"});
            else
                probes_.push_back(
                    {"accept + fd install", "syscall exits only", true, "fentry and kprobes unavailable"});
            probes_.push_back({"io_uring accept errors", "tracepoint io_uring:io_uring_complete", uring_,
                               uring_ ? "io_uring present" : "no io_uring tracepoint: not watched"});
            if (opts.attach_live)
                probes_.push_back(
                    {"per-socket state",
                     per_socket_on_use() ? "hash maps, allocated on use" : "hash maps, preallocated", true,
                     per_socket_on_use()
                         ? "6.1+ (bpf_mem_alloc): memory follows the sockets tracked, up to --max-sockets"
                         : "before 6.1 tracing programs need preallocated maps: --max-sockets sizes them"});
            probes_.push_back({"inventory", "iter/tcp + iter/task_file", true, "BPF iterators"});
            probes_.push_back({"accept queues",
                               kernel_has_bpf_loop() ? "walked per listener (bpf_loop)" : "by address", true,
                               kernel_has_bpf_loop() ? "SO_REUSEPORT listeners told apart"
                                                     : "no bpf_loop: SO_REUSEPORT groups merge"});
            tier_reason_ = !opts.attach_live         ? "iterators only"
                           : opts.tier != Tier::Auto ? "forced by --probes"
                           : failures.empty()        ? "best tier loads"
                                                     : failures;
            return;
        }
        if (!failures.empty())
            failures += "; ";
        failures +=
            std::string(tier_name(c.tier)) + (c.btf_set_state ? "" : "+classic tracepoint") + ": " + why;
    }
    // Too few fds for a tier that would have been tried: that, and nothing
    // else, is the cause to name.
    if (fd_short_need_)
        throw FdShortage(fd_short_need_, fd_hard_limit());
    // Every mode reads the sockets that exist through the iterators, and
    // they are in every load: name that cause when it is the one.
    std::string missing = missing_iterators();
    if (!missing.empty())
        throw UserError(
            "this kernel has no BPF iterators for TCP sockets and fd tables (no " + missing + " in BTF)",
            opts.attach_live ? "use a 5.9+ kernel, or closewait-trace --snapshot, which falls back to "
                               "sock_diag and /proc"
                             : "use --inventory sock_diag");
    if (!last_load_detail_.empty())
        failures += " [" + last_load_detail_ + "]";
    throw UserError("no probe tier could be loaded (" + failures + ")",
                    opts.tier == Tier::Auto
                        ? "run with --debug for the verifier log and report it with `uname -r`"
                        : "try --probes auto");
}

int BpfSession::map_fd(const char* name) const
{
    bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name);
    return m ? bpf_map__fd(m) : -1;
}

bpf_program* BpfSession::tcp_iter_program() const
{
    return bpf_program__autoload(skel_->progs.iter_tcp) ? skel_->progs.iter_tcp
                                                        : skel_->progs.iter_tcp_no_queue_walk;
}

int BpfSession::iter_link_fd(bool tcp)
{
    auto& slot = tcp ? iter_tcp_link_ : iter_file_link_;
    if (!slot) {
        bpf_link* l =
            bpf_program__attach_iter(tcp ? tcp_iter_program() : skel_->progs.iter_task_file, nullptr);
        if (!l && is_fd_shortage(errno))
            throw_fd_shortage(errno);
        if (!l)
            throw UserError(std::string("cannot attach the ") + (tcp ? "iter/tcp" : "iter/task_file") +
                                " iterator: " + std::strerror(errno),
                            "this kernel lacks BPF iterators (needs 5.9+)");
        slot.reset(l);
    }
    return bpf_link__fd(slot.get());
}

} // namespace cwt
