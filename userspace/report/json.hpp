// JSON lines: one object per finding, the start and summary records.
#pragma once

#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/format.hpp"
#include "core/model.hpp"
#include "report/reporter.hpp"

namespace cwt
{

// JSON forms, exposed for tests and for the snapshot mode.
nlohmann::json finding_json(const Finding& f, const WallClock& clock);
nlohmann::json start_json(const StartInfo& s, const WallClock& clock, MonoNs now);

// Building blocks shared by the JSON forms of findings, summaries and snapshots.
nlohmann::json process_json(const ProcessRef& p);
nlohmann::json listener_json(const ListenerView& l);

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out, WallClock clock);

} // namespace cwt
