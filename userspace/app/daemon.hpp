// app/: CLI, the live loop, the snapshot and features commands, main. May include
// every folder; nothing depends on it.
// Wires it together: loader -> ring buffer -> decoder -> tracker -> reporters.
#pragma once

#include "app/cli.hpp"

namespace cwt
{

int run_live(const Options& o);
int run_snapshot(const Options& o);
int run_features(const Options& o);

} // namespace cwt
