// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Leak sites: where the application read EOF on a socket and then kept it.
 *
 * A read/recv/recvfrom/recvmsg/readv that returns 0 on a socket already in
 * CLOSE_WAIT is the moment the application learned the peer had gone. The
 * user stack at that syscall names the code path that then forgot close().
 * For sockets whose application never reads the EOF, the stack at accept()
 * (which runs in the owner's context) is kept as the second clue.
 *
 * Cost: the exit programs return at once unless the syscall returned 0
 * (`ret != 0`: two instructions); only then is the fd followed to its socket,
 * its state checked and the close_waits map consulted. The stack is captured
 * once per socket.
 *
 * The stack is kept twice: the kernel's frame-pointer walk (stack map, shared
 * between equal stacks), and a copy of the top CWT_SITE_STACK_BYTES of the
 * user stack with the registers, which userspace unwinds with the binaries'
 * CFI: a libc syscall wrapper pushes no frame, so the frame-pointer walk skips
 * exactly the function we want (the caller of read()).
 *
 * This file is one concern of the single BPF object. Compiled on its own
 * (CWT_LEAK_SITE_STANDALONE), it brings the few helpers and the stand-ins for
 * the other concerns' hooks it needs, so that it can be tested as its own
 * skeleton sharing the close_waits map of the main one.
 */
#ifdef CWT_LEAK_SITE_STANDALONE
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "closewait_trace/events.h"

#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 filter_tgid = 0;

/* Reused from the main object (bpf_map__reuse_fd): sockets in CLOSE_WAIT. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, __u64);
    __type(value, struct cwt_cw_entry);
} close_waits SEC(".maps");

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
#endif /* CWT_LEAK_SITE_STANDALONE */

/* Stacks by frame-pointer walk, shared between equal stacks. */
struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 16384);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, CWT_SITE_STACK_DEPTH * sizeof(__u64));
} leak_stacks SEC(".maps");

/* Site per socket, from the capture until the socket is freed (TCP_CLOSE).
 * Allocated on use: only sockets that read EOF (or were accepted) pay. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u64);
    __type(value, struct cwt_leak_site);
} leak_sites SEC(".maps");

/* The record is built here: it is larger than the BPF stack. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct cwt_leak_site);
} leak_site_scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, CWT_LCNT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} leak_counters SEC(".maps");

/* Kernels without bpf_task_pt_regs (before 5.15): the fd is stashed at
 * syscall entry, per thread. Only those kernels attach the entry programs. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __s32);
} leak_read_fds SEC(".maps");

/* Capture accept() stacks too (the second clue). */
const volatile bool leak_site_accepts = true;

static __always_inline void leak_count(__u32 idx)
{
    __u64* v = bpf_map_lookup_elem(&leak_counters, &idx);
    if (v)
        *v += 1;
}

static __always_inline bool have_task_pt_regs(void)
{
    return bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs);
}

/* Stores the current user stack against the socket. */
static __always_inline void leak_site_capture(void* ctx, __u64 key, __u8 kind, __u8 call, __s32 fd, __u64 flags)
{
    __u32 zero = 0;
    struct cwt_leak_site* s = bpf_map_lookup_elem(&leak_site_scratch, &zero);
    __u64 id = bpf_get_current_pid_tgid();

    if (!s)
        return;
    s->ts_ns = bpf_ktime_get_ns();
    s->tgid = id >> 32;
    s->tid = (__u32)id;
    s->fd = fd;
    s->kind = kind;
    s->call = call;
    s->stack_len = 0;
    s->ip = s->sp = s->bp = 0;
    s->stack_id = bpf_get_stackid(ctx, &leak_stacks, BPF_F_USER_STACK);
    if (s->stack_id < 0)
        leak_count(CWT_LCNT_STACK_FAILED);
    if (have_task_pt_regs()) {
        struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(bpf_get_current_task_btf());
        s->ip = PT_REGS_IP_CORE(regs);
        s->sp = PT_REGS_SP_CORE(regs);
        s->bp = PT_REGS_FP_CORE(regs);
        /* The top of a stack may be closer than the whole copy: retry short. */
        if (bpf_probe_read_user(s->stack, sizeof(s->stack), (void*)s->sp) == 0)
            s->stack_len = sizeof(s->stack);
        else if (bpf_probe_read_user(s->stack, 128, (void*)s->sp) == 0)
            s->stack_len = 128;
        else
            leak_count(CWT_LCNT_COPY_FAILED);
    }
    if (bpf_map_update_elem(&leak_sites, &key, s, flags)) {
        if (flags != BPF_NOEXIST) /* NOEXIST failing on an existing entry is no loss */
            leak_count(CWT_LCNT_MAP_FULL);
        else if (!bpf_map_lookup_elem(&leak_sites, &key))
            leak_count(CWT_LCNT_MAP_FULL);
        return;
    }
    leak_count(CWT_LCNT_CAPTURED);
}

/* The accept concern calls this with the socket accept() returned. */
static __always_inline void leak_site_on_accept(void* ctx, const struct sock* sk, __s32 fd, __u8 call)
{
    if (!leak_site_accepts)
        return;
    leak_site_capture(ctx, (__u64)sk, CWT_SITE_ACCEPT, call, fd, BPF_NOEXIST);
}

/* The state concern calls this when a socket reaches TCP_CLOSE. */
static __always_inline void leak_site_forget(__u64 key)
{
    bpf_map_delete_elem(&leak_sites, &key);
}

static __always_inline int on_read_exit(void* ctx, long ret, __u8 call)
{
    if (ret != 0)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (filter_tgid && (id >> 32) != filter_tgid)
        return 0;

    int fd;
    if (have_task_pt_regs()) {
        struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(bpf_get_current_task_btf());
        fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
    } else {
        __s32* p = bpf_map_lookup_elem(&leak_read_fds, &id);
        if (!p)
            return 0;
        fd = *p;
    }
    struct sock* sk = file_to_tcp_sock(fd_to_file((struct task_struct*)bpf_get_current_task(), fd));
    if (!sk || BPF_CORE_READ(sk, __sk_common.skc_state) != CWT_TCP_CLOSE_WAIT)
        return 0;
    __u64 key = (__u64)sk;
    if (!bpf_map_lookup_elem(&close_waits, &key))
        return 0; /* not tracked (filtered out, or the map was full) */
    struct cwt_leak_site* have = bpf_map_lookup_elem(&leak_sites, &key);
    if (have && have->kind == CWT_SITE_READ_EOF)
        return 0; /* the first EOF read is the site */
    leak_site_capture(ctx, key, CWT_SITE_READ_EOF, call, fd, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int leak_read_exit(struct trace_event_raw_sys_exit* ctx)
{
    return on_read_exit(ctx, ctx->ret, CWT_CALL_READ);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int leak_recvfrom_exit(struct trace_event_raw_sys_exit* ctx)
{
    return on_read_exit(ctx, ctx->ret, CWT_CALL_RECVFROM);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int leak_recvmsg_exit(struct trace_event_raw_sys_exit* ctx)
{
    return on_read_exit(ctx, ctx->ret, CWT_CALL_RECVMSG);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int leak_readv_exit(struct trace_event_raw_sys_exit* ctx)
{
    return on_read_exit(ctx, ctx->ret, CWT_CALL_READV);
}

/* Before 5.15 only: remember the fd at entry. */
static __always_inline int on_read_enter(struct trace_event_raw_sys_enter* ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __s32 fd = (__s32)ctx->args[0];
    if (filter_tgid && (id >> 32) != filter_tgid)
        return 0;
    bpf_map_update_elem(&leak_read_fds, &id, &fd, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int leak_read_enter(struct trace_event_raw_sys_enter* ctx)
{
    return on_read_enter(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int leak_recvfrom_enter(struct trace_event_raw_sys_enter* ctx)
{
    return on_read_enter(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int leak_recvmsg_enter(struct trace_event_raw_sys_enter* ctx)
{
    return on_read_enter(ctx);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int leak_readv_enter(struct trace_event_raw_sys_enter* ctx)
{
    return on_read_enter(ctx);
}

#ifdef CWT_LEAK_SITE_STANDALONE
/* Stand-ins for the accept and state concerns' calls. */
static __always_inline int standalone_accept_exit(void* ctx, long ret, __u8 call)
{
    if (ret < 0)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (filter_tgid && (id >> 32) != filter_tgid)
        return 0;
    struct sock* sk = file_to_tcp_sock(fd_to_file((struct task_struct*)bpf_get_current_task(), (int)ret));
    if (sk)
        leak_site_on_accept(ctx, sk, (__s32)ret, call);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int leak_accept4_exit(struct trace_event_raw_sys_exit* ctx)
{
    return standalone_accept_exit(ctx, ctx->ret, CWT_CALL_ACCEPT4);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int leak_accept_exit(struct trace_event_raw_sys_exit* ctx)
{
    return standalone_accept_exit(ctx, ctx->ret, CWT_CALL_ACCEPT);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(leak_set_state, const struct sock* sk, int oldstate, int newstate)
{
    if (newstate == CWT_TCP_CLOSE)
        leak_site_forget((__u64)sk);
    return 0;
}
#endif /* CWT_LEAK_SITE_STANDALONE */
