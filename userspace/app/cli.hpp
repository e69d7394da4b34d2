// Command-line options (CLI11) and their validation.
#pragma once

#include <cstdint>
#include <string>

#include "common/units.hpp"
#include "core/target_filter.hpp"
#include "kernel/loader.hpp"

namespace cwt
{

struct Options {
    std::uint32_t pid = 0;
    SocketFilter filter; // -4/-6, -P/--port, -L/--localport, -D/--remoteport
    double threshold_s = kDefaultThresholdS;
    double stall_s = kDefaultStallS;
    double duration_s = 0; // 0 = until SIGINT/SIGTERM
    bool json = false;
    bool wide = false;       // -w: no field of the columns is cut
    bool clock_time = false; // -T: TIME column, HH:MM:SS (the default without -t)
    bool rel_time = false;   // -t: TIME(s) column, seconds since start
    bool verbose = false;
    bool snapshot = false;
    bool debug = false;
    bool features = false;
    std::string probes = "auto";
    std::string inventory = "auto"; // --snapshot: auto | iterators | sock_diag
    std::uint32_t max_sockets = 65536;
    // Scope: one network namespace (its inode, resolved from --netns), the
    // processes of one container (id prefix) or of one cgroup (v2 path).
    std::uint32_t netns = 0;
    std::string netns_arg;
    std::string container;
    std::string cgroup;
    std::string prometheus_textfile; // "" = no metrics
    double metrics_interval_s = 15;
    std::uint32_t metrics_max_series = 500;
    bool quiet = false;
    std::string version; // the build's, for the metrics
    // Issue #12: incident scale.
    bool leak_site = false;   // --leak-site: capture where EOF was read (see bench/README.md)
    std::uint32_t fold = 10;  // --fold N: more new leaks per interval fold into one line
    std::string record;       // --record FILE: findings + per-second samples (JSON lines)
    bool top = false;         // --top: full-screen live view
    std::string report_in;    // `report FILE -o OUT`
    std::string report_out;
};

// Parses argv. Returns an exit code to stop with (help, version, bad flags),
// or -1 to go on.
int parse_options(int argc, char** argv, Options& out);

} // namespace cwt
