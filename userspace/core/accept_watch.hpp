// Accept-path findings: EMFILE/ENFILE with per-interval counts, connection
// shedding, accept-queue overflows and accept stalls. Pure, like the tracker:
// kernel aggregates and listener inventories come in as values.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <map>
#include <utility>
#include <vector>

#include "common/units.hpp"
#include "core/listener_state.hpp"
#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

struct AcceptWatchConfig {
    MonoNs report_interval_ns = kNsPerSec; // one line per interval while failing
    MonoNs stall_ns = 5000000000ULL;       // --stall
    TargetFilter target;                   // -p
    MonoNs started_ns = 0;
};

// The fds of the processes that pids_due() named.
using FdContexts = std::unordered_map<std::uint32_t, FdContext>;
// A per-namespace counter, by namespace inode.
using NetnsCounters = std::unordered_map<std::uint32_t, std::uint64_t>;
// Queued CLOSE_WAITs per listener socket (Tracker::queued_close_waits()).
using QueuedCloseWaits = std::unordered_map<SockId, std::size_t>;

class AcceptWatch
{
  public:
    explicit AcceptWatch(AcceptWatchConfig cfg) : cfg_(std::move(cfg)) {}

    // The kernel aggregate (cumulative per process and listening fd). The first
    // failure of a key is reported at once with count 1; then at most one line
    // per interval with the failures since the previous line.
    // fds: the context of every process pids_due() names for these samples.
    void on_errors(MonoNs now, const std::vector<AcceptErrorSample>& samples, const FdContexts& fds,
                   const ListenerState& listeners, std::vector<Finding>& out);
    // The processes on_errors() will print a line for, whose fds it shows.
    std::vector<std::uint32_t> pids_due(MonoNs now, const std::vector<AcceptErrorSample>& samples) const;

    // A listener inventory plus each network namespace's cumulative
    // ListenOverflows counter (the kernel counts drops per namespace, so a
    // drop is put on the full listeners of its own namespace only). A
    // namespace absent from the map is not sampled this time.
    void on_listeners(MonoNs now, const ListenerState& listeners, const NetnsCounters& listen_overflows,
                      const QueuedCloseWaits& queued_cw, std::vector<Finding>& out);
    // One counter for every listener, whatever its namespace.
    void on_listeners(MonoNs now, const ListenerState& listeners, std::uint64_t listen_overflows,
                      const QueuedCloseWaits& queued_cw, std::vector<Finding>& out)
    {
        on_listeners(now, listeners, NetnsCounters{{kAnyNetns, listen_overflows}}, queued_cw, out);
    }
    static constexpr std::uint32_t kAnyNetns = 0;

    // Whether this sample has failures or sheds not seen before.
    bool changed(const AcceptErrorSample& s) const;

    std::vector<AcceptErrorSummary> error_summary() const;
    std::uint64_t overflows_reported() const { return overflow_reported_; }

  private:
    struct Reported {
        AcceptErrorSample last; // counts as of the previous line
        AcceptErrorSample seen; // latest counts
        MonoNs last_line_ns = 0;
        FdContext fds;
        std::optional<Endpoint> listener;
    };
    struct StallState {
        MonoNs nonempty_since = 0;
        std::optional<MonoNs> last_accept_ns;
        bool reported = false;
    };
    struct Deltas {
        std::uint64_t emfile = 0, enfile = 0, shed = 0;
        bool any() const { return emfile || enfile || shed; }
    };
    // What a line now would count for this sample; nothing before the interval.
    Deltas due(MonoNs now, const AcceptErrorSample& s) const;
    bool wanted(std::uint32_t pid) const { return cfg_.target.wants(pid); }
    bool owned_by_target(const ListenerInfo& l) const;

    AcceptWatchConfig cfg_;
    std::map<std::pair<std::uint32_t, std::int32_t>, Reported> errors_;
    std::map<SockId, StallState> stalls_;
    std::unordered_map<std::uint32_t, std::uint64_t> overflow_base_; // per namespace
    std::uint64_t overflow_reported_ = 0;
};

std::string syscall_name(std::uint32_t nr);

} // namespace cwt
