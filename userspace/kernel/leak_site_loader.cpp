#include "kernel/leak_site_loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "closewait_trace/events.h"
#include "common/error.hpp"
#include "leak_site.skel.h"

namespace cwt
{

void LeakSiteSession::SkelDeleter::operator()(leak_site_bpf* s) const
{
    leak_site_bpf__destroy(s);
}

void LeakSiteSession::LinkDeleter::operator()(bpf_link* l) const
{
    bpf_link__destroy(l);
}

LeakSiteSession::LeakSiteSession(const LeakSiteOptions& o)
{
    skel_.reset(leak_site_bpf__open());
    if (!skel_)
        throw UserError("cannot open the leak-site BPF object", "run with --debug and report it");
    auto* s = skel_.get();
    s->rodata->filter_tgid = o.filter_pid;
    s->rodata->leak_site_accepts = o.accepts;
    bpf_map__set_max_entries(s->maps.leak_sites, o.max_sockets);
    // bpf_map__reuse_fd adopts the kernel map's type, flags (BPF_F_NO_PREALLOC
    // from 6.1) and max_entries; the layout the programs were compiled for
    // must match, or they would read another struct.
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(o.close_waits_fd, &info, &len))
        throw UserError(std::string("cannot read the close_waits map: ") + std::strerror(errno),
                        "run with --debug and report it");
    if (info.type != bpf_map__type(s->maps.close_waits) ||
        info.key_size != bpf_map__key_size(s->maps.close_waits) ||
        info.value_size != bpf_map__value_size(s->maps.close_waits))
        throw UserError("the close_waits map of the main programs differs from the leak-site programs' one",
                        "rebuild closewait-trace from one source tree");
    if (int err = bpf_map__reuse_fd(s->maps.close_waits, o.close_waits_fd))
        throw UserError(std::string("cannot share the close_waits map with the leak-site programs: ") +
                            std::strerror(-err),
                        "run with --debug and report it");
    // Before 5.15 (no bpf_task_pt_regs) the fd is stashed at syscall entry.
    bool pt_regs = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, nullptr) == 1;
    for (bpf_program* p : {s->progs.leak_read_enter, s->progs.leak_recvfrom_enter, s->progs.leak_recvmsg_enter,
                           s->progs.leak_readv_enter})
        bpf_program__set_autoload(p, !pt_regs);
    if (int err = leak_site_bpf__load(s))
        throw UserError(std::string("cannot load the leak-site programs: ") + std::strerror(-err),
                        "run without --leak-site, or with --debug for the verifier log");
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, s->obj)
    {
        if (!bpf_program__autoload(p))
            continue;
        bpf_link* l = bpf_program__attach(p);
        if (!l)
            throw UserError(std::string("cannot attach ") + bpf_program__name(p) + ": " + std::strerror(errno),
                            "run without --leak-site");
        links_.emplace_back(l);
    }
}

LeakSiteSession::~LeakSiteSession() = default;

int LeakSiteSession::sites_fd() const
{
    return bpf_map__fd(skel_->maps.leak_sites);
}

int LeakSiteSession::stacks_fd() const
{
    return bpf_map__fd(skel_->maps.leak_stacks);
}

LeakSiteCounters LeakSiteSession::counters() const
{
    LeakSiteCounters c;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return c;
    std::uint64_t* sum[CWT_LCNT_MAX] = {&c.captured, &c.stack_failed, &c.copy_failed, &c.map_full};
    std::vector<std::uint64_t> v(static_cast<std::size_t>(ncpu));
    for (std::uint32_t i = 0; i < CWT_LCNT_MAX; ++i)
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.leak_counters), &i, v.data()) == 0)
            for (auto x : v)
                *sum[i] += x;
    return c;
}

} // namespace cwt
