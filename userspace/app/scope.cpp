#include "app/scope.hpp"

#include "closewait_trace/events.h"
#include "common/error.hpp"

namespace cwt
{

Scope::Scope(const Options& o) : o_(o), only_netns_(o.netns), netns_(o.netns)
{
    if (o.netns && netns_.size() == 0)
        throw UserError("no network namespace with inode " + std::to_string(o.netns) + " exists",
                        "list them with lsns -t net");
    if (!o.container.empty() || !o.cgroup.empty()) {
        pids_ = std::make_shared<TargetFilter::PidSet>(pids_in_scope(o.container, o.cgroup));
        if (pids_->empty())
            throw UserError(std::string("no process is in ") +
                                (o.container.empty() ? "cgroup " + o.cgroup : "container " + o.container),
                            "check the id (docker ps, crictl ps) or the path (systemd-cgls)");
    }
    target_ = TargetFilter(o.pid, pids_);
}

void Scope::refresh_processes()
{
    if (!pids_)
        return;
    for (std::uint32_t pid : pids_in_scope(o_.container, o_.cgroup))
        pids_->insert(pid); // processes that left stay: their sockets are still theirs
    if (kernel_cgroups_)
        kernel_cgroups_->set(cgroup_ids_in_scope(cgroup_root_, o_.container, o_.cgroup, *pids_));
}

void Scope::attach_kernel_filter(BpfSession& s)
{
    auto f = std::make_unique<KernelCgroupFilter>(s);
    if (!f->active() || !pids_)
        return;
    kernel_cgroups_ = std::move(f);
    cgroup_root_ = cgroup_v2_mount();
    kernel_cgroups_->set(cgroup_ids_in_scope(cgroup_root_, o_.container, o_.cgroup, *pids_));
}

std::string Scope::kernel_filter_status() const
{
    if (!kernel_cgroups_)
        return "";
    if (kernel_cgroups_->opened())
        return "(cgroup filter opened in the kernel: more than " + std::to_string(CWT_MAX_SCOPE_CGROUPS) +
               " cgroups in scope, filtered in userspace only)";
    return "(cgroup filter in the kernel: " + std::to_string(kernel_cgroups_->size()) + " v2 cgroups under " +
           cgroup_root_ + ")";
}

ProcessMetaFn Scope::meta_fn()
{
    return [this](std::uint32_t pid) { return meta_.get(pid); };
}

} // namespace cwt
