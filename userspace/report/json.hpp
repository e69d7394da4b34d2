// JSON lines: one object per finding, the start and summary records.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "report/format.hpp"
#include "core/model.hpp"
#include "report/reporter.hpp"

namespace cwt
{

// JSON forms, exposed for tests and for the snapshot mode.
nlohmann::ordered_json finding_json(const Finding& f, const WallClock& clock);
// finding_json(f).dump() on one line (as the JSON reporter prints it), faster
// for the socket findings that a snapshot prints by the ten thousand.
std::string finding_json_line(const Finding& f, const WallClock& clock);
// The same line appended to `out` (no newline).
void append_finding_json_line(std::string& out, const Finding& f, const WallClock& clock);
nlohmann::ordered_json start_json(const StartInfo& s, const WallClock& clock, MonoNs now);

// Building blocks shared by the JSON forms of findings, summaries and snapshots.
nlohmann::ordered_json process_json(const ProcessRef& p);
// "container": {"id", "runtime", "pod_uid"} or null on the host (and when unknown).
nlohmann::ordered_json container_json(const ProcessMeta* m);
// Adds "nspid" of p (null if unknown).
void put_nspid(nlohmann::ordered_json& j, const ProcessRef* p);
// Adds "cgroup" and "container" of the process behind a record (null if unknown).
void put_container(nlohmann::ordered_json& j, const ProcessMeta* m);
nlohmann::ordered_json listener_json(const ListenerView& l);
// The "leak_site" object of a close_wait_leak.
nlohmann::ordered_json leak_site_json(const LeakSite& s);

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out, WallClock clock);

} // namespace cwt
