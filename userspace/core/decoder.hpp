// Ring-buffer and map records -> model types. Pure: takes bytes, returns values.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

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
// The inventory records (iter/tcp, iter/task_file) as model types.
SocketRecord decode_socket(const cwt_iter_sock& rec);
SocketFd decode_socket_fd(const cwt_iter_file& rec);
std::vector<SocketRecord> decode_sockets(const std::vector<cwt_iter_sock>& recs);
std::vector<SocketFd> decode_socket_fds(const std::vector<cwt_iter_file>& recs);
// A LISTEN socket record: address, queue length and backlog (no owners).
ListenerInfo listener_of(const SocketRecord& rec);

} // namespace cwt
