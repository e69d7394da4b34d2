// Folded human output (issue #12): while a (process, listener) has few new
// leaks, one line per socket; once it has more than `fold` in one reporting
// interval, one line for that interval instead: new since the last line,
// total open, oldest age and growth per minute, and the most common leak site
// on a SITE record of its own (one line per record, no continuation lines).
// Leaks and queued CLOSE_WAITs are held for one interval (1 s) to decide;
// other findings pass.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"
#include "report/format.hpp"
#include "report/human.hpp"

namespace cwt
{

constexpr MonoNs kFoldIntervalNs = kNsPerSec;

class LeakFolder
{
  public:
    explicit LeakFolder(std::size_t fold, HumanStyle style = {}, MonoNs interval_ns = kFoldIntervalNs)
        : fold_(fold), style_(style), interval_ns_(interval_ns)
    {
    }

    void leak(const LeakFinding& f);
    // A CLOSE_WAIT still in its listener's accept queue (folded with the leaks).
    void queued(const CloseWaitFinding& f);
    void closed(const ClosedFinding& f);
    // The lines due at `now`: held leaks whose interval ended (all of them
    // with `all`), per socket or folded. Sockets first seen earlier come first.
    std::vector<std::string> due(MonoNs now, const WallClock& clock, bool all = false);
    // One line per (process, listener) that leaked: totals for the summary.
    std::vector<std::string> totals(MonoNs now) const;

  private:
    struct Key {
        std::uint32_t pid = 0;
        std::string comm;
        std::string listener; // "127.0.0.1:8080", or "-"
        bool operator<(const Key& o) const
        {
            return std::tie(pid, comm, listener) < std::tie(o.pid, o.comm, o.listener);
        }
    };
    struct Open {
        MonoNs entered_ns = 0; // estimated from the age
        bool age_is_lower_bound = false;
    };
    struct Group {
        std::vector<LeakFinding> held;        // this interval's
        std::vector<CloseWaitFinding> queued; // this interval's, in accept queues
        MonoNs held_since = 0;
        std::unordered_map<SockId, Open> open;
        std::size_t reported = 0;
        std::deque<std::pair<MonoNs, std::size_t>> growth; // (ts, reported) of the last minute
        std::string last_site;                             // key of the site last printed
    };
    static Key key_of(const SocketFacts& s);
    Group& hold(const SocketFacts& s, MonoNs ts);
    // The LEAKS record, and a SITE record when the site changed.
    std::vector<std::string> folded_lines(const Key& k, Group& g, MonoNs now, const WallClock& clock) const;

    std::size_t fold_;
    HumanStyle style_;
    MonoNs interval_ns_;
    std::map<Key, Group> groups_;
    std::unordered_map<SockId, Key> key_by_sk_;
};

} // namespace cwt
