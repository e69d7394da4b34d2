// Fills in what a process record says beyond pid, comm and fd (container,
// cgroup, nspid) in every record a finding, snapshot or summary holds, from
// a lookup the caller provides (kernel/container.hpp reads /proc). Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/container.hpp"
#include "core/model.hpp"
#include "core/snapshot.hpp"

namespace cwt
{

// pid -> its metadata; null when unknown (the process exited).
using ProcessMetaFn = std::function<std::shared_ptr<const ProcessMeta>(std::uint32_t pid)>;

void annotate(Finding& f, const ProcessMetaFn& meta);
void annotate(Snapshot& s, const ProcessMetaFn& meta);
void annotate(Summary& s, const ProcessMetaFn& meta);

// The process a socket finding is about for its container: the first owner,
// else the owner of the listener whose queue holds it. Null if neither.
const ProcessRef* container_holder(const SocketFacts& s);

} // namespace cwt
