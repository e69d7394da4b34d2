// What a run looks at: the network namespaces (--netns), the processes
// (-p, --container, --cgroup) and the container behind every process record.
#pragma once

#include <memory>

#include "app/cli.hpp"
#include "core/annotate.hpp"
#include "core/target_filter.hpp"
#include "kernel/container.hpp"
#include "kernel/netns_set.hpp"

namespace cwt
{

class Scope
{
  public:
    // Finds the namespaces; throws UserError if --netns names none that exists.
    explicit Scope(const Options& o);

    NetnsSet& netns() { return netns_; }
    // -p, --container and --cgroup as one filter (a copy shares the process set).
    const TargetFilter& target() const { return target_; }
    // The container filters name processes: look for new ones (live mode).
    void refresh_processes();
    // Whether a network namespace is wanted (--netns).
    bool wants_netns(std::uint32_t netns) const { return !only_netns_ || netns == only_netns_; }
    // pid -> nspid, cgroup, container (cached).
    ProcessMetaFn meta_fn();

  private:
    const Options& o_;
    std::uint32_t only_netns_ = 0;
    NetnsSet netns_;
    std::shared_ptr<TargetFilter::PidSet> pids_;
    TargetFilter target_;
    ProcessMetaCache meta_;
};

} // namespace cwt
