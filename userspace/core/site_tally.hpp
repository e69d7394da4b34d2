// Groups reported leaks by their leak site: "8700 of 8789 after read()=0 in
// handle_client (server.c:212)". Fed with the findings as they are reported;
// pure, no BPF.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

class SiteTally
{
  public:
    // Counts a LeakFinding (with or without a site); ignores the rest.
    void on_finding(const Finding& f);
    // Most leaks first; `of` is every leak reported.
    std::vector<SiteSummary> sites() const;
    std::size_t leaks() const { return leaks_; }
    // A process's most common site into its summary (site, site_leaks, leaks).
    void fill(ProcessSummary& p) const;

  private:
    struct PerPid {
        std::size_t leaks = 0;
        std::map<std::string, std::size_t> by_key;
    };
    std::map<std::string, SiteSummary> by_key_;
    std::map<std::uint32_t, PerPid> by_pid_;
    std::size_t leaks_ = 0;
};

// "8700 of 8789 after read()=0 in handle_client (server.c:212)"
std::string site_sentence(const SiteSummary& s);

} // namespace cwt
