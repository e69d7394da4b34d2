#include "core/leak_resolution.hpp"

#include "closewait_trace/events.h"

namespace cwt
{

Enrichment resolve_at_threshold(const std::optional<SeenSock>& seen, const std::vector<ProcessRef>* owners,
                                bool netns_walked)
{
    Enrichment e;
    if (seen && seen->state == CWT_TCP_CLOSE_WAIT) {
        e.recv_q = seen->recv_q;
        if (owners)
            e.owners = *owners;
    } else if (!seen && !netns_walked) {
        if (owners)
            e.owners = *owners;
    } else {
        e.gone = true;
    }
    return e;
}

} // namespace cwt
