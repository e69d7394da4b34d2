// Which container a process runs in, from its cgroup path. Pure: strings in,
// values out, so every runtime's format is unit-tested without a runtime.
//
// Covered path formats (the leaf-most matching component wins, so a process
// in a sub-cgroup of a container scope, e.g. `.../docker-ID.scope/init.scope`,
// still names that container):
//   docker      `docker-<id>.scope` (systemd driver), `/docker/<id>` (cgroupfs driver)
//   containerd  `cri-containerd-<id>.scope` (CRI, systemd driver)
//   cri-o       `crio-<id>.scope` (`crio-conmon-<id>.scope` is its monitor, not the container)
//   podman      `libpod-<id>.scope`, `/libpod_parent/libpod-<id>` (`libpod-conmon-` is the monitor)
//   kubernetes  `<id>` directly under a `pod<uid>` directory (cgroupfs driver; runtime "cri")
// and the pod: `kubepods[-QOS]-pod<uid>.slice` (systemd driver: underscores in
// the uid stand for its dashes) or `pod<uid>` (cgroupfs driver).
// An id is 12 to 64 lowercase hex digits; anything else is not a container.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cwt
{

struct ContainerRef {
    std::string id;      // full id as the runtime names it
    std::string runtime; // "docker" | "containerd" | "cri-o" | "podman" | "cri"
    std::string pod_uid; // Kubernetes pod uid with dashes, "" outside a pod
    bool operator==(const ContainerRef& o) const
    {
        return id == o.id && runtime == o.runtime && pod_uid == o.pod_uid;
    }
};

// What a process record says beyond pid, comm and fd: where the process runs.
struct ProcessMeta {
    std::uint32_t nspid = 0; // the pid inside its own pid namespace (0: unknown)
    std::string cgroup;      // cgroup v2 path (hybrid hosts: the unified one), "" unknown
    std::optional<ContainerRef> container;
};

// Whether a process is in scope of --container ID-PREFIX / --cgroup PATH
// (that cgroup or below it). Empty filters match everything.
bool container_matches(const ProcessMeta& m, const std::string& id_prefix);
bool cgroup_matches(const ProcessMeta& m, const std::string& cgroup);

// The container a cgroup path belongs to; nullopt on the host.
std::optional<ContainerRef> parse_container(std::string_view cgroup_path);

// The pod uid of the innermost `pod<uid>` component, or "".
std::string parse_pod_uid(std::string_view cgroup_path);

// The first 12 characters of an id, as `docker ps` shows it.
std::string short_container_id(const std::string& id);

// The cgroup path in the text of /proc/PID/cgroup: the unified (v2)
// hierarchy's `0::` line, else the v1 `name=systemd` line. nullopt if neither
// is there or the text is malformed.
std::optional<std::string> cgroup_path_from_proc(std::string_view proc_cgroup);

// The container of a process from the whole text of /proc/PID/cgroup: from
// the path cgroup_path_from_proc() picks, else from any v1 hierarchy's path
// (a hybrid host whose runtime manages only the v1 controllers).
std::optional<ContainerRef> container_from_proc(std::string_view proc_cgroup);

// The pid in the innermost pid namespace, from the `NSpid:` line of
// /proc/PID/status (its last field). nullopt if absent or malformed.
std::optional<std::uint32_t> nspid_from_status(std::string_view proc_status);

} // namespace cwt
