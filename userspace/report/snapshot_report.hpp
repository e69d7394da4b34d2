// The one-shot audit: JSON lines (close_wait, listener, process, summary) or tables.
#pragma once

#include <cstdio>

#include <nlohmann/json.hpp>

#include "report/format.hpp"
#include "core/snapshot.hpp"
#include "report/human.hpp"

namespace cwt
{

nlohmann::ordered_json listener_row_json(const SnapshotListener& l, const WallClock& clock, MonoNs now);
nlohmann::ordered_json process_row_json(const SnapshotProcess& p, const WallClock& clock, MonoNs now);
void print_snapshot(const Snapshot& snap, bool json, std::FILE* out, const WallClock& clock, MonoNs now,
                    const HumanStyle& style = {});

} // namespace cwt
