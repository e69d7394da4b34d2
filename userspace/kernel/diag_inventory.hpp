// The inventory without BPF iterators: the kernel's sock_diag netlink dump
// for the sockets and a /proc/*/fd scan for their owners. It yields the same
// model records as the iterators, so the snapshot classifier is shared. Slower and
// racier than the iterators (two separate walks, a readlink per fd), so it is
// used only where they are unavailable (kernel without BTF or iterators).
#pragma once

#include <cstdint>
#include <vector>

#include "core/model.hpp"

namespace cwt
{

struct DiagWalk {
    std::vector<SocketRecord> socks; // .sk is the socket cookie, not an address
    std::vector<SocketFd> files;
};

// Listeners, CLOSE_WAITs and children still in an accept queue of this
// network namespace, with the fds that refer to the listeners and
// CLOSE_WAITs in every process. port: 0 = any, else local or remote port.
DiagWalk diag_audit_walk(std::uint16_t port);

} // namespace cwt
