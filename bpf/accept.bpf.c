// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The accept path: who owns each accepted socket, and which listener it came
 * from. Three tiers do the same job (the loader picks one per hook, see the
 * loader in userspace): the accept()/accept4() syscall tracepoints,
 * fexit/fentry on inet_csk_accept and fd_install, and kprobes on the same.
 * The syscall exit also sees EMFILE/ENFILE and hands them to
 * accept_errors.bpf.c.
 *
 * Part of the one compilation unit closewait.bpf.c (one object, one
 * skeleton): built through it, not on its own.
 */
#include "core_fixes.bpf.h"
#include "helpers.bpf.h"

static __always_inline void on_accept_enter(__s32 listen_fd)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;

    if (filter_tgid && (id >> 32) != filter_tgid)
        return;
    bpf_map_update_elem(&accept_args, &tid, &listen_fd, BPF_ANY);
}

/* A socket left a listener's queue for a process. Shared by every tier:
 * the syscall exit (fd and listening fd known), fexit/kretprobe on
 * inet_csk_accept (fd not yet installed: -1) and fd_install (fd only). */
static __always_inline void record_accept(struct sock* sk, struct sock* lsk, __u32 tgid, __s32 fd,
                                          __s32 listen_fd, __u64 now)
{
    if (!sock_filters_match(sk))
        return;
    if (filter_tgid && tgid != filter_tgid)
        return;
    if (!current_in_cgroup_scope())
        return; /* every tier calls this in the accepting task's context */
    __u64 key = (__u64)sk;
    struct cwt_owner* known = sock_owner(key);
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
    if (accept_failed_recently(tgid, listen_fd, now))
        owner.flags |= CWT_OWNER_F_AFTER_ACCEPT_ERROR;
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
    } else if ((filter_tgid || filter_cgroup) &&
               BPF_CORE_READ(sk, __sk_common.skc_state) == CWT_TCP_CLOSE_WAIT) {
        /* The peer's FIN came between sock_graft() in accept() and this
         * return: the state change saw a struct socket but no owner yet and,
         * under a filter, skipped it. Start tracking it now (its age counts
         * from here; without a filter the state change kept it). */
        on_enter_close_wait(sk, key, CWT_TCP_ESTABLISHED, now);
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
        if (lsk && sock_filters_match(lsk) && current_in_cgroup_scope())
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

/* ---- fentry tier: kernel functions, where the kernel allows it. ---- */

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
    /* The returned child's slot moved in 6.10: core_fixes.bpf.h. */
    on_kernel_accept((struct sock*)ctx[0], inet_csk_accept_ret(ctx));
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
    struct cwt_owner* known = sock_owner(key);
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
