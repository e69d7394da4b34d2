// Pure parsers of the /proc texts the tool reads (status, fdinfo, cgroup,
// limits): bytes in, facts out. Any input is acceptable, including truncated,
// oversized or binary text; a field that does not parse is absent.
// kernel/procfs.cpp reads the files; tests/fuzz fuzzes these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cwt
{

// /proc/PID/status (or /proc/PID/task/TID/status).
struct ProcStatus {
    std::string name; // "Name:" (the kernel escapes it; kept as read)
    char state = 0;   // "State:" letter: R S D T t Z X I ...; 0 if absent
    std::optional<std::uint32_t> tgid;
    std::optional<std::uint32_t> pid;
    std::optional<std::uint32_t> ppid;
    std::optional<std::uint64_t> cap_eff; // "CapEff:" (hex)
    std::optional<std::uint64_t> cap_prm; // "CapPrm:" (hex)
    // A process that has exited (zombie or dead) holds no fds any more.
    bool exited() const { return state == 'Z' || state == 'X'; }
};
ProcStatus parse_proc_status(std::string_view text);

// /proc/PID/fdinfo/FD.
struct FdInfoText {
    std::optional<std::uint64_t> pos;
    std::optional<std::uint32_t> flags; // octal in the file
    std::optional<std::uint64_t> mnt_id;
    std::optional<std::uint64_t> ino;
};
FdInfoText parse_fdinfo(std::string_view text);

// /proc/PID/cgroup: the cgroup v2 path ("0::/system.slice/x.service"), or
// else the path of the first v1 hierarchy line; nullopt if none.
std::optional<std::string> parse_cgroup_path(std::string_view text);

// One row of /proc/PID/limits, e.g. "Max open files". A value of
// "unlimited" is UINT64_MAX.
struct LimitRow {
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
};
std::optional<LimitRow> parse_limit(std::string_view text, std::string_view name);

// Decimal or hexadecimal unsigned numbers: whole token, no sign, no
// overflow; nullopt otherwise.
std::optional<std::uint64_t> parse_u64(std::string_view s, int base = 10);

} // namespace cwt
