// The container behind a process, read from /proc/PID/cgroup and
// /proc/PID/status. The parsing is core/container.hpp (pure, unit-tested);
// this is the thin reader, with a cache for the reporters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.hpp"
#include "core/container.hpp"

namespace cwt
{

// The content of /proc/PID/cgroup -> the short (12 hex digit) container id,
// or "" on the host: the label that tells a fleet's metrics apart.
std::string container_id_from_cgroup(std::string_view cgroup_file);

// Reads /proc/PID/cgroup; "" when unreadable or on the host.
std::string container_of(std::uint32_t pid);

// nspid, cgroup and container of a process; null if it is gone.
std::shared_ptr<const ProcessMeta> read_process_meta(std::uint32_t pid, const std::string& proc = "/proc");

// read_process_meta() with a cache: a process is read once, again after
// kMaxAgeNs (its pid may have been reused), and its last record kept after
// it exits (findings about its sockets still name it).
class ProcessMetaCache
{
  public:
    std::shared_ptr<const ProcessMeta> get(std::uint32_t pid);

  private:
    static constexpr std::uint64_t kMaxAgeNs = 30ULL * 1000 * 1000 * 1000;
    struct Entry {
        std::shared_ptr<const ProcessMeta> meta;
        std::uint64_t read_ns = 0;
    };
    std::unordered_map<std::uint32_t, Entry> cache_;
};

// Every process in scope of --container ID-PREFIX and --cgroup PATH (both
// when both are given).
std::unordered_set<std::uint32_t> pids_in_scope(const std::string& container_prefix, const std::string& cgroup,
                                                const std::string& proc = "/proc");

} // namespace cwt
