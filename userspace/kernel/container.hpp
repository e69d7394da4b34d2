// Which container a process runs in, from its cgroup path: the label that
// tells a fleet's metrics apart by container. Empty on the host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cwt
{

// The content of /proc/PID/cgroup -> the short (12 hex digit) container id:
// the last 64-hex-digit component of the cgroup path (docker, containerd,
// CRI-O, podman, kubepods), or "" when there is none.
std::string container_id_from_cgroup(std::string_view cgroup_file);

// Reads /proc/PID/cgroup; "" when unreadable or on the host.
std::string container_of(std::uint32_t pid);

} // namespace cwt
