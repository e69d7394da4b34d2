// Human findings for journald: when stdout is the journal (JOURNAL_STREAM),
// each finding is one line with an sd-daemon priority prefix ("<4>..."), so
// `journalctl -p warning` shows the leaks and `-p err` the EMFILEs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "report/format.hpp"
#include "report/human.hpp"
#include "report/reporter.hpp"

namespace cwt
{

// syslog priorities, as sd-daemon(3) prefixes them.
constexpr int kPrioErr = 3, kPrioWarning = 4, kPrioInfo = 6;

// <3> EMFILE/ENFILE on accept, lost events; <4> a leak, a queued CLOSE_WAIT
// (no fd owns it), an overflow, a stall; <6> the rest.
int journal_priority(const Finding& f);

// "<P>" + text on one line: continuation lines (a newline and its indent)
// become one space, any other control byte a space.
std::string journal_line(int priority, std::string_view text);

// is_journal_stream(fd): common/log.hpp.

// The human reporter, wide (no field cut: the journal has no width), with every line of stdout prefixed:
// findings one line each at their priority, the header and the summary at <6>.
std::unique_ptr<Reporter> make_journal_reporter(std::FILE* out, std::FILE* err, WallClock clock,
                                                HumanStyle style = {});

} // namespace cwt
