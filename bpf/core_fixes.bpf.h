// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel-version differences, in one place, in the libbpf-tools core_fixes.bpf.h
 * tradition: each helper hides one change behind a CO-RE check, and names the
 * kernel commit (torvalds/linux) that made it. Choices that need a separate
 * program (bpf_loop, the fentry/kprobe tiers) are made by the loader instead;
 * they are listed at the end for reference.
 */
#ifndef CWT_CORE_FIXES_BPF_H
#define CWT_CORE_FIXES_BPF_H

#include "helpers.bpf.h"

/*
 * inet_csk_accept's signature, 6.10: torvalds/linux 92ef0fd ("net: change
 * proto and proto_ops accept type") replaced (sk, flags, err, kern) with
 * (sk, struct proto_accept_arg *arg). An fexit program finds the returned
 * child after the arguments, so in ctx[2] (new) or ctx[4] (old).
 *
 * The two reads must stay separate __noinline functions, or clang merges them
 * into one variable-offset ctx read, which the verifier rejects.
 * (tests/vm/broken-probe.sh swaps these two slots to prove the matrix can fail.)
 */
static __noinline struct sock* accept_ret_new(__u64* ctx)
{
    return (struct sock*)ctx[2];
}

static __noinline struct sock* accept_ret_old(__u64* ctx)
{
    return (struct sock*)ctx[4];
}

/* The child socket inet_csk_accept returned, from an fexit context. */
static __always_inline struct sock* inet_csk_accept_ret(__u64* ctx)
{
    if (bpf_core_type_exists(struct proto_accept_arg))
        return accept_ret_new(ctx);
    return accept_ret_old(ctx);
}

/*
 * bpf_sock_from_file, 5.11: torvalds/linux 4f19cab76136 ("bpf: Add a
 * bpf_sock_from_file helper"). Where it exists the iterator reaches the socket
 * with plain loads; older kernels take the probe-read path.
 */
static __always_inline bool have_sock_from_file(void)
{
    return bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_sock_from_file);
}

/*
 * io_uring_complete's `req` field: the tracepoint first carried only
 * (user_data, res); the request pointer came with the io_uring tracepoint
 * rework (around 5.14; the exact commit is not pinned here). Without it an
 * io_uring accept's listener cannot be found: NULL.
 */
static __always_inline struct io_kiocb* io_uring_complete_req(struct trace_event_raw_io_uring_complete* ctx)
{
    if (!bpf_core_field_exists(ctx->req))
        return NULL;
    return (struct io_kiocb*)ctx->req;
}

/*
 * Decided by the loader (userspace), not here:
 * - bpf_loop, 5.17: torvalds/linux e6f2dd0f8067 ("bpf: Add bpf_loop helper").
 *   Kernels before 5.13 reject even a dead reference to the callback, so
 *   iter_tcp_no_queue_walk is a separate program (iterators.bpf.c).
 * - iter/tcp holding the listener's lock, 5.15: torvalds/linux 04c7820b776f
 *   ("bpf: tcp: Bpf iter batching and lock_sock"); the accept-queue walk is
 *   only safe with it, and bpf_loop (5.17) implies it.
 */

#endif /* CWT_CORE_FIXES_BPF_H */
