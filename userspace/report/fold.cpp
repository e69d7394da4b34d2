#include "report/fold.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cwt
{

LeakFolder::Key LeakFolder::key_of(const SocketFacts& s)
{
    Key k;
    const ProcessRef* who = !s.processes.empty()                ? &s.processes.front()
                            : (s.listener && s.listener->owner) ? &*s.listener->owner
                                                                : nullptr;
    if (who) {
        k.pid = who->pid;
        k.comm = who->comm;
    }
    k.listener = s.listener ? format_endpoint(s.listener->local) : "-";
    return k;
}

LeakFolder::Group& LeakFolder::hold(const SocketFacts& s, MonoNs ts)
{
    Group& g = groups_[key_of(s)];
    if (g.held.empty() && g.queued.empty())
        g.held_since = ts;
    return g;
}

void LeakFolder::queued(const CloseWaitFinding& f)
{
    hold(f.sock, f.ts_ns).queued.push_back(f);
}

void LeakFolder::leak(const LeakFinding& f)
{
    Key k = key_of(f.sock);
    Group& g = hold(f.sock, f.ts_ns);
    g.held.push_back(f);
    Open o;
    double age = f.sock.age_s ? *f.sock.age_s : f.sock.min_age_s.value_or(0);
    MonoNs age_ns = seconds_to_ns(age);
    o.entered_ns = f.ts_ns > age_ns ? f.ts_ns - age_ns : 0;
    o.age_is_lower_bound = !f.sock.age_s;
    g.open[f.sock.sk] = o;
    key_by_sk_[f.sock.sk] = k;
}

void LeakFolder::closed(const ClosedFinding& f)
{
    auto it = key_by_sk_.find(f.sock.sk);
    // (an entry only for leaks: queued ones are not counted as open)
    if (it == key_by_sk_.end())
        return;
    auto g = groups_.find(it->second);
    if (g != groups_.end())
        g->second.open.erase(f.sock.sk);
    key_by_sk_.erase(it);
}

namespace
{

// The most common site among `leaks`: "2300 of 2341 after read()=0 in f (x.c:12)".
std::pair<std::string, std::string> site_of(const std::vector<LeakFinding>& leaks)
{
    std::map<std::string, std::pair<std::size_t, const LeakSite*>> n;
    for (const auto& l : leaks)
        if (l.site) {
            auto& e = n[l.site->key()];
            ++e.first;
            e.second = l.site.get();
        }
    const std::pair<std::size_t, const LeakSite*>* best = nullptr;
    for (const auto& [k, e] : n)
        if (!best || e.first > best->first)
            best = &e;
    if (!best)
        return {};
    // "Same" only while every new leak is at that one site.
    std::string key = best->second->key() + (best->first == leaks.size() ? "" : "|mixed");
    return {key, std::to_string(best->first) + " of " + std::to_string(leaks.size()) + " " +
                     best->second->label()};
}

} // namespace

std::vector<std::string> LeakFolder::folded_lines(const Key& k, Group& g, MonoNs now,
                                                  const WallClock& clock) const
{
    // Growth: leaks reported over the last minute (or since the first), per minute.
    g.growth.emplace_back(now, g.reported);
    while (g.growth.size() > 1 && now - g.growth.front().first > 60 * kNsPerSec)
        g.growth.pop_front();
    MonoNs span = std::max<MonoNs>(now - g.growth.front().first, interval_ns_);
    std::size_t grown = g.reported - g.growth.front().second;
    if (g.growth.size() == 1)
        grown = g.held.size(); // the first line: this interval's
    double per_min = static_cast<double>(grown) * 60.0 / ns_to_seconds(span);

    MonoNs oldest = now;
    bool lower_bound = false;
    for (const auto& [sk, o] : g.open)
        if (o.entered_ns < oldest) {
            oldest = o.entered_ns;
            lower_bound = o.age_is_lower_bound;
        }
    std::string age =
        g.open.empty() ? "-" : (lower_bound ? ">" : "") + format_age(ns_to_seconds(now - oldest));

    // One record: who, where, how many, how fast. The site gets a record of
    // its own the first time, and again only when it changes.
    const bool wide = style_.wide;
    std::string pid = k.pid ? std::to_string(k.pid) : "-";
    std::string comm = k.pid ? cut(k.comm, 15, wide) : "-";
    std::string head = time_columns(now, clock, style_);
    std::string line =
        head + fmt::format("{:<9} {:>7} {:<15} on {}: {} new, {} open, oldest {}, {:+.0f}/min", "LEAKS", pid,
                           comm, k.listener, g.held.size(), g.open.size(), age, per_min);
    if (!g.queued.empty())
        line += fmt::format(", {} queued", g.queued.size());
    auto [site_key, site] = site_of(g.held);
    if (site.empty())
        return {cut(line, kMaxLineWidth, wide)};
    if (site_key == g.last_site) {
        std::string same = "; same site";
        return {(wide ? line : fit(line, kMaxLineWidth - same.size())) + same};
    }
    g.last_site = site_key;
    std::string site_line = head + fmt::format("{:<9} {:>7} {:<15} {}", "SITE", pid, comm, site);
    return {cut(line, kMaxLineWidth, wide), cut(site_line, kMaxLineWidth, wide)};
}

std::vector<std::string> LeakFolder::due(MonoNs now, const WallClock& clock, bool all)
{
    std::vector<std::pair<MonoNs, std::vector<std::string>>> ready;
    for (auto& [k, g] : groups_) {
        if ((g.held.empty() && g.queued.empty()) || (!all && now - g.held_since < interval_ns_))
            continue;
        g.reported += g.held.size();
        std::vector<std::string> lines;
        if (g.held.size() + g.queued.size() > fold_) {
            lines = folded_lines(k, g, now, clock);
        } else {
            g.growth.emplace_back(now, g.reported);
            std::vector<std::pair<MonoNs, Finding>> each;
            for (const auto& q : g.queued)
                each.emplace_back(q.ts_ns, Finding(q));
            for (const auto& l : g.held)
                each.emplace_back(l.ts_ns, Finding(l));
            std::stable_sort(each.begin(), each.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (const auto& e : each)
                lines.push_back(human_line(e.second, clock, style_));
        }
        ready.emplace_back(g.held_since, std::move(lines));
        g.held.clear();
        g.queued.clear();
    }
    std::stable_sort(ready.begin(), ready.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (auto& r : ready)
        for (auto& l : r.second)
            out.push_back(std::move(l));
    return out;
}

std::vector<std::string> LeakFolder::totals(MonoNs now) const
{
    std::vector<std::string> out;
    for (const auto& [k, g] : groups_) {
        std::size_t reported = g.reported + g.held.size();
        if (!reported)
            continue;
        MonoNs oldest = now;
        for (const auto& [sk, o] : g.open)
            oldest = std::min(oldest, o.entered_ns);
        std::string who = k.pid ? fmt::format("pid {} ({})", k.pid, cut(k.comm, 15, style_.wide))
                                : std::string("unknown owner");
        std::string line =
            fmt::format("leaks of {} on {}: {} reported, {} still open, oldest {}", who, k.listener, reported,
                        g.open.size(), g.open.empty() ? "-" : format_age(ns_to_seconds(now - oldest)));
        out.push_back(cut(line, kMaxLineWidth, style_.wide));
    }
    return out;
}

} // namespace cwt
