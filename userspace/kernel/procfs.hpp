// Small facts about processes and the kernel that only /proc and syscalls know.
// Used off the hot path: at startup, and when a rare finding needs context.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/proc_text.hpp"

namespace cwt
{

// /proc/PID/status, parsed (core/proc_text.hpp); nullopt if unreadable.
std::optional<ProcStatus> proc_status(std::uint32_t pid);
// The process has exited: gone, or a zombie.
bool process_exited(std::uint32_t pid);
// /proc/PID/fdinfo/FD, parsed; nullopt if unreadable.
std::optional<FdInfoText> fd_info(std::uint32_t pid, int fd);
// The cgroup (v2 path, else the first v1 one) of pid.
std::optional<std::string> cgroup_path(std::uint32_t pid);

std::string kernel_release();
bool pid_exists(std::uint32_t pid);
std::optional<std::size_t> count_open_fds(std::uint32_t pid);
struct NofileLimit {
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
};
// From /proc/PID/limits (readable by anyone), else prlimit(2).
std::optional<NofileLimit> nofile_limit(std::uint32_t pid);

// TcpExt ListenOverflows of this process's network namespace (/proc/net/netstat).
std::optional<std::uint64_t> listen_overflows();

// CONFIG_HZ of the running kernel, from /boot/config-RELEASE or /proc/config.gz.
std::optional<unsigned> kernel_hz();

// TCP sockets in use in this network namespace (/proc/net/sockstat "inuse").
std::optional<std::uint64_t> tcp_sockets_in_use();

// Inode of this process's network namespace (what BPF reads as ns.inum).
std::uint32_t own_netns();

} // namespace cwt
