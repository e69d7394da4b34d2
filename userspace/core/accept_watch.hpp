// Accept-path findings: EMFILE/ENFILE with per-interval counts, connection
// shedding, accept-queue overflows and accept stalls. Pure, like the tracker:
// kernel aggregates and listener inventories come in as values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "common/units.hpp"
#include "core/model.hpp"

namespace cwt
{

struct AcceptWatchConfig {
    MonoNs report_interval_ns = kNsPerSec; // one line per interval while failing
    MonoNs stall_ns = 5000000000ULL;       // --stall
    std::uint32_t filter_pid = 0;
    MonoNs started_ns = 0;
};

using FdContextFn = std::function<FdContext(std::uint32_t pid)>;
using ListenerFn = std::function<const ListenerInfo*(SockId)>;
using QueuedCloseWaitFn = std::function<std::size_t(const ListenerInfo&)>;

class AcceptWatch
{
  public:
    explicit AcceptWatch(AcceptWatchConfig cfg) : cfg_(cfg) {}

    // The kernel aggregate (cumulative per process and listening fd). The first
    // failure of a key is reported at once with count 1; then at most one line
    // per interval with the failures since the previous line.
    void on_errors(MonoNs now, const std::vector<AcceptErrorSample>& samples, const FdContextFn& fds,
                   const ListenerFn& listener, std::vector<Finding>& out);

    // A listener inventory plus the netns's cumulative ListenOverflows counter.
    void on_listeners(MonoNs now, const std::vector<ListenerInfo>& listeners, std::uint64_t listen_overflows,
                      const QueuedCloseWaitFn& queued_cw, std::vector<Finding>& out);

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
    bool wanted(std::uint32_t pid) const { return !cfg_.filter_pid || pid == cfg_.filter_pid; }
    bool owned_by_target(const ListenerInfo& l) const;

    AcceptWatchConfig cfg_;
    std::map<std::pair<std::uint32_t, std::int32_t>, Reported> errors_;
    std::map<SockId, StallState> stalls_;
    std::optional<std::uint64_t> overflow_base_;
    std::uint64_t overflow_reported_ = 0;
};

std::string syscall_name(std::uint32_t nr);

} // namespace cwt
