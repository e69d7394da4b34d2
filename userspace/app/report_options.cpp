// The options as the reporters take them: shared by the live and snapshot modes.
#include "app/commands.hpp"

namespace cwt
{

HumanStyle human_style(const Options& o, MonoNs started)
{
    HumanStyle s;
    s.wide = o.wide;
    // As bcc: -T gives HH:MM:SS, -t seconds since start, both give both.
    // Without either, HH:MM:SS: a record without a time is of little use.
    s.clock_time = o.clock_time || !o.rel_time;
    s.rel_time = o.rel_time;
    s.started_ns = started;
    return s;
}

} // namespace cwt
