// The inventory without BPF iterators: the kernel's sock_diag netlink dump
// for the sockets and a /proc/*/fd scan for their owners. It yields the same
// model records as the iterators, so the snapshot classifier is shared. Slower and
// racier than the iterators (two separate walks, a readlink per fd), so it is
// used only where they are unavailable (kernel without BTF or iterators).
#pragma once

#include <cstdint>
#include <vector>

#include "core/model.hpp"
#include "core/target_filter.hpp"
#include "kernel/netns_set.hpp"

namespace cwt
{

struct DiagWalk {
    std::vector<SocketRecord> socks; // .sk is the socket cookie, not an address
    std::vector<SocketFd> files;
};

// Listeners, CLOSE_WAITs and children still in an accept queue of every
// namespace of `netns` (null: this process's own), with the fds that refer
// to the listeners and CLOSE_WAITs in every process; only sockets the filter
// wants. A netlink socket dumps the namespace it was created in, so one is
// made inside each.
DiagWalk diag_audit_walk(const SocketFilter& filter, NetnsSet* netns = nullptr);

// Only the listeners of each namespace (queue length in recv_q, backlog in
// send_q; .sk is the cookie), through sockets made inside each once: the
// kernel walks only its listening hash, never the connections.
std::vector<SocketRecord> diag_listeners(const std::vector<NetnsSet::DiagSock>& socks, const SocketFilter& filter);

} // namespace cwt
