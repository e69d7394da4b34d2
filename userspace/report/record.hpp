// --record FILE: the JSON findings plus a per-second time series of the
// counts, as JSON lines, for `closewait-trace report FILE -o report.html`.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/series.hpp"
#include "report/format.hpp"
#include "report/reporter.hpp"

namespace cwt
{

// {"type":"sample","ts":...,"t":<unix s>,"processes":[...],"listeners":[...],"emfile_total":N,"sites":[...]}
nlohmann::ordered_json sample_json(const SeriesSample& s, const WallClock& clock);

// The sample of one LiveState (the live loop's, every second).
SeriesSample sample_of(const LiveState& st);

// Opens (truncates) FILE; throws UserError when it cannot.
std::unique_ptr<Reporter> make_record_reporter(const std::string& path, WallClock clock);

} // namespace cwt
