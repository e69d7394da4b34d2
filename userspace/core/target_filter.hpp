// The -p target: one place for the rules every stage applies to it.
// Without -p every process is a target.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

class TargetFilter
{
  public:
    // Implicit, so configs still take a bare pid (0 = everyone).
    TargetFilter(std::uint32_t pid = 0) : pid_(pid) {} // NOLINT(google-explicit-constructor)

    // Whether -p was given.
    bool active() const { return pid_ != 0; }
    std::uint32_t pid() const { return pid_; }
    // This process is wanted: it is the target, or there is no -p.
    bool wants(std::uint32_t pid) const { return !pid_ || pid == pid_; }
    // Exactly the -p process (false without -p).
    bool is_target(std::uint32_t pid) const { return pid_ && pid == pid_; }
    // A socket held by these owners is wanted: one of them is the target, or
    // there is no -p. A socket no one holds is wanted only without -p.
    template <typename It> bool wants_any(It begin, It end) const
    {
        return !pid_ || std::any_of(begin, end, [&](const ProcessRef& p) { return p.pid == pid_; });
    }
    bool wants_any(const std::vector<ProcessRef>& owners) const
    {
        return wants_any(owners.begin(), owners.end());
    }

  private:
    std::uint32_t pid_ = 0;
};

} // namespace cwt
