// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Inline helpers shared by several program files: loss counting (every failed
 * ringbuf reservation or map insert bumps a `counters` slot), reading the facts
 * of a socket, the socket filters (family, ports), the ring-buffer record, and fd -> socket.
 */
#ifndef CWT_HELPERS_BPF_H
#define CWT_HELPERS_BPF_H

#include "maps.bpf.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

/* Loss and activity counters (CWT_CNT_*), per CPU; summed by userspace. */
static __always_inline void count(__u32 idx)
{
    __u64* v = bpf_map_lookup_elem(&counters, &idx);
    if (v)
        *v += 1;
}

static __always_inline __u32 sock_netns(const struct sock* sk)
{
    return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* ::ffff:a.b.c.d, so that one 16-byte form holds both families. */
static __always_inline void put_v4_mapped(__u8 out[16], __u32 addr)
{
    out[10] = 0xff;
    out[11] = 0xff;
    __builtin_memcpy(&out[12], &addr, 4);
}

/* Reads addresses and ports from the socket; IPv4 becomes v4-mapped. */
static __always_inline void read_tuple(const struct sock* sk, struct cwt_tuple* t)
{
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    t->family = family;
    t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (family == AF_INET6) {
        BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    } else {
        put_v4_mapped(t->saddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
        put_v4_mapped(t->daddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
    }
}

/* Whether `port` is in the first `n` entries of a filter list. */
static __always_inline bool port_in(const volatile __u16* list, __u8 n, __u16 port)
{
    bool found = false;
#pragma unroll
    for (int i = 0; i < CWT_MAX_FILTER_PORTS; i++)
        found |= i < n && list[i] == port;
    return found;
}

/* The socket filters: family (-4/-6) and ports (-P/-L/-D). A listener has no
 * remote port (0), so -D matches no listener. */
static __always_inline bool sock_filters_match(const struct sock* sk)
{
    if (filter_family && BPF_CORE_READ(sk, __sk_common.skc_family) != filter_family)
        return false;
    if (!filter_n_ports && !filter_n_lports && !filter_n_rports)
        return true;
    __u16 sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    __u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (filter_n_ports && !port_in(filter_ports, filter_n_ports, sport) &&
        !port_in(filter_ports, filter_n_ports, dport))
        return false;
    if (filter_n_lports && !port_in(filter_lports, filter_n_lports, sport))
        return false;
    if (filter_n_rports && !port_in(filter_rports, filter_n_rports, dport))
        return false;
    return true;
}

static __always_inline __u32 tcp_recv_q(const struct sock* sk)
{
    const struct tcp_sock* tp = (const struct tcp_sock*)sk;
    __u32 rcv_nxt = BPF_CORE_READ(tp, rcv_nxt);
    __u32 copied = BPF_CORE_READ(tp, copied_seq);
    __s32 diff = (__s32)(rcv_nxt - copied);
    return diff > 0 ? (__u32)diff : 0;
}

static __always_inline void emit_sock_event(__u8 kind, __u64 sk, __u8 old_state, __u8 new_state,
                                            const struct cwt_cw_entry* cw, __u64 now, __u8 shutdown)
{
    struct cwt_sock_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(CWT_CNT_RINGBUF_DROPPED);
        return;
    }
    e->hdr.kind = kind;
    e->hdr.ts_ns = now;
    e->sk = sk;
    e->old_state = old_state;
    e->new_state = new_state;
    e->sk_shutdown = shutdown;
    __builtin_memcpy(&e->cw, cw, sizeof(*cw));
    /* No wakeup: the daemon drains on a short timer. Per-event wakeups cost the
     * traced workload an IRQ each (kernel-notes.md, "Wakeups"). */
    bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ringbuf_wake_bytes
                              ? BPF_RB_FORCE_WAKEUP
                              : BPF_RB_NO_WAKEUP);
}

/* The owner recorded for a socket: in `owners` until the socket enters
 * CLOSE_WAIT, then only in its close_waits entry (the entry carries a copy, so
 * a leaked socket costs one map element, not two). NULL when unknown. */
static __always_inline struct cwt_owner* sock_owner(__u64 key)
{
    struct cwt_owner* o = bpf_map_lookup_elem(&owners, &key);
    if (o)
        return o;
    struct cwt_cw_entry* cw = bpf_map_lookup_elem(&close_waits, &key);
    return cw && cw->owner_kind == CWT_OWNER_PROCESS ? &cw->owner : NULL;
}

/* Is this socket tracked: does the tool hold per-socket state for it (an
 * owner recorded at accept or, under -p, at the target's connect; or a
 * CLOSE_WAIT entry)? Under -p only the target's sockets are ever tracked, so
 * this is also "is it the target's". For other BPF objects that share these
 * maps (e.g. leak_site.bpf.c); keyed by the socket's address. */
static __always_inline bool cwt_sock_is_tracked(__u64 key)
{
    return bpf_map_lookup_elem(&owners, &key) || bpf_map_lookup_elem(&close_waits, &key);
}

/* task -> files -> fdtable -> file; NULL when fd is not open. */
static __always_inline struct file* fd_to_file(struct task_struct* task, int fd)
{
    struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
    struct file** fds;
    struct file* f = NULL;

    if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
        return NULL;
    fds = BPF_CORE_READ(fdt, fd);
    bpf_core_read(&f, sizeof(f), &fds[fd]);
    return f;
}

/* The struct sock behind an fd, or NULL if the fd is not a TCP socket. */
static __always_inline struct sock* file_to_tcp_sock(struct file* f)
{
    struct socket* sock;
    struct sock* sk;

    if (!f)
        return NULL;
    if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
        return NULL;
    sock = BPF_CORE_READ(f, private_data);
    if (!sock)
        return NULL;
    sk = BPF_CORE_READ(sock, sk);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return NULL;
    return sk;
}

#endif /* CWT_HELPERS_BPF_H */
