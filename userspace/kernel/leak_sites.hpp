// Reads the leak sites the kernel captured (bpf/leak_site.bpf.c) and turns
// them into LeakSite records through the Symbolizer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "closewait_trace/events.h"
#include "core/leak_site.hpp"
#include "core/model.hpp"
#include "kernel/leak_site_loader.hpp"
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

// --leak-site: the programs loaded, and every leak finding given its site.
class LeakSiteResolver
{
  public:
    explicit LeakSiteResolver(const LeakSiteOptions& o); // throws UserError
    // Sets the site of every LeakFinding in `findings` whose socket has one.
    void annotate(std::vector<Finding>& findings);
    LeakSiteCounters counters() const { return session_.counters(); }
    std::size_t resolved() const { return resolved_; }

  private:
    LeakSiteSession session_;
    Symbolizer sym_;
    // Equal sites share one object (8789 leaks, one site).
    std::unordered_map<std::string, std::shared_ptr<const LeakSite>> by_key_;
    std::size_t resolved_ = 0;
};

} // namespace cwt
