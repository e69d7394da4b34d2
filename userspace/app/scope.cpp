#include "app/scope.hpp"

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
}

ProcessMetaFn Scope::meta_fn()
{
    return [this](std::uint32_t pid) { return meta_.get(pid); };
}

} // namespace cwt
