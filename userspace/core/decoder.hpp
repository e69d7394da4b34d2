// Ring-buffer and map records -> model types. Pure: takes bytes, returns values.
#pragma once

#include <cstddef>
#include <optional>

#include "closewait_trace/events.h"
#include "core/model.hpp"

namespace cwt
{

// nullopt for a record that is too short or of an unknown kind.
std::optional<KernelEvent> decode_event(const void* data, std::size_t size);

CloseWaitInfo decode_close_wait(const cwt_cw_entry& e);
Tuple decode_tuple(const cwt_tuple& t);
ProcessRef decode_process(std::uint32_t tgid, const char (&comm)[CWT_COMM_LEN], std::int32_t fd);
OwnerKind decode_owner_kind(std::uint8_t k);
// A LISTEN record of iter/tcp: address, queue length and backlog (no owners).
ListenerInfo decode_listener(const cwt_iter_sock& rec);

} // namespace cwt
