// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * closewait-trace kernel side.
 *
 * Thin by design: facts come from the socket itself, per-socket state lives in
 * maps here, and the ring buffer only carries what userspace must act on. A
 * healthy connection costs a few hash operations and zero ring-buffer records.
 *
 * Several programs do the same job on different kernels; the loader picks one
 * per hook at startup (see userspace/loader.cpp) and disables the others.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "closewait_trace/events.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define EMFILE 24
#define ENFILE 23
#define S_IFMT 00170000
#define S_IFSOCK 0140000

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Filters and modes, fixed at load time. */
const volatile __u32 filter_tgid = 0;              /* -p: 0 = every process */
const volatile __u16 filter_port = 0;              /* --port: local or remote, 0 = any */
const volatile bool emit_every_close_wait = false; /* -v */
const volatile __u64 leak_threshold_ns = 30ULL * 1000000000ULL;
/* Past this much unread data, wake the daemon instead of waiting for its timer
 * (a mass close of leaked sockets would otherwise overflow the ring). */
const volatile __u64 ringbuf_wake_bytes = 1 << 21;
/* Length of a jiffy (1e9 / CONFIG_HZ), from the kernel config; 0 = unknown.
 * Set by userspace: a __kconfig extern fails the load where no config exists. */
const volatile __u64 jiffy_ns = 0;

/* Last EMFILE/ENFILE anywhere: lets healthy closes skip the shedding check. */
__u64 last_accept_error_ns = 0;

/* Iterator filters, set by userspace before each iteration. */
__u32 iter_tgid = 0;           /* iter/task_file: 0 = every process */
bool iter_only_wanted = false; /* emit only sockets present in `wanted` */
/* The one-shot audit: iter/tcp emits only listeners, CLOSE_WAITs and children
 * still in an accept queue, and marks the ones that can have fds in `wanted`;
 * iter/task_file then emits only those fds and counts every process's fds. */
bool iter_snapshot = false;
/* iter/task_file visits one fd table at a time: count it here, store it when
 * the next table starts (one map update per process, not per fd). */
__u32 iter_cur_tgid = 0;
__s32 iter_cur_last_fd = -1; /* a record that overflowed a read is shown again: count it once */
__u64 iter_cur_fds = 0, iter_cur_nofile_soft = 0, iter_cur_nofile_hard = 0;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 23); /* 8 MiB: ~60k records between two drains */
} events SEC(".maps");

/* Sockets in CLOSE_WAIT right now. Userspace scans it for leaks. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, __u64);
    __type(value, struct cwt_cw_entry);
} close_waits SEC(".maps");

/* Owner of each accepted socket, from accept() until the socket closes. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, __u64);
    __type(value, struct cwt_owner);
} owners SEC(".maps");

/* Listening sockets that accepted at least once: who, and when last. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct cwt_listener_entry);
} listeners SEC(".maps");

/* accept()/accept4() listening fd, stashed per thread between enter and exit. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __s32);
} accept_args SEC(".maps");

/* EMFILE/ENFILE on accept, aggregated so a failing accept loop costs no output. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct cwt_accept_error_key);
    __type(value, struct cwt_accept_error_value);
} accept_errors SEC(".maps");

/* Sockets the iterators should report (keys only; value unused). Only
 * iterators use it, so it may allocate on use: memory follows the load. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u64);
    __type(value, __u8);
} wanted SEC(".maps");

/* Children waiting in a listener's accept queue -> that listener, filled by
 * iter/tcp from each listener's own queue: with SO_REUSEPORT several
 * listeners share one address, so the address cannot say whose queue it is. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u64);
    __type(value, __u64);
} queued_on SEC(".maps");

/* Snapshot: open fds and RLIMIT_NOFILE per process, filled by iter/task_file. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct cwt_fd_count);
} fd_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, CWT_CNT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

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
        __u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        t->saddr[10] = 0xff;
        t->saddr[11] = 0xff;
        __builtin_memcpy(&t->saddr[12], &s, 4);
        t->daddr[10] = 0xff;
        t->daddr[11] = 0xff;
        __builtin_memcpy(&t->daddr[12], &d, 4);
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
    } else {
        owner = bpf_map_lookup_elem(&owners, &key);
        if (owner) {
            if (filter_tgid && owner->tgid != filter_tgid)
                return;
            cw.owner_kind = CWT_OWNER_PROCESS;
            __builtin_memcpy(&cw.owner, owner, sizeof(cw.owner));
        } else {
            cw.owner_kind = CWT_OWNER_UNKNOWN;
        }
    }

    if (bpf_map_update_elem(&close_waits, &key, &cw, BPF_ANY))
        count(CWT_CNT_CW_MAP_FULL);

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

/* The application closed a socket it had just accepted while its accepts were
 * failing: count it as shed against that (process, listener). */
static __always_inline void check_shed(__u64 key, __u64 now)
{
    struct cwt_owner* owner = bpf_map_lookup_elem(&owners, &key);
    if (!owner || !(owner->flags & CWT_OWNER_F_AFTER_ACCEPT_ERROR) ||
        now - owner->accept_ns > CWT_SHED_WINDOW_NS)
        return;
    struct cwt_accept_error_key k = {.tgid = owner->tgid, .listen_fd = owner->listen_fd};
    struct cwt_accept_error_value* agg = bpf_map_lookup_elem(&accept_errors, &k);
    if (agg)
        __sync_fetch_and_add(&agg->shed, 1);
}

static __always_inline int handle_set_state(const struct sock* sk, int oldstate, int newstate)
{
    __u64 key = (__u64)sk;

    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;

    /* Application-initiated close. Only looked at while some accept failed
     * in the last 10 s, so healthy traffic pays one global read. */
    if (last_accept_error_ns && ((oldstate == CWT_TCP_ESTABLISHED && newstate == CWT_TCP_FIN_WAIT1) ||
                                 (oldstate == CWT_TCP_CLOSE_WAIT && newstate == CWT_TCP_LAST_ACK))) {
        __u64 now = bpf_ktime_get_ns();
        if (now - last_accept_error_ns < 10ULL * 1000000000ULL)
            check_shed(key, now);
    }

    if (newstate == CWT_TCP_CLOSE_WAIT) {
        if (port_matches(sk))
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

static __always_inline void on_accept_enter(__s32 listen_fd)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;

    if (filter_tgid && (id >> 32) != filter_tgid)
        return;
    bpf_map_update_elem(&accept_args, &tid, &listen_fd, BPF_ANY);
}

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
    e->nofile_soft = BPF_CORE_READ(task, signal, rlim[7].rlim_cur); /* RLIMIT_NOFILE */
    e->nofile_hard = BPF_CORE_READ(task, signal, rlim[7].rlim_max);
    e->next_fd = BPF_CORE_READ(task, files, next_fd);
    __builtin_memcpy(e->comm, v.comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0); /* rare and urgent: wake the daemon */
}

/* A socket left a listener's queue for a process. Shared by every tier:
 * the syscall exit (fd and listening fd known), fexit/kretprobe on
 * inet_csk_accept (fd not yet installed: -1) and fd_install (fd only). */
static __always_inline void record_accept(struct sock* sk, struct sock* lsk, __u32 tgid, __s32 fd,
                                          __s32 listen_fd, __u64 now)
{
    if (!port_matches(sk))
        return;
    if (filter_tgid && tgid != filter_tgid)
        return;
    __u64 key = (__u64)sk;
    struct cwt_owner* known = bpf_map_lookup_elem(&owners, &key);
    if (known && known->tgid == tgid) {
        /* Seen earlier on this accept (fexit, then fd_install, then the
         * syscall exit): only fill in what is new. */
        if (fd >= 0)
            known->fd = fd;
        if (listen_fd >= 0)
            known->listen_fd = listen_fd;
        if (lsk && !known->listener_sk)
            known->listener_sk = (__u64)lsk;
        return;
    }
    count(CWT_CNT_ACCEPTS);

    struct cwt_owner owner = {};
    owner.tgid = tgid;
    owner.fd = fd;
    owner.accept_ns = now;
    owner.listener_sk = (__u64)lsk;
    owner.listen_fd = listen_fd;
    bpf_get_current_comm(&owner.comm, sizeof(owner.comm));
    if (last_accept_error_ns && now - last_accept_error_ns < 1000000000ULL) {
        struct cwt_accept_error_key ek = {.tgid = tgid, .listen_fd = listen_fd};
        struct cwt_accept_error_value* agg = bpf_map_lookup_elem(&accept_errors, &ek);
        if (agg && now - agg->last_ns < 1000000000ULL)
            owner.flags |= CWT_OWNER_F_AFTER_ACCEPT_ERROR;
    }
    if (bpf_map_update_elem(&owners, &key, &owner, BPF_ANY))
        count(CWT_CNT_OWNER_MAP_FULL);

    if (lsk) {
        __u64 lkey = (__u64)lsk;
        struct cwt_listener_entry* le = bpf_map_lookup_elem(&listeners, &lkey);
        if (le) {
            le->last_accept_ns = now;
            le->accepts++;
        } else {
            struct cwt_listener_entry nle = {
                .last_accept_ns = now, .accepts = 1, .tgid = tgid, .fd = listen_fd};
            __builtin_memcpy(nle.comm, owner.comm, sizeof(nle.comm));
            if (bpf_map_update_elem(&listeners, &lkey, &nle, BPF_ANY))
                count(CWT_CNT_LISTENER_MAP_FULL);
        }
    }

    /* A queued CLOSE_WAIT was accepted at last: it now has an owner. */
    struct cwt_cw_entry* cw = bpf_map_lookup_elem(&close_waits, &key);
    if (cw) {
        cw->owner_kind = CWT_OWNER_PROCESS;
        __builtin_memcpy(&cw->owner, &owner, sizeof(owner));
        emit_sock_event(CWT_EV_CW_ACCEPTED, key, CWT_TCP_CLOSE_WAIT, CWT_TCP_CLOSE_WAIT, cw, now, 0);
    }
}

/* accept()/accept4() returned: the syscall runs in the owner's own context,
 * so `current` is the owner here (unlike inet_sock_set_state). */
static __always_inline void on_accept_exit(long ret, __u32 nr)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    __u32 tgid = id >> 32;
    __s32* listen_fd_p = bpf_map_lookup_elem(&accept_args, &tid);
    __s32 listen_fd = -1;
    __u64 now;

    if (listen_fd_p) {
        listen_fd = *listen_fd_p;
        bpf_map_delete_elem(&accept_args, &tid);
    } else if (filter_tgid && tgid != filter_tgid) {
        return;
    }
    /* No stash: the accept was already blocked when we attached. The new
     * socket's owner is still known; only the listener is not. */

    if (ret < 0 && ret != -EMFILE && ret != -ENFILE)
        return;

    struct task_struct* task = (struct task_struct*)bpf_get_current_task();
    struct sock* lsk = file_to_tcp_sock(fd_to_file(task, listen_fd));
    now = bpf_ktime_get_ns();
    if (ret < 0) {
        if (lsk && port_matches(lsk))
            record_accept_error(tgid, listen_fd, lsk, (__s32)-ret, nr, now);
        return;
    }

    struct sock* sk = file_to_tcp_sock(fd_to_file(task, (int)ret));
    if (sk)
        record_accept(sk, lsk, tgid, (__s32)ret, listen_fd, now);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int accept4_enter(struct trace_event_raw_sys_enter* ctx)
{
    on_accept_enter((__s32)ctx->args[0]);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int accept4_exit(struct trace_event_raw_sys_exit* ctx)
{
    on_accept_exit(ctx->ret, (__u32)ctx->id);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int accept_enter(struct trace_event_raw_sys_enter* ctx)
{
    on_accept_enter((__s32)ctx->args[0]);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit(struct trace_event_raw_sys_exit* ctx)
{
    on_accept_exit(ctx->ret, (__u32)ctx->id);
    return 0;
}

/* io_uring accepts fail with EMFILE/ENFILE without any accept syscall: the
 * completion names the request, whose file is the listener. Kernels before
 * 5.14 or so have no `req` in this event; there the program does nothing. */
SEC("tracepoint/io_uring/io_uring_complete")
int uring_complete(struct trace_event_raw_io_uring_complete* ctx)
{
    int res = ctx->res;
    if (res != -EMFILE && res != -ENFILE)
        return 0;
    if (!bpf_core_field_exists(ctx->req))
        return 0;
    struct io_kiocb* req = (struct io_kiocb*)ctx->req;
    if (BPF_CORE_READ(req, opcode) != 13 /* IORING_OP_ACCEPT, stable uapi */)
        return 0;
    struct sock* lsk = file_to_tcp_sock(BPF_CORE_READ(req, file));
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!lsk || !port_matches(lsk) || (filter_tgid && tgid != filter_tgid))
        return 0;
    record_accept_error(tgid, -1, lsk, -res, CWT_SYSCALL_IO_URING, bpf_ktime_get_ns());
    return 0;
}

/* ---- fentry tier: kernel functions, where the kernel allows it. ---- */

/* inet_csk_accept returns the child. 6.10 changed its arguments, so the
 * return value sits in ctx[2] (sk, arg) or ctx[4] (sk, flags, err, kern).
 * The slot is chosen at load time; the two reads must stay separate, or clang
 * merges them into one variable-offset read the verifier rejects. */
static __noinline struct sock* accept_ret_new(__u64* ctx)
{
    return (struct sock*)ctx[2];
}

static __noinline struct sock* accept_ret_old(__u64* ctx)
{
    return (struct sock*)ctx[4];
}

static __always_inline void on_kernel_accept(struct sock* lsk, struct sock* sk)
{
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return;
    __u64 id = bpf_get_current_pid_tgid();
    record_accept(sk, lsk, id >> 32, -1, -1, bpf_ktime_get_ns());
}

SEC("fexit/inet_csk_accept")
int BPF_PROG(accept_fexit)
{
    struct sock* lsk = (struct sock*)ctx[0];
    struct sock* sk;
    if (bpf_core_type_exists(struct proto_accept_arg))
        sk = accept_ret_new(ctx);
    else
        sk = accept_ret_old(ctx);
    on_kernel_accept(lsk, sk);
    return 0;
}

/* Every fd that comes to refer to a socket: accept, dup, SCM_RIGHTS receive. */
static __always_inline void on_fd_install(unsigned int fd, struct file* file)
{
    struct sock* sk = file_to_tcp_sock(file);
    if (!sk)
        return;
    __u64 id = bpf_get_current_pid_tgid();
    __u64 key = (__u64)sk;
    struct cwt_owner* known = bpf_map_lookup_elem(&owners, &key);
    if (known) {
        if (known->tgid == (__u32)(id >> 32) && known->fd < 0)
            known->fd = (__s32)fd;
        return;
    }
    /* Only sockets that came from a listener are tracked here; outbound ones
     * are resolved by the iterator when they cross the threshold. */
}

SEC("fentry/fd_install")
int BPF_PROG(fd_install_fentry, unsigned int fd, struct file* file)
{
    on_fd_install(fd, file);
    return 0;
}

/* ---- kprobe tier: the same hooks where fentry is not allowed. ---- */

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __u64);
} kaccept_args SEC(".maps");

SEC("kprobe/inet_csk_accept")
int BPF_KPROBE(accept_kprobe, struct sock* lsk)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u64 v = (__u64)lsk;
    bpf_map_update_elem(&kaccept_args, &tid, &v, BPF_ANY);
    return 0;
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(accept_kretprobe, struct sock* sk)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u64* lsk = bpf_map_lookup_elem(&kaccept_args, &tid);
    if (!lsk)
        return 0;
    struct sock* listener = (struct sock*)*lsk;
    bpf_map_delete_elem(&kaccept_args, &tid);
    on_kernel_accept(listener, sk);
    return 0;
}

SEC("kprobe/fd_install")
int BPF_KPROBE(fd_install_kprobe, unsigned int fd, struct file* file)
{
    on_fd_install(fd, file);
    return 0;
}

/* ---- Iterators: the inventory of what exists now, and on-demand lookups. ---- */

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
        __u32 s = sk->__sk_common.skc_rcv_saddr;
        __u32 d = sk->__sk_common.skc_daddr;
        t->saddr[10] = 0xff;
        t->saddr[11] = 0xff;
        __builtin_memcpy(&t->saddr[12], &s, 4);
        t->daddr[10] = 0xff;
        t->daddr[11] = 0xff;
        __builtin_memcpy(&t->daddr[12], &d, 4);
    }
}

/* See cwt_iter_sock.fin_by_ns. Whole jiffies elapsed, less one for the tick
 * in progress, so the bound never exceeds the true age. */
static __always_inline __u64 fin_by_ns(const struct tcp_sock* tp)
{
    if (!jiffy_ns)
        return 0;
    __u32 last = tp->rcv_tstamp;
    barrier(); /* the stamp first: a segment arriving meanwhile must not wrap the difference */
    __u32 ticks = (__u32)bpf_jiffies64() - last;
    if (ticks >= 1U << 31)
        return 0; /* newer than our jiffies read after all, or 25+ days idle: no bound */
    __u64 now = bpf_ktime_get_ns();
    __u64 idle = ticks > 1 ? (__u64)(ticks - 1) * jiffy_ns : 0;
    return idle < now ? now - idle : 0;
}

/* How far each listener's accept queue is walked; deeper entries are matched
 * by address in userspace. */
#define CWT_MAX_QUEUE_WALK 65536

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
    if (!port_matches(sk))
        return 0;
    if (iter_snapshot && rec.has_socket) {
        __u8 one = 1;
        if (bpf_map_update_elem(&wanted, &key, &one, BPF_ANY))
            count(CWT_CNT_WANTED_FULL); /* userspace then walks every fd */
    }

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
    if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_sock_from_file))
        return file_to_tcp_sock(file);
    sock = bpf_sock_from_file(file);
    if (!sock)
        return NULL;
    sk = sock->sk;
    if (!sk || sk->sk_protocol != IPPROTO_TCP)
        return NULL;
    return sk;
}

#define RLIMIT_NOFILE 7

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
    if (iter_only_wanted && !bpf_map_lookup_elem(&wanted, &key))
        return 0;

    rec.sk = key;
    rec.ino = file->f_inode->i_ino;
    rec.tgid = task->tgid;
    rec.fd = fd;
    __builtin_memcpy(rec.comm, task->comm, sizeof(rec.comm));
    bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
    return 0;
}
