// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Inline helpers shared by several program files: loss counting (every failed
 * ringbuf reservation or map insert bumps a `counters` slot), reading the facts
 * of a socket, the port filter, the ring-buffer record, and fd -> socket.
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

static __always_inline bool port_matches(const struct sock* sk)
{
    if (!filter_port)
        return true;
    __u16 sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    __u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    return sport == filter_port || dport == filter_port;
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
