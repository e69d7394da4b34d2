#include "core/overflow_poll.hpp"

#include <algorithm>
#include <iterator>

namespace cwt
{

std::vector<std::uint32_t> OverflowPoll::hot(MonoNs now) const
{
    std::vector<std::uint32_t> out(queued_.begin(), queued_.end());
    for (const auto& [ns, until] : moved_until_)
        if (now < until)
            out.push_back(ns);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void OverflowPoll::on_listeners(const std::vector<ListenerInfo>& listeners)
{
    queued_.clear();
    for (const auto& l : listeners)
        if (l.queue > 0)
            queued_.insert(l.netns);
}

const NetnsCounters& OverflowPoll::merge(MonoNs now, const NetnsCounters& read, bool all)
{
    for (const auto& [ns, count] : read) {
        auto old = view_.find(ns);
        if (old != view_.end() && old->second != count)
            moved_until_[ns] = now + hot_hold_;
    }
    if (all) {
        view_ = read;
        next_all_ = now + all_period_;
        for (auto it = moved_until_.begin(); it != moved_until_.end();)
            it = (now >= it->second || !view_.count(it->first)) ? moved_until_.erase(it) : std::next(it);
    } else {
        for (const auto& [ns, count] : read)
            view_[ns] = count;
    }
    return view_;
}

} // namespace cwt
