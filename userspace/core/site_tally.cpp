#include "core/site_tally.hpp"

#include <algorithm>

namespace cwt
{

void SiteTally::on_finding(const Finding& f)
{
    const auto* leak = std::get_if<LeakFinding>(&f);
    if (!leak)
        return;
    ++leaks_;
    PerPid* pp = leak->sock.processes.empty() ? nullptr : &by_pid_[leak->sock.processes.front().pid];
    if (pp)
        ++pp->leaks;
    if (!leak->site)
        return;
    const LeakSite& site = *leak->site;
    std::string key = site.key();
    if (pp)
        ++pp->by_key[key];
    SiteSummary& s = by_key_[key];
    if (s.leaks == 0) {
        s.label = site.label();
        s.kind = site_kind_name(site.kind);
        s.function = site.function;
        s.file = site.file;
        s.line = site.line;
        s.interpreted = !site.interpreter.empty();
    }
    ++s.leaks;
}

std::vector<SiteSummary> SiteTally::sites() const
{
    std::vector<SiteSummary> out;
    out.reserve(by_key_.size());
    for (const auto& [key, s] : by_key_) {
        out.push_back(s);
        out.back().of = leaks_;
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const SiteSummary& a, const SiteSummary& b) { return a.leaks > b.leaks; });
    return out;
}

void SiteTally::fill(ProcessSummary& p) const
{
    auto it = by_pid_.find(p.process.pid);
    if (it == by_pid_.end())
        return;
    p.leaks = it->second.leaks;
    const std::pair<const std::string, std::size_t>* best = nullptr;
    for (const auto& e : it->second.by_key)
        if (!best || e.second > best->second)
            best = &e;
    if (!best)
        return;
    p.site = by_key_.at(best->first).label;
    p.site_leaks = best->second;
}

std::string site_sentence(const SiteSummary& s)
{
    return std::to_string(s.leaks) + " of " + std::to_string(s.of) + " " + s.label;
}

} // namespace cwt
