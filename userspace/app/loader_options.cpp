// The options as the loader takes them: shared by every command.
#include "app/commands.hpp"
#include "common/units.hpp"
#include "kernel/cgroup_scope.hpp"

namespace cwt
{

LoaderOptions loader_options(const Options& o, bool live)
{
    LoaderOptions l;
    l.attach_live = live;
    l.tier = parse_tier(o.probes);
    l.filter_pid = o.pid;
    l.socket_filter = o.filter;
    // Needs the v2 hierarchy: bpf_get_current_cgroup_id() reads only that one.
    l.filter_cgroup = live && (!o.container.empty() || !o.cgroup.empty()) && !cgroup_v2_mount().empty();
    l.verbose = o.verbose;
    l.leak_threshold_ns = seconds_to_ns(o.threshold_s);
    l.max_sockets = o.max_sockets;
    l.debug = o.debug;
    return l;
}

} // namespace cwt
