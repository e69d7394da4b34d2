// Rules on the command line that CLI11 does not express: numbers must be
// finite, an option must apply to the mode chosen (live, --snapshot,
// --features), and -p names a process (a thread id resolves to it).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

namespace cwt
{

// Refuses NaN and infinities (and values that overflow to them, 1e999).
// Goes before a CLI::Range: NaN compares false with both bounds.
CLI::Validator finite_number();

enum class Mode { Live, Snapshot, Features };

// One line on stderr and 2 when an option given does not apply to `mode`
// (or two modes are asked for; `report` is the report subcommand); -1 when
// all is well.
int check_option_modes(const CLI::App& app, bool snapshot, bool features, bool report = false);

// -p PID: 2 and one line when no such process; a thread id becomes its
// process (one line on stderr says so). -1 when all is well.
int resolve_target_pid(std::uint32_t& pid);

} // namespace cwt
