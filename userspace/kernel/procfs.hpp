// Small facts about processes and the kernel that only /proc and syscalls know.
// Used off the hot path: at startup, and when a rare finding needs context.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cwt
{

std::string kernel_release();
bool pid_exists(std::uint32_t pid);
std::optional<std::size_t> count_open_fds(std::uint32_t pid);
struct NofileLimit {
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
};
std::optional<NofileLimit> nofile_limit(std::uint32_t pid);

// TcpExt ListenOverflows of this process's network namespace (/proc/net/netstat).
std::optional<std::uint64_t> listen_overflows();

// CONFIG_HZ of the running kernel, from /boot/config-RELEASE or /proc/config.gz.
std::optional<unsigned> kernel_hz();

// TCP sockets in use in this network namespace (/proc/net/sockstat "inuse").
std::optional<std::uint64_t> tcp_sockets_in_use();

// Inode of this process's network namespace (what BPF reads as ns.inum).
std::uint32_t own_netns();

// Whether this process may load BPF tracing programs (root, or CAP_BPF with
// CAP_PERFMON, or CAP_SYS_ADMIN).
bool has_bpf_privileges();

} // namespace cwt
