// sock_diag (NETLINK_SOCK_DIAG) dumps of TCP sockets, through libmnl: one
// request, and one callback per socket in model types. Used by the audit
// without BPF iterators (diag_inventory.cpp), and reusable for any per-state
// dump (e.g. the listeners of another network namespace: open a SockDiag
// while the thread is in it; the netlink socket stays bound to it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "core/model.hpp"

struct mnl_socket;

namespace cwt
{

// One socket of a dump.
struct DiagSocket {
    std::uint64_t cookie = 0; // the kernel's socket cookie (not an address)
    std::uint8_t state = 0;   // TCP state (CWT_TCP_*)
    std::uint32_t inode = 0;  // 0: no struct socket (a child still in an accept queue)
    std::uint32_t uid = 0;
    std::uint32_t rqueue = 0; // unread bytes; listeners: accept queue length
    std::uint32_t wqueue = 0; // unsent bytes; listeners: backlog limit
    Tuple tuple;              // IPv4 v4-mapped, as everywhere in the model
    // tcp_info's tcpi_last_ack_recv (ms since the last segment), when asked
    // for (with_tcp_info) and the kernel's tcp_info is long enough.
    std::optional<std::uint32_t> last_ack_recv_ms;
    MonoNs read_ns = 0; // CLOCK_MONOTONIC right after the kernel wrote this record
};

// 1 << state, for a dump's state mask.
constexpr std::uint32_t tcp_state_bit(int state)
{
    return 1U << state;
}

class SockDiag
{
  public:
    // Opens a sock_diag netlink socket in the calling thread's network
    // namespace. Throws UserError (no CONFIG_INET_DIAG).
    SockDiag();
    // Over a NETLINK_SOCK_DIAG socket made elsewhere (e.g. inside another
    // network namespace, which it stays bound to); `fd` is duplicated, the
    // caller keeps its own.
    explicit SockDiag(int fd);
    ~SockDiag();
    SockDiag(const SockDiag&) = delete;
    SockDiag& operator=(const SockDiag&) = delete;

    // Every TCP socket of `family` (AF_INET or AF_INET6) in one of the states
    // of `state_mask`, each passed to `on`. Throws UserError when the kernel
    // refuses the dump (no tcp_diag module) or the read fails.
    void dump_tcp(std::uint8_t family, std::uint32_t state_mask, bool with_tcp_info,
                  const std::function<void(const DiagSocket&)>& on);

  private:
    struct Closer {
        void operator()(mnl_socket* s) const;
    };
    std::unique_ptr<mnl_socket, Closer> nl_;
    std::uint32_t seq_ = 0;
};

} // namespace cwt
