// The kernel's half of --container and --cgroup: the v2 cgroup ids in scope,
// kept in the BPF map `cgroup_scope`. The accept path and connect() record a
// socket's owner only when the task's cgroup id (bpf_get_current_cgroup_id,
// always the default v2 hierarchy's, also on a hybrid v1/v2 host) is there.
// Userspace stays the authority (target_filter): the kernel set may hold more
// than the scope (the v2 cgroup of a process whose container only a v1
// hierarchy names), never less, unless it is full and then it opens.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

namespace cwt
{

class BpfSession;

// Where the v2 (unified) hierarchy is mounted: /sys/fs/cgroup/unified on a
// hybrid host, /sys/fs/cgroup on a pure v2 one; "" if neither is cgroup2.
std::string cgroup_v2_mount();

// The ids (directory inodes) of the v2 cgroups in scope: every directory
// under `root` whose path matches --container ID-PREFIX and --cgroup PATH
// (that cgroup and below; a container's sub-cgroups name it too), and the
// v2 cgroup of each of `pids` (read from `proc`).
std::unordered_set<std::uint64_t>
cgroup_ids_in_scope(const std::string& root, const std::string& container_prefix, const std::string& cgroup,
                    const std::unordered_set<std::uint32_t>& pids, const std::string& proc = "/proc");

// The map and its gate in a loaded session. Inactive (every call a no-op)
// when the session was loaded without filter_cgroup.
class KernelCgroupFilter
{
  public:
    explicit KernelCgroupFilter(BpfSession& s);
    bool active() const { return map_fd_ >= 0; }
    // Makes the map hold exactly `ids`. More than it can hold: the filter
    // opens for the rest of the run (every cgroup passes; userspace filters).
    void set(const std::unordered_set<std::uint64_t>& ids);
    bool opened() const { return opened_; }
    std::size_t size() const { return ids_.size(); }

  private:
    BpfSession* s_ = nullptr;
    int map_fd_ = -1;
    bool opened_ = false;
    std::unordered_set<std::uint64_t> ids_;
};

} // namespace cwt
