// report/: one output per file behind the Reporter interface (human.cpp,
// json.cpp, summary.cpp, snapshot_report.cpp); fanout.hpp runs several at once.
// Dependencies: report/ includes common/ and core/ only; app/ depends on it.
// Nothing in core/ or kernel/ may include report/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/target_filter.hpp"

namespace cwt
{

struct StartInfo {
    std::string mode = "live"; // "live" | "snapshot"
    std::string tier;          // probe tier in use
    std::string tier_reason;
    std::string kernel;
    std::uint32_t filter_pid = 0;
    SocketFilter socket_filter; // -4/-6, -P/-L/-D
    double threshold_s = 0;
    bool verbose = false;
    std::size_t preexisting_close_waits = 0;
};

// What the live loop knows now, every --metrics-interval: the tracker's
// summary and every listener. Reporters that show a state (metrics) use it.
struct LiveState {
    MonoNs now = 0;
    Summary summary;
    std::vector<ListenerInfo> listeners;
};

class Reporter
{
  public:
    virtual ~Reporter() = default;
    virtual void start(const StartInfo& s) = 0;
    virtual void finding(const Finding& f) = 0;
    virtual void summary(const Summary& s, double elapsed_s) = 0;
    // The -p target exited (before the summary); most outputs ignore it.
    virtual void target_exit(std::uint32_t /*pid*/, MonoNs /*ts*/) {}
    virtual void flush() = 0;
    // The state now; only reporters of state (metrics) care.
    virtual void state(const LiveState&) {}
};

} // namespace cwt
