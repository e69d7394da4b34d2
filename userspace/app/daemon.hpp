// Wires it together: loader -> ring buffer -> decoder -> tracker -> reporters.
#pragma once

#include "app/cli.hpp"

namespace cwt
{

int run_live(const Options& o);
int run_snapshot(const Options& o);
int run_features(const Options& o);

} // namespace cwt
