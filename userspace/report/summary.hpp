// The closing summary: JSON record, human tables, accept-error sentences.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "report/format.hpp"
#include "core/model.hpp"

namespace cwt
{

nlohmann::ordered_json summary_json(const Summary& s, const WallClock& clock, double elapsed_s);

// "pid 4448: 57 EMFILE on accept4; 8789 of its 8900 open fds are sockets in CLOSE_WAIT (limit 100001)"
std::string accept_error_sentence(const AcceptErrorSummary& e);

// The human reporter's summary: totals, then per-process and per-listener tables.
// One line per item; wide: no field is cut.
void print_human_summary(std::FILE* out, const Summary& s, double elapsed_s, bool wide = false);

} // namespace cwt
