// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP state changes (inet_sock_set_state): entering and leaving CLOSE_WAIT,
 * the ownership verdict from the socket itself, and the end of a socket's
 * life. Runs in softirq: nothing here is taken from `current`.
 *
 * Part of the one compilation unit closewait.bpf.c (one object, one
 * skeleton): built through it, not on its own.
 */
#include "helpers.bpf.h"

static __always_inline void on_enter_close_wait(const struct sock* sk, __u64 key, int oldstate, __u64 now)
{
    struct cwt_cw_entry cw = {};
    struct cwt_owner* owner;

    count(CWT_CNT_CLOSE_WAITS);
    cw.enter_ns = now;
    cw.netns = sock_netns(sk);
    cw.recv_q = tcp_recv_q(sk);
    cw.owner.fd = -1;
    cw.owner.listen_fd = -1;
    read_tuple(sk, &cw.tuple);

    /* The ownership verdict, from the socket: a child still in a listener's
     * accept queue has no struct socket yet. `current` is irrelevant here. */
    if (!BPF_CORE_READ(sk, sk_socket)) {
        cw.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
        owner = NULL;
    } else {
        owner = bpf_map_lookup_elem(&owners, &key);
        if (owner && filter_tgid && owner->tgid != filter_tgid)
            return; /* seeded at start for another process */
        if (owner && !(owner->flags & CWT_OWNER_F_CONNECTED)) {
            cw.owner_kind = CWT_OWNER_PROCESS;
            __builtin_memcpy(&cw.owner, owner, sizeof(cw.owner));
        } else {
            /* Never accepted (outbound, or from before the tool): the
             * inventory resolves the owner at the threshold. */
            cw.owner_kind = CWT_OWNER_UNKNOWN;
        }
    }

    if (bpf_map_update_elem(&close_waits, &key, &cw, BPF_ANY))
        count(CWT_CNT_CW_MAP_FULL);
    else if (owner)
        /* The entry now carries the owner: one element per leaked socket. */
        bpf_map_delete_elem(&owners, &key);

    if (cw.owner_kind == CWT_OWNER_ACCEPT_QUEUE || emit_every_close_wait)
        emit_sock_event(CWT_EV_CLOSE_WAIT, key, oldstate, CWT_TCP_CLOSE_WAIT, &cw, now, 0);
}

static __always_inline void on_leave_close_wait(const struct sock* sk, __u64 key, int newstate, __u64 now)
{
    struct cwt_cw_entry* cw = bpf_map_lookup_elem(&close_waits, &key);
    if (!cw)
        return;
    /* Userspace needs the close only if it knows the socket: queued ones are
     * reported at once, old ones have crossed (or are about to cross) the
     * leak threshold, pre-existing ones were seeded by the inventory. */
    if (emit_every_close_wait || cw->owner_kind == CWT_OWNER_ACCEPT_QUEUE || cw->preexisting ||
        now - cw->enter_ns >= leak_threshold_ns)
        /* sk_shutdown tells an application abort (close() with unread
         * data: SEND_SHUTDOWN already set) from a peer reset (not yet). */
        emit_sock_event(CWT_EV_CW_CLOSED, key, CWT_TCP_CLOSE_WAIT, newstate, cw, now,
                        (__u8)BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown));
    bpf_map_delete_elem(&close_waits, &key);
}

/* -p: is this transition about one of the target's sockets? Decided here so
 * that other processes' sockets cost a map lookup and nothing else. A socket
 * is the target's once it was seen accepted by it (owners, then close_waits)
 * or connect()ed by it (SYN_SENT is set in the connecting process's own
 * context, the one place where `current` is the owner). A child still in an
 * accept queue has no process yet: userspace decides by its listener. */
static __always_inline bool target_sock(const struct sock* sk, __u64 key, int oldstate, int newstate)
{
    if (newstate == CWT_TCP_SYN_SENT) {
        if ((bpf_get_current_pid_tgid() >> 32) == filter_tgid) {
            struct cwt_owner o = {
                .tgid = filter_tgid, .fd = -1, .listen_fd = -1, .flags = CWT_OWNER_F_CONNECTED};
            if (bpf_map_update_elem(&owners, &key, &o, BPF_ANY))
                count(CWT_CNT_OWNER_MAP_FULL);
        }
        return false;
    }
    if (oldstate == CWT_TCP_LISTEN)
        return true; /* only the target's listeners are in `listeners` */
    if (oldstate == CWT_TCP_CLOSE_WAIT)
        return true; /* on_leave_close_wait looks it up in close_waits anyway */
    if (newstate == CWT_TCP_CLOSE_WAIT && !BPF_CORE_READ(sk, sk_socket))
        return true;
    /* Any other transition matters only with an owner (one lookup). */
    return bpf_map_lookup_elem(&owners, &key) != NULL;
}

static __always_inline int handle_set_state(const struct sock* sk, int oldstate, int newstate)
{
    __u64 key = (__u64)sk;

    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;
    if (filter_tgid && !target_sock(sk, key, oldstate, newstate))
        return 0;

    /* Application-initiated close. Only looked at while some accept failed
     * in the last CWT_SHED_LOOKBACK_NS, so healthy traffic pays one global read. */
    if (last_accept_error_ns && ((oldstate == CWT_TCP_ESTABLISHED && newstate == CWT_TCP_FIN_WAIT1) ||
                                 (oldstate == CWT_TCP_CLOSE_WAIT && newstate == CWT_TCP_LAST_ACK))) {
        __u64 now = bpf_ktime_get_ns();
        if (now - last_accept_error_ns < CWT_SHED_LOOKBACK_NS)
            check_shed(key, now);
    }

    if (newstate == CWT_TCP_CLOSE_WAIT) {
        if (sock_filters_match(sk))
            on_enter_close_wait(sk, key, oldstate, bpf_ktime_get_ns());
        return 0;
    }
    if (oldstate == CWT_TCP_CLOSE_WAIT)
        on_leave_close_wait(sk, key, newstate, bpf_ktime_get_ns());
    if (newstate == CWT_TCP_CLOSE) {
        /* End of the socket's life: drop its state so the maps stay bounded. */
        bpf_map_delete_elem(&owners, &key);
        if (oldstate == CWT_TCP_LISTEN)
            bpf_map_delete_elem(&listeners, &key);
    }
    return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_btf, const struct sock* sk, int oldstate, int newstate)
{
    return handle_set_state(sk, oldstate, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int set_state_tp(struct trace_event_raw_inet_sock_set_state* ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    return handle_set_state((const struct sock*)ctx->skaddr, ctx->oldstate, ctx->newstate);
}
