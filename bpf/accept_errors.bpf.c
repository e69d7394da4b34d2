// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Accept errors: EMFILE/ENFILE from accept()/accept4() (reported from the
 * syscall exit in accept.bpf.c) and from io_uring accepts (io_uring_complete),
 * aggregated per (process, listening fd) in `accept_errors`; and shedding, an
 * application closing what it just accepted while its accepts fail.
 *
 * Included before state_change.bpf.c and accept.bpf.c, which call these.
 *
 * Part of the one compilation unit closewait.bpf.c (one object, one
 * skeleton): built through it, not on its own.
 */
#include "core_fixes.bpf.h"
#include "helpers.bpf.h"

static __always_inline void record_accept_error(__u32 tgid, __s32 listen_fd, struct sock* lsk, __s32 err,
                                                __u32 nr, __u64 now)
{
    struct cwt_accept_error_key k = {.tgid = tgid, .listen_fd = listen_fd};
    struct cwt_accept_error_value* agg = bpf_map_lookup_elem(&accept_errors, &k);

    last_accept_error_ns = now;
    if (agg) {
        /* Not the first failure: aggregate only; userspace reports deltas. */
        if (err == EMFILE)
            __sync_fetch_and_add(&agg->emfile, 1);
        else
            __sync_fetch_and_add(&agg->enfile, 1);
        agg->last_ns = now;
        return;
    }

    struct cwt_accept_error_value v = {};
    v.first_ns = now;
    v.last_ns = now;
    v.emfile = err == EMFILE;
    v.enfile = err == ENFILE;
    v.listener_sk = (__u64)lsk;
    v.syscall_nr = nr;
    bpf_get_current_comm(&v.comm, sizeof(v.comm));
    if (bpf_map_update_elem(&accept_errors, &k, &v, BPF_NOEXIST)) {
        count(CWT_CNT_ACCEPT_ERR_MAP_FULL);
        return;
    }

    struct cwt_accept_error_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(CWT_CNT_RINGBUF_DROPPED);
        return;
    }
    struct task_struct* task = (struct task_struct*)bpf_get_current_task();
    e->hdr.kind = CWT_EV_ACCEPT_ERROR;
    e->hdr.ts_ns = now;
    e->listener_sk = (__u64)lsk;
    e->tgid = tgid;
    e->listen_fd = listen_fd;
    e->err = err;
    e->syscall_nr = nr;
    e->nofile_soft = BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_cur);
    e->nofile_hard = BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_max);
    e->next_fd = BPF_CORE_READ(task, files, next_fd);
    __builtin_memcpy(e->comm, v.comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0); /* rare and urgent: wake the daemon */
}

/* Did this (process, listener) fail an accept within the last
 * CWT_AFTER_ACCEPT_ERROR_NS? Then a socket it accepts now is marked, and a
 * quick close of it counts as shed (check_shed). */
static __always_inline bool accept_failed_recently(__u32 tgid, __s32 listen_fd, __u64 now)
{
    if (!last_accept_error_ns || now - last_accept_error_ns >= CWT_AFTER_ACCEPT_ERROR_NS)
        return false;
    struct cwt_accept_error_key ek = {.tgid = tgid, .listen_fd = listen_fd};
    struct cwt_accept_error_value* agg = bpf_map_lookup_elem(&accept_errors, &ek);
    return agg && now - agg->last_ns < CWT_AFTER_ACCEPT_ERROR_NS;
}

/* The application closed a socket it had just accepted while its accepts were
 * failing: count it as shed against that (process, listener). */
static __always_inline void check_shed(__u64 key, __u64 now)
{
    struct cwt_owner* owner = sock_owner(key);
    if (!owner || !(owner->flags & CWT_OWNER_F_AFTER_ACCEPT_ERROR) ||
        now - owner->accept_ns > CWT_SHED_WINDOW_NS)
        return;
    struct cwt_accept_error_key k = {.tgid = owner->tgid, .listen_fd = owner->listen_fd};
    struct cwt_accept_error_value* agg = bpf_map_lookup_elem(&accept_errors, &k);
    if (agg)
        __sync_fetch_and_add(&agg->shed, 1);
}

/* io_uring accepts fail with EMFILE/ENFILE without any accept syscall: the
 * completion names the request, whose file is the listener. Kernels without
 * `req` in this event (core_fixes.bpf.h): the program does nothing. */
SEC("tracepoint/io_uring/io_uring_complete")
int uring_complete(struct trace_event_raw_io_uring_complete* ctx)
{
    int res = ctx->res;
    if (res != -EMFILE && res != -ENFILE)
        return 0;
    struct io_kiocb* req = io_uring_complete_req(ctx);
    if (!req || BPF_CORE_READ(req, opcode) != IORING_OP_ACCEPT)
        return 0;
    struct sock* lsk = file_to_tcp_sock(BPF_CORE_READ(req, file));
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!lsk || !sock_filters_match(lsk) || (filter_tgid && tgid != filter_tgid))
        return 0;
    record_accept_error(tgid, -1, lsk, -res, CWT_SYSCALL_IO_URING, bpf_ktime_get_ns());
    return 0;
}
