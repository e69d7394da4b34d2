// --features: which tier and which program for each hook this kernel gets.
#include <cstdio>

#include "app/commands.hpp"
#include "kernel/loader.hpp"
#include "kernel/procfs.hpp"

namespace cwt
{

int run_features(const Options& o)
{
    BpfSession session(loader_options(o, true));
    std::printf("tier: %s (%s)\nkernel: %s\n", tier_name(session.tier()), session.tier_reason().c_str(),
                kernel_release().c_str());
    for (const auto& p : session.probes())
        std::printf("  %-20s %-45s %s\n", p.hook.c_str(), p.choice.c_str(), p.why.c_str());
    return 0;
}

} // namespace cwt
