#include "loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "closewait.skel.h"
#include "error.hpp"
#include "procfs.hpp"

namespace cwt {

namespace {

bool g_libbpf_debug = false;
std::string g_last_libbpf_error;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args)
{
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), fmt, args);
    if (g_libbpf_debug) {
        std::fputs(buf, stderr);
    } else if (level == LIBBPF_WARN) {
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
    struct stat st {};
    return stat(p, &st) == 0;
}

UserError privilege_error()
{
    return UserError("permission denied loading BPF programs",
                     "run as root (sudo closewait-trace), or grant CAP_BPF, CAP_PERFMON and "
                     "CAP_DAC_READ_SEARCH");
}

} // namespace

const char* tier_name(Tier t)
{
    switch (t) {
    case Tier::Auto: return "auto";
    case Tier::Fentry: return "fentry";
    case Tier::Kprobe: return "kprobe";
    case Tier::Tracepoint: return "tracepoint";
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

void BpfSession::SkelDeleter::operator()(closewait_bpf* s) const { closewait_bpf__destroy(s); }
void BpfSession::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

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
        throw UserError("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
                        "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 11+, Ubuntu 20.10+, RHEL 8.2+)");
    if (!has_bpf_privileges())
        throw privilege_error();

    load_with_fallbacks(opts);
    if (opts.attach_live)
        attach_live();
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

void BpfSession::load_with_fallbacks(const LoaderOptions& opts)
{
    if (opts.tier == Tier::Fentry || opts.tier == Tier::Kprobe)
        throw UserError(std::string("probe tier '") + tier_name(opts.tier) + "' is not built into this version",
                        "use --probes auto or --probes tracepoint");

    // One hook at a time, best first: tp_btf needs no tracefs and reads the
    // socket through BTF; the classic tracepoint works everywhere else.
    for (int attempt = 0; attempt < 2; ++attempt) {
        use_btf_set_state_ = attempt == 0;
        closewait_bpf* raw = closewait_bpf__open();
        if (!raw)
            throw UserError(std::string("cannot open the BPF object: ") + std::strerror(errno),
                            "check that libbpf matches the build (ldd closewait-trace)");
        skel_.reset(raw);
        auto& s = *skel_;
        s.rodata->filter_tgid = opts.filter_pid;
        s.rodata->filter_port = opts.filter_port;
        s.rodata->emit_every_close_wait = opts.verbose;
        s.rodata->leak_threshold_ns = opts.leak_threshold_ns;
        bpf_map__set_max_entries(s.maps.close_waits, opts.max_sockets);
        bpf_map__set_max_entries(s.maps.owners, opts.max_sockets);

        bool live = opts.attach_live;
        bpf_program__set_autoload(s.progs.set_state_btf, live && use_btf_set_state_);
        bpf_program__set_autoload(s.progs.set_state_tp, live && !use_btf_set_state_);
        bpf_program__set_autoload(s.progs.accept4_enter, live);
        bpf_program__set_autoload(s.progs.accept4_exit, live);
        bpf_program__set_autoload(s.progs.accept_enter, live);
        bpf_program__set_autoload(s.progs.accept_exit, live);

        g_last_libbpf_error.clear();
        int err = closewait_bpf__load(&s);
        if (err == 0) {
            tier_ = Tier::Tracepoint;
            ProbeResult set_state{"inet_sock_set_state", use_btf_set_state_ ? "tp_btf" : "tracepoint", true,
                                  use_btf_set_state_ ? "BTF-typed tracepoint loads" : "tp_btf did not load"};
            probes_.push_back(set_state);
            probes_.push_back({"accept", "tracepoint syscalls:sys_{enter,exit}_accept{,4}", true,
                               "sees EMFILE/ENFILE, which fails before inet_csk_accept"});
            probes_.push_back({"inventory", "iter/tcp + iter/task_file", true, "BPF iterators load"});
            tier_reason_ = opts.tier == Tier::Tracepoint
                               ? "forced by --probes"
                               : "fentry/kprobe tiers not built in; tracepoint+iterator tier loads";
            if (!use_btf_set_state_)
                tier_reason_ += "; inet_sock_set_state via classic tracepoint (tp_btf failed)";
            return;
        }
        if (err == -EPERM || err == -EACCES)
            throw privilege_error();
        if (attempt == 0 && live)
            continue; // try the classic tracepoint
        throw UserError("cannot load the BPF programs: " + std::string(std::strerror(-err)) +
                            (g_last_libbpf_error.empty() ? "" : " (" + g_last_libbpf_error + ")"),
                        "run with --debug for the verifier log and report it with `uname -r`");
    }
}

void BpfSession::attach_live()
{
    auto& s = *skel_;
    // The syscall tracepoints resolve their ids through tracefs.
    std::string why = ensure_tracefs();
    if (!why.empty())
        throw UserError(why, "mount it: mount -t tracefs nodev /sys/kernel/tracing");
    bpf_program* progs[] = {use_btf_set_state_ ? s.progs.set_state_btf : s.progs.set_state_tp,
                            s.progs.accept4_enter, s.progs.accept4_exit, s.progs.accept_enter,
                            s.progs.accept_exit};
    for (bpf_program* p : progs) {
        bpf_link* l = bpf_program__attach(p);
        if (!l) {
            int e = errno;
            links_.clear();
            if (e == EPERM || e == EACCES)
                throw privilege_error();
            throw UserError(std::string("cannot attach ") + bpf_program__name(p) + ": " + std::strerror(e),
                            "run with --debug; check that tracefs is mounted at /sys/kernel/tracing");
        }
        links_.emplace_back(l);
    }
}

int BpfSession::map_fd(const char* name) const
{
    bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name);
    return m ? bpf_map__fd(m) : -1;
}

int BpfSession::iter_link_fd(bool tcp)
{
    auto& slot = tcp ? iter_tcp_link_ : iter_file_link_;
    if (!slot) {
        bpf_link* l = bpf_program__attach_iter(tcp ? skel_->progs.iter_tcp : skel_->progs.iter_task_file, nullptr);
        if (!l)
            throw UserError(std::string("cannot attach the ") + (tcp ? "iter/tcp" : "iter/task_file") +
                                " iterator: " + std::strerror(errno),
                            "this kernel lacks BPF iterators (needs 5.9+)");
        slot.reset(l);
    }
    return bpf_link__fd(slot.get());
}

} // namespace cwt
