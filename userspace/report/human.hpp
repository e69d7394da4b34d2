// Human columns: one line per finding, under kMaxLineWidth columns.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "report/format.hpp"
#include "core/model.hpp"
#include "report/reporter.hpp"

namespace cwt
{

// One line per finding; lines stay under kMaxLineWidth columns.
std::string human_line(const Finding& f, const WallClock& clock);
std::string human_header();
constexpr std::size_t kMaxLineWidth = 119;

// Cuts `s` to `width` columns, marking the cut with '+'.
std::string fit(const std::string& s, std::size_t width);
// Breaks text at spaces so no line exceeds `width`; continuation lines indented.
std::string wrap(const std::string& text, std::size_t width, std::size_t indent);

// Leaks fold past `fold` new per (process, listener) per interval (fold.hpp).
std::unique_ptr<Reporter> make_human_reporter(std::FILE* out, std::FILE* err, WallClock clock,
                                              std::size_t fold = 10);

} // namespace cwt
