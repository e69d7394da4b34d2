#include "core/annotate.hpp"

namespace cwt
{

namespace
{

void fill(ProcessRef& p, const ProcessMetaFn& meta)
{
    if (!p.meta && p.pid)
        p.meta = meta(p.pid);
}

void fill(std::optional<ListenerView>& l, const ProcessMetaFn& meta)
{
    if (l && l->owner)
        fill(*l->owner, meta);
}

void fill_socket(SocketFacts& s, const ProcessMetaFn& meta)
{
    for (auto& p : s.processes)
        fill(p, meta);
    fill(s.listener, meta);
}

void fill_queue(ListenerFacts& q, const ProcessMetaFn& meta)
{
    if (q.process)
        fill(*q.process, meta);
    fill(q.listener, meta);
}

} // namespace

void annotate(Finding& f, const ProcessMetaFn& meta)
{
    std::visit(
        [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, CloseWaitFinding> || std::is_same_v<T, LeakFinding> ||
                          std::is_same_v<T, ClosedFinding>) {
                fill_socket(x.sock, meta);
            } else if constexpr (std::is_same_v<T, ListenOverflowFinding> ||
                                 std::is_same_v<T, AcceptStallFinding>) {
                fill_queue(x.queue, meta);
            } else if constexpr (std::is_same_v<T, AcceptErrorFinding>) {
                fill(x.process, meta);
                fill(x.listener, meta);
            }
        },
        f);
}

void annotate(Snapshot& s, const ProcessMetaFn& meta)
{
    for (auto& p : s.owner_refs)
        fill(p, meta);
    s.all_listeners.for_each_owner([&](ProcessRef& p) { fill(p, meta); });
    for (auto& l : s.listeners)
        for (auto& p : l.info.owners)
            fill(p, meta);
    for (auto& p : s.processes)
        if (!p.meta && p.pid)
            p.meta = meta(p.pid);
    annotate(s.summary, meta);
}

void annotate(Summary& s, const ProcessMetaFn& meta)
{
    for (auto& p : s.processes)
        fill(p.process, meta);
    for (auto& l : s.listeners)
        if (l.listener.owner)
            fill(*l.listener.owner, meta);
}

const ProcessRef* container_holder(const SocketFacts& s)
{
    if (!s.processes.empty())
        return &s.processes.front();
    if (s.listener && s.listener->owner)
        return &*s.listener->owner;
    return nullptr;
}

} // namespace cwt
