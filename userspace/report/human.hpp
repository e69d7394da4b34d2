// Human columns: one line per finding. Narrow (the default), a line stays
// under kMaxLineWidth columns: a field that does not fit is cut, the cut
// marked with '+'. Wide (-w), every field is whole. Never a continuation line.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "core/model.hpp"
#include "report/format.hpp"
#include "report/reporter.hpp"

namespace cwt
{

constexpr std::size_t kMaxLineWidth = 119;

// How the columns are laid out (-w, -T, -t).
struct HumanStyle {
    bool wide = false;      // -w: no field is cut; lines may be longer than kMaxLineWidth
    bool clock_time = true; // TIME column, HH:MM:SS local time (-T; the default unless -t)
    bool rel_time = false;  // TIME(s) column, seconds since started_ns (-t)
    MonoNs started_ns = 0;
};

// One line per finding, without a newline.
std::string human_line(const Finding& f, const WallClock& clock, const HumanStyle& style = {});
std::string human_header(const HumanStyle& style = {});
// The time columns of a line (with their trailing space).
std::string time_columns(MonoNs ts_ns, const WallClock& clock, const HumanStyle& style);

// Cuts `s` to `width` columns, marking the cut with '+'.
std::string fit(const std::string& s, std::size_t width);
// An endpoint cut to `width` columns: the address is cut, the port kept
// ("[2001:db8:aaa+]:65535").
std::string fit_endpoint(const std::string& s, std::size_t width);
// fit() unless wide.
inline std::string cut(const std::string& s, std::size_t width, bool wide)
{
    return wide ? s : fit(s, width);
}

// Leaks fold past `fold` new per (process, listener) per interval (fold.hpp).
std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock,
                                              HumanStyle style = {}, std::size_t fold = 10);

} // namespace cwt
