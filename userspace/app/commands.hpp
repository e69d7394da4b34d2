// app/: CLI, the live loop, the snapshot and features commands, main. May include
// every folder; nothing depends on it.
// The three commands: live_loop.cpp (loader -> ring buffer -> decoder ->
// tracker -> reporters), snapshot_cmd.cpp and features_cmd.cpp.
#pragma once

#include "app/cli.hpp"
#include "kernel/loader.hpp"
#include "report/human.hpp"

namespace cwt
{

int run_live(const Options& o);
int run_snapshot(const Options& o);
int run_features(const Options& o);

// The loader's view of the options; live: attach the tracing programs too.
LoaderOptions loader_options(const Options& o, bool live);
// The columns' layout (-w, -T, -t); TIME(s) counts from `started`.
HumanStyle human_style(const Options& o, MonoNs started);

} // namespace cwt
