// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor for churn_bench.sh: the hooks closewait-trace attaches on this
 * kernel, with the same program types (tp_btf for inet_sock_set_state, the
 * accept syscall tracepoints), each only counting into a per-CPU array. What
 * a tracer on these hooks cannot go below.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum { FLOOR_SET_STATE, FLOOR_ACCEPT_ENTER, FLOOR_ACCEPT_EXIT, FLOOR_MAX };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FLOOR_MAX);
    __type(key, __u32);
    __type(value, __u64);
} floor_counts SEC(".maps");

static __always_inline void bump(__u32 idx)
{
    __u64* v = bpf_map_lookup_elem(&floor_counts, &idx);
    if (v)
        *v += 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_set_state, const struct sock* sk, int oldstate, int newstate)
{
    bump(FLOOR_SET_STATE);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int floor_accept4_enter(void* ctx)
{
    bump(FLOOR_ACCEPT_ENTER);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int floor_accept4_exit(void* ctx)
{
    bump(FLOOR_ACCEPT_EXIT);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int floor_accept_enter(void* ctx)
{
    bump(FLOOR_ACCEPT_ENTER);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int floor_accept_exit(void* ctx)
{
    bump(FLOOR_ACCEPT_EXIT);
    return 0;
}
