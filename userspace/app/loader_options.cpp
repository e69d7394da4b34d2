// The options as the loader takes them: shared by every command.
#include "app/commands.hpp"
#include "common/units.hpp"

namespace cwt
{

LoaderOptions loader_options(const Options& o, bool live)
{
    LoaderOptions l;
    l.attach_live = live;
    l.tier = parse_tier(o.probes);
    l.filter_pid = o.pid;
    l.socket_filter = o.filter;
    l.verbose = o.verbose;
    l.leak_threshold_ns = seconds_to_ns(o.threshold_s);
    l.max_sockets = o.max_sockets;
    l.debug = o.debug;
    return l;
}

} // namespace cwt
