// --top: a full-screen live ranking (ncurses), redrawn every second from the
// per-second samples. TopModel turns samples into screen lines (pure, tested
// without a terminal); the reporter only paints them and reads keys.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/series.hpp"
#include "report/format.hpp"
#include "report/reporter.hpp"

namespace cwt
{

enum class TopSort { Open, Growth, Queue, Emfile };
const char* top_sort_name(TopSort s);

class TopModel
{
  public:
    void add(const SeriesSample& s);
    // Exactly `rows` lines, none wider than `cols` columns (printable ASCII).
    std::vector<std::string> render(int cols, int rows, TopSort sort, const WallClock& clock) const;
    bool empty() const { return window_.empty(); }

  private:
    std::deque<SeriesSample> window_; // the last 60 s or so
};

// Fails with a UserError when stdout is not a terminal. `stop` is called when
// the user quits.
std::unique_ptr<Reporter> make_top_reporter(std::function<void()> stop, WallClock clock);

} // namespace cwt
