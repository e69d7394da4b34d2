// Capabilities (libcap). The load needs CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN); the inventory reads every process's fds and fdinfo
// (CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE); setns into other network
// namespaces needs CAP_SYS_ADMIN. Once the probes are attached and the
// inventory taken, the live loop keeps only what its periodic work needs.
#pragma once

#include <string>
#include <vector>

namespace cwt
{

// Whether this process may load BPF tracing programs (CAP_BPF with
// CAP_PERFMON, or CAP_SYS_ADMIN) in its effective set.
bool has_bpf_privileges();

// What a load and the inventory need, and which of them are missing (upper
// case, "CAP_PERFMON"): CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN, which
// implies both), and CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE to read other
// processes' /proc/PID/fd, fdinfo and limits.
std::vector<std::string> missing_required_capabilities();
std::string required_capabilities_text();

// What the live loop keeps after the start: reading other processes'
// /proc/PID/fd and fdinfo (CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE) and setns
// into their network namespaces (CAP_SYS_ADMIN). Running the iterators,
// reading maps and the ring buffer need none. writes_files: a metrics file
// in a directory of another user (node_exporter's) needs CAP_DAC_OVERRIDE.
std::vector<std::string> live_loop_capabilities(bool writes_files);

// Drops from the effective, permitted and inheritable sets every capability
// not in `keep`. Returns "" or why it failed (the run goes on regardless).
std::string drop_capabilities_except(const std::vector<std::string>& keep);

} // namespace cwt
