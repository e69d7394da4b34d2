// Reporters turn findings into output: human columns, JSON lines, a summary.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "format.hpp"
#include "model.hpp"
#include "snapshot.hpp"

namespace cwt
{

struct StartInfo {
    std::string mode = "live"; // "live" | "snapshot"
    std::string tier;          // probe tier in use
    std::string tier_reason;
    std::string kernel;
    std::uint32_t filter_pid = 0;
    std::uint16_t filter_port = 0;
    double threshold_s = 0;
    bool verbose = false;
    std::size_t preexisting_close_waits = 0;
};

class Reporter
{
  public:
    virtual ~Reporter() = default;
    virtual void start(const StartInfo& s) = 0;
    virtual void finding(const Finding& f) = 0;
    virtual void summary(const Summary& s, double elapsed_s) = 0;
    virtual void flush() = 0;
};

// JSON forms, exposed for tests and for the snapshot mode.
nlohmann::json finding_json(const Finding& f, const WallClock& clock);
nlohmann::json summary_json(const Summary& s, const WallClock& clock, double elapsed_s);
nlohmann::json start_json(const StartInfo& s, const WallClock& clock, MonoNs now);

// "pid 4448: 57 EMFILE on accept4; 8789 of its 8900 open fds are sockets in CLOSE_WAIT (limit 100001)"
std::string accept_error_sentence(const AcceptErrorSummary& e);

// One line per finding; lines stay under kMaxLineWidth columns.
std::string human_line(const Finding& f, const WallClock& clock);
std::string human_header();
constexpr std::size_t kMaxLineWidth = 119;

// The one-shot audit: JSON lines (close_wait, listener, process, summary) or tables.
nlohmann::json listener_row_json(const SnapshotListener& l, const WallClock& clock, MonoNs now);
nlohmann::json process_row_json(const SnapshotProcess& p, const WallClock& clock, MonoNs now);
void print_snapshot(const Snapshot& snap, bool json, std::FILE* out, const WallClock& clock, MonoNs now);

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out, WallClock clock);
std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock);

} // namespace cwt
