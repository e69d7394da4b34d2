// Reads the leak sites the kernel captured (bpf/leak_site.bpf.c) and turns
// them into LeakSite records through the Symbolizer.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "closewait_trace/leak_site_events.h"
#include "core/leak_site.hpp"
#include "kernel/symbolizer.hpp"

namespace cwt
{

struct RawSite {
    cwt_leak_site rec{};
    std::vector<std::uint64_t> fp_ips; // from the stack map; empty if the walk failed
};

// The site stored for a socket, or none.
std::optional<RawSite> read_raw_site(int sites_fd, int stacks_fd, std::uint64_t sk);
// Symbolized, with the site frame picked. The process must still be alive.
LeakSite resolve_site(const RawSite& raw, Symbolizer& sym);
const char* site_call_name(std::uint8_t call);

} // namespace cwt
