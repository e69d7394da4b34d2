// One point of the per-second time series that --record writes and the HTML
// report plots. Pure data, filled by the live loop from the tracker's state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

struct SeriesSample {
    MonoNs ts_ns = 0;
    struct Process {
        std::uint32_t pid = 0;
        std::string comm;
        std::string container; // "" = the host's (kernel/container.hpp)
        std::size_t close_waits = 0;
        std::uint64_t emfile_total = 0; // cumulative, this process's accepts
        std::string site;               // label of its most common leak site ("" none)
        std::size_t site_leaks = 0;     // leaks at that site
        std::size_t leaks = 0;          // leaks with any site known
    };
    std::vector<Process> processes;
    struct Listener {
        std::string local; // "127.0.0.1:8080"
        std::uint32_t pid = 0;
        std::string comm;
        std::uint32_t queue = 0;
        std::uint32_t backlog = 0;
    };
    std::vector<Listener> listeners;
    std::uint64_t emfile_total = 0; // cumulative EMFILE+ENFILE on accept since start
    struct Site {
        std::string label; // LeakSite::label()
        std::size_t leaks = 0; // open leaks there now
    };
    std::vector<Site> sites;
};


} // namespace cwt
