// The -p target: one place for the rules every stage applies to it.
// Without -p every process is a target. --container and --cgroup name a set
// of processes instead of one (shared, so the live loop can add processes
// that join the container later); the rules are the same.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

class TargetFilter
{
  public:
    // Implicit, so configs still take a bare pid (0 = everyone).
    TargetFilter(std::uint32_t pid = 0) : pid_(pid) {} // NOLINT(google-explicit-constructor)
    using PidSet = std::unordered_set<std::uint32_t>;
    // A set of target processes (with -p too: both must hold).
    TargetFilter(std::uint32_t pid, std::shared_ptr<const PidSet> pids) : pid_(pid), pids_(std::move(pids)) {}

    // Whether -p (or a process set) was given.
    bool active() const { return pid_ != 0 || pids_; }
    std::uint32_t pid() const { return pid_; }
    // This process is wanted: it is the target, or there is no -p.
    bool wants(std::uint32_t pid) const { return (!pid_ || pid == pid_) && (!pids_ || pids_->count(pid)); }
    // Exactly the -p process, or one of the set (false without either).
    bool is_target(std::uint32_t pid) const { return active() && wants(pid); }
    // A socket held by these owners is wanted: one of them is the target, or
    // there is no -p. A socket no one holds is wanted only without -p.
    template <typename It> bool wants_any(It begin, It end) const
    {
        return !active() || std::any_of(begin, end, [&](const ProcessRef& p) { return wants(p.pid); });
    }
    bool wants_any(const std::vector<ProcessRef>& owners) const
    {
        return wants_any(owners.begin(), owners.end());
    }

  private:
    std::uint32_t pid_ = 0;
    std::shared_ptr<const PidSet> pids_;
};

} // namespace cwt
