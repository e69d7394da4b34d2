// The -p target, and the socket filters (-4/-6, -P/-L/-D): one place for the
// rules every stage applies to them. Without -p every process is a target.
// --container and --cgroup name a set of processes instead of one (shared,
// so the live loop can add processes that join the container later); the
// rules are the same.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "closewait_trace/events.h"
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

// The family and port filters. The kernel applies the same rules
// (bpf/helpers.bpf.h, sock_filters_match) from its copy of them in .rodata;
// this copy filters what does not pass through the kernel's programs (the
// sock_diag inventory).
struct SocketFilter {
    static constexpr std::size_t kMaxPorts = CWT_MAX_FILTER_PORTS;
    std::vector<std::uint16_t> ports;  // -P: local or remote port in the list
    std::vector<std::uint16_t> lports; // -L: local port in the list
    std::vector<std::uint16_t> rports; // -D: remote port in the list
    std::uint16_t family = 0;          // -4: AF_INET, -6: AF_INET6, 0: both

    bool active() const { return family || !ports.empty() || !lports.empty() || !rports.empty(); }
    // Every filter given must match. A listener has no remote port (0), so
    // -D matches no listener.
    bool wants(std::uint16_t sock_family, std::uint16_t sport, std::uint16_t dport) const
    {
        auto in = [](const std::vector<std::uint16_t>& l, std::uint16_t p) {
            return std::find(l.begin(), l.end(), p) != l.end();
        };
        if (family && sock_family != family)
            return false;
        if (!ports.empty() && !in(ports, sport) && !in(ports, dport))
            return false;
        if (!lports.empty() && !in(lports, sport))
            return false;
        return rports.empty() || in(rports, dport);
    }
    bool wants(const Tuple& t) const { return wants(t.family, t.local.port, t.remote.port); }
};

} // namespace cwt
