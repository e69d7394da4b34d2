// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Iterators: the inventory of what exists now (iter/tcp over every TCP
 * socket, iter/task_file over every fd) and the one-shot audit (--snapshot).
 * Context pointers here are trusted BTF pointers: plain loads.
 *
 * Part of the one compilation unit closewait.bpf.c (one object, one
 * skeleton): built through it, not on its own.
 */
#include "core_fixes.bpf.h"
#include "helpers.bpf.h"

static __always_inline __u64 sock_ino(const struct sock* sk)
{
    struct socket* sock = BPF_CORE_READ(sk, sk_socket);
    if (!sock)
        return 0;
    /* sock_i_ino(): the inode lives right after the socket in socket_alloc. */
    struct socket_alloc* sa = container_of(sock, struct socket_alloc, socket);
    return BPF_CORE_READ(sa, vfs_inode.i_ino);
}

/* Iterator context pointers are trusted BTF pointers: plain loads (checked by
 * the verifier) instead of probe-read helper calls, which dominate a walk over
 * 100k sockets. */
static __always_inline void read_tuple_btf(const struct sock* sk, struct cwt_tuple* t)
{
    __u16 family = sk->__sk_common.skc_family;
    t->family = family;
    t->sport = sk->__sk_common.skc_num;
    t->dport = bpf_ntohs(sk->__sk_common.skc_dport);
    if (family == AF_INET6) {
        __builtin_memcpy(t->saddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
        __builtin_memcpy(t->daddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
    } else {
        put_v4_mapped(t->saddr, sk->__sk_common.skc_rcv_saddr);
        put_v4_mapped(t->daddr, sk->__sk_common.skc_daddr);
    }
}

/* See cwt_iter_sock.fin_by_ns. Whole jiffies elapsed, less one for the tick
 * in progress, so the bound never exceeds the true age. `last`: rcv_tstamp,
 * read before the clock. */
static __always_inline __u64 fin_by_ns_from(__u32 last)
{
    barrier(); /* the stamp first: a segment arriving meanwhile must not wrap the difference */
    __u32 ticks = (__u32)bpf_jiffies64() - last;
    if (ticks >= 1U << 31)
        return 0; /* newer than our jiffies read after all, or 25+ days idle: no bound */
    __u64 now = bpf_ktime_get_ns();
    __u64 idle = ticks > 1 ? (__u64)(ticks - 1) * jiffy_ns : 0;
    return idle < now ? now - idle : 0;
}

static __always_inline __u64 fin_by_ns(const struct tcp_sock* tp)
{
    if (!jiffy_ns)
        return 0;
    return fin_by_ns_from(tp->rcv_tstamp);
}

/* The iter/tcp record of a socket reached through an fd (probe reads: the
 * pointer may come from the pre-5.11 path). Listeners and CLOSE_WAITs only. */
static __always_inline void file_sock_record(struct sock* sk, __u64 key, __u64 ino, __u8 state,
                                             struct cwt_iter_sock* s)
{
    const struct tcp_sock* tp = (const struct tcp_sock*)sk;

    s->sk = key;
    s->ino = ino;
    s->netns = sock_netns(sk);
    s->uid = BPF_CORE_READ(sk, sk_uid.val);
    s->state = state;
    s->has_socket = 1;
    read_tuple(sk, &s->tuple);
    if (state == CWT_TCP_LISTEN) {
        s->recv_q = BPF_CORE_READ(sk, sk_ack_backlog);
        s->send_q = BPF_CORE_READ(sk, sk_max_ack_backlog);
        return;
    }
    __s32 sq = (__s32)(BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una));
    s->recv_q = tcp_recv_q(sk);
    s->send_q = sq > 0 ? sq : 0;
    if (jiffy_ns)
        s->fin_by_ns = fin_by_ns_from(BPF_CORE_READ(tp, rcv_tstamp));
}

struct queue_walk {
    __u64 req; /* struct request_sock *, next entry to read */
    __u64 listener;
};

/* bpf_loop callback: one queue entry; 1 ends the walk. */
static long queue_walk_step(__u32 i, void* ctx)
{
    struct queue_walk* w = ctx;
    struct request_sock* req = (struct request_sock*)w->req;
    __u64 child = 0, next = 0;

    if (!req)
        return 1;
    bpf_core_read(&child, sizeof(child), &req->sk);
    bpf_core_read(&next, sizeof(next), &req->dl_next);
    if (child && bpf_map_update_elem(&queued_on, &child, &w->listener, BPF_ANY))
        count(CWT_CNT_QUEUED_MAP_FULL);
    w->req = next;
    return next ? 0 : 1;
}

/* The iterator holds the listener's lock (5.15+), so accept() cannot unlink
 * entries meanwhile; softirq may append, which only extends the walk. */
static __always_inline void record_accept_queue(struct tcp_sock* tp, __u64 listener, bool with_bpf_loop)
{
    struct queue_walk w = {(__u64)tp->inet_conn.icsk_accept_queue.rskq_accept_head, listener};

    /* Without bpf_loop (before 5.17) no walk: before 5.15 the iterator does
     * not lock the listener, so a concurrent accept() could free the entry
     * being read. Those kernels match queued sockets by address. */
    if (with_bpf_loop)
        bpf_loop(CWT_MAX_QUEUE_WALK, queue_walk_step, &w, 0);
}

/* Two programs, one body: kernels before 5.13 reject the bpf_loop callback
 * reference even in dead code, so where bpf_loop is missing (before 5.17)
 * the loader loads the variant without it. */
static __always_inline int iter_tcp_body(struct bpf_iter__tcp* ctx, bool with_bpf_loop)
{
    struct sock_common* skc = ctx->sk_common;
    struct cwt_iter_sock rec = {};
    struct tcp_sock* tp;
    struct sock* sk;
    __u64 key;

    if (!skc)
        return 0;
    tp = bpf_skc_to_tcp_sock(skc); /* full sockets only: no TIME_WAIT, no requests */
    if (!tp)
        return 0;
    sk = (struct sock*)tp;
    key = (__u64)sk;
    rec.state = sk->__sk_common.skc_state;
    rec.has_socket = sk->sk_socket != NULL;
    if (iter_snapshot) {
        if (rec.state != CWT_TCP_LISTEN && rec.state != CWT_TCP_CLOSE_WAIT && rec.has_socket)
            return 0; /* an accepted or connected socket that is not in CLOSE_WAIT */
        if (!rec.has_socket && rec.state != CWT_TCP_ESTABLISHED && rec.state != CWT_TCP_CLOSE_WAIT)
            return 0; /* an orphan (FIN_WAIT, LAST_ACK...), not a queued child */
    } else if (iter_only_wanted && rec.state != CWT_TCP_LISTEN && !bpf_map_lookup_elem(&wanted, &key)) {
        return 0;
    }
    if (!sock_filters_match(sk))
        return 0;

    rec.sk = key;
    rec.uid = ctx->uid;
    rec.netns = sk->__sk_common.skc_net.net->ns.inum;
    rec.ino = sock_ino(sk);
    read_tuple_btf(sk, &rec.tuple);
    if (rec.state == CWT_TCP_LISTEN) {
        rec.recv_q = sk->sk_ack_backlog;
        rec.send_q = sk->sk_max_ack_backlog;
        if (rec.recv_q)
            record_accept_queue(tp, key, with_bpf_loop);
    } else {
        __s32 rq = (__s32)(tp->rcv_nxt - tp->copied_seq);
        __s32 sq = (__s32)(tp->write_seq - tp->snd_una);
        rec.recv_q = rq > 0 ? rq : 0;
        rec.send_q = sq > 0 ? sq : 0;
        if (rec.state == CWT_TCP_CLOSE_WAIT)
            rec.fin_by_ns = fin_by_ns(tp);
    }
    bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
    return 0;
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp* ctx)
{
    return iter_tcp_body(ctx, true);
}

SEC("iter/tcp")
int iter_tcp_no_queue_walk(struct bpf_iter__tcp* ctx)
{
    return iter_tcp_body(ctx, false);
}

/* The TCP sock behind a file from the iterator. bpf_sock_from_file (5.11+)
 * keeps every step a plain load; older kernels take the probe-read path. */
static __always_inline struct sock* iter_file_tcp_sock(struct file* file)
{
    struct socket* sock;
    struct sock* sk;

    if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
        return NULL;
    if (!have_sock_from_file())
        return file_to_tcp_sock(file);
    sock = bpf_sock_from_file(file);
    if (!sock)
        return NULL;
    sk = sock->sk;
    if (!sk || sk->sk_protocol != IPPROTO_TCP)
        return NULL;
    return sk;
}

/* Store the fd count of the table just walked. The first table of a tgid is
 * its leader's (lowest tid first), the one /proc/PID/fd shows. */
static __always_inline void store_fd_count(void)
{
    if (!iter_cur_tgid)
        return;
    __u32 key = iter_cur_tgid;
    struct cwt_fd_count c = {iter_cur_fds, iter_cur_nofile_soft, iter_cur_nofile_hard};
    bpf_map_update_elem(&fd_counts, &key, &c, BPF_NOEXIST);
    iter_cur_tgid = 0;
}

SEC("iter/task_file")
int iter_task_file(struct bpf_iter__task_file* ctx)
{
    struct task_struct* task = ctx->task;
    struct file* file = ctx->file;
    __s32 fd = (__s32)ctx->fd; /* read once: the verifier refuses a ctx pointer the compiler offset */
    struct cwt_iter_file rec = {};
    struct sock* sk;
    __u64 key;

    if (!task || !file) {
        if (iter_snapshot)
            store_fd_count(); /* the end of the walk */
        return 0;
    }
    if (iter_tgid && task->tgid != iter_tgid)
        return 0;
    if (iter_snapshot) {
        if (task->tgid != iter_cur_tgid) {
            store_fd_count();
            iter_cur_tgid = task->tgid;
            iter_cur_fds = 0;
            iter_cur_last_fd = -1;
            iter_cur_nofile_soft = task->signal->rlim[RLIMIT_NOFILE].rlim_cur;
            iter_cur_nofile_hard = task->signal->rlim[RLIMIT_NOFILE].rlim_max;
        }
        if (fd > iter_cur_last_fd) /* fds come in increasing order */
            iter_cur_fds++;
        iter_cur_last_fd = fd;
    }
    sk = iter_file_tcp_sock(file);
    if (!sk)
        return 0;
    key = (__u64)sk;
    if (iter_snapshot) {
        /* The audit wants the fds of exactly what iter/tcp emitted with a
         * socket: listeners and CLOSE_WAITs, by the same port filter. Read
         * from the socket itself, not marked in a map: at 100k sockets the
         * marks were the walk's largest cost. */
        __u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
        if ((state != CWT_TCP_CLOSE_WAIT && state != CWT_TCP_LISTEN) || !sock_filters_match(sk))
            return 0;
    } else if (iter_only_wanted && !bpf_map_lookup_elem(&wanted, &key)) {
        return 0;
    }

    rec.sk = key;
    rec.ino = file->f_inode->i_ino;
    if (iter_file_socks) {
        rec.netns = sock_netns(sk);
        rec.state = BPF_CORE_READ(sk, __sk_common.skc_state);
        if ((rec.state == CWT_TCP_LISTEN || rec.state == CWT_TCP_CLOSE_WAIT) && sock_filters_match(sk))
            file_sock_record(sk, key, rec.ino, rec.state, &rec.sock);
    }
    rec.tgid = task->tgid;
    rec.fd = fd;
    __builtin_memcpy(rec.comm, task->comm, sizeof(rec.comm));
    bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
    return 0;
}
