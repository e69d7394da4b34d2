/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the BPF programs and the C++ daemon: every record that
 * crosses the ring buffer, a map or an iterator is laid out here, with
 * fixed-width types only, and compiled by both clang -target bpf and g++.
 * Append fields at the end of a struct; never reorder.
 */
#ifndef CLOSEWAIT_TRACE_EVENTS_H
#define CLOSEWAIT_TRACE_EVENTS_H

#ifdef __BPF__
/* vmlinux.h already defines the __u* types. */
#else
#include <linux/types.h>
#endif

#define CWT_COMM_LEN 16
/* Ports per list filter (-P, -L, -D), the size of the kernel's filter arrays. */
#define CWT_MAX_FILTER_PORTS 16
/* v2 cgroups the kernel's --container/--cgroup filter holds; past it the
 * filter is left to userspace. */
#define CWT_MAX_SCOPE_CGROUPS 4096

/* Linux TCP states (include/net/tcp_states.h); stable kernel ABI. */
enum cwt_tcp_state {
    CWT_TCP_ESTABLISHED = 1,
    CWT_TCP_SYN_SENT = 2,
    CWT_TCP_SYN_RECV = 3,
    CWT_TCP_FIN_WAIT1 = 4,
    CWT_TCP_FIN_WAIT2 = 5,
    CWT_TCP_TIME_WAIT = 6,
    CWT_TCP_CLOSE = 7,
    CWT_TCP_CLOSE_WAIT = 8,
    CWT_TCP_LAST_ACK = 9,
    CWT_TCP_LISTEN = 10,
    CWT_TCP_CLOSING = 11,
    CWT_TCP_NEW_SYN_RECV = 12,
};

/* Who holds a CLOSE_WAIT socket, decided from the socket itself. */
enum cwt_owner_kind {
    CWT_OWNER_UNKNOWN = 0,      /* has a struct socket, owner not yet resolved */
    CWT_OWNER_PROCESS = 1,      /* an fd in a process's table */
    CWT_OWNER_ACCEPT_QUEUE = 2, /* sk_socket == NULL: never accepted */
};

enum cwt_event_kind {
    CWT_EV_CLOSE_WAIT = 1,   /* entered CLOSE_WAIT (queued ones always, all with -v) */
    CWT_EV_CW_CLOSED = 2,    /* left CLOSE_WAIT (queued, past threshold, or -v) */
    CWT_EV_CW_ACCEPTED = 3,  /* a queued CLOSE_WAIT was accept()ed: now owned */
    CWT_EV_ACCEPT_ERROR = 4, /* first EMFILE/ENFILE of a (process, listener) */
};

/* Indices of the per-CPU counter array; every loss is counted here. */
enum cwt_counter {
    CWT_CNT_RINGBUF_DROPPED = 0, /* bpf_ringbuf_reserve failed */
    CWT_CNT_CW_MAP_FULL = 1,     /* a CLOSE_WAIT could not be tracked */
    CWT_CNT_OWNER_MAP_FULL = 2,  /* an accept could not be recorded */
    CWT_CNT_LISTENER_MAP_FULL = 3,
    CWT_CNT_ACCEPT_ERR_MAP_FULL = 4,
    CWT_CNT_ACCEPTS = 5,         /* successful accepts seen (not a loss) */
    CWT_CNT_CLOSE_WAITS = 6,     /* CLOSE_WAIT entries seen (not a loss) */
    CWT_CNT_WANTED_FULL = 7,     /* snapshot: iter/tcp could not mark a socket for the fd walk */
    CWT_CNT_QUEUED_MAP_FULL = 8, /* a queued child left to matching by address */
    CWT_CNT_CGROUP_FILTERED = 9, /* --container/--cgroup: an accept or connect of another cgroup (not a loss) */
    CWT_CNT_MAX = 10,
};

/* Addresses are always 16 bytes; IPv4 is stored v4-mapped (::ffff:a.b.c.d). */
struct cwt_tuple {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;  /* host byte order */
    __u16 dport;  /* host byte order */
    __u16 family; /* AF_INET or AF_INET6, the socket's own family */
    __u16 _pad;
};

struct cwt_owner {
    __u32 tgid;        /* process id, never a thread id */
    __s32 fd;          /* -1 when unknown */
    __u64 accept_ns;   /* CLOCK_MONOTONIC of accept(), 0 when unknown */
    __u64 listener_sk; /* listening socket it came from, 0 when unknown */
    char comm[CWT_COMM_LEN];
    __u32 flags;     /* CWT_OWNER_F_* */
    __s32 listen_fd; /* fd of that listener in the owner, -1 when unknown */
};

/* Accepted while this (process, listener) was failing with EMFILE/ENFILE:
 * if it is closed at once, the server is shedding (libuv's reserve-fd trick). */
#define CWT_OWNER_F_AFTER_ACCEPT_ERROR 1u
/* -p only: an outbound socket the target connect()ed (SYN_SENT is set in the
 * caller's own context). Marks the socket as the target's; the owner's fd is
 * still resolved by the inventory, so such an entry decodes as "unknown". */
#define CWT_OWNER_F_CONNECTED 2u
/* An accept closed within this long of itself counts as shed. */
#define CWT_SHED_WINDOW_NS (100ULL * 1000000ULL)

/* Value of the close_waits map: one per socket currently in CLOSE_WAIT. */
struct cwt_cw_entry {
    __u64 enter_ns; /* CLOCK_MONOTONIC of ->CLOSE_WAIT; 0 = before we started */
    __u32 netns;
    __u32 recv_q; /* bytes unread when the FIN arrived, FIN included (as ss) */
    __u8 owner_kind;
    __u8 preexisting;
    __u8 _pad[6];
    struct cwt_tuple tuple;
    struct cwt_owner owner;
    /* Pre-existing only: CLOCK_MONOTONIC by which the FIN had arrived, from the
     * socket's last-received-segment time (see cwt_iter_sock); 0 = unknown. */
    __u64 fin_by_ns;
};

/* Value of the listeners map, keyed by listening socket. */
struct cwt_listener_entry {
    __u64 last_accept_ns;
    __u64 accepts;
    __u32 tgid;
    __s32 fd;
    char comm[CWT_COMM_LEN];
};

/* Common header of every ring-buffer record. */
struct cwt_event_header {
    __u8 kind; /* enum cwt_event_kind */
    __u8 _pad[7];
    __u64 ts_ns; /* CLOCK_MONOTONIC */
};

/* CWT_EV_CLOSE_WAIT, CWT_EV_CW_CLOSED and CWT_EV_CW_ACCEPTED. */
struct cwt_sock_event {
    struct cwt_event_header hdr;
    __u64 sk;
    __u8 old_state;
    __u8 new_state;
    __u8 sk_shutdown; /* at the transition: SEND_SHUTDOWN (2) set = we closed */
    __u8 _pad[5];
    struct cwt_cw_entry cw;
};

/* CWT_EV_ACCEPT_ERROR: the first failure of a (tgid, listen fd). */
struct cwt_accept_error_event {
    struct cwt_event_header hdr;
    __u64 listener_sk;
    __u32 tgid;
    __s32 listen_fd;
    __s32 err; /* positive errno: EMFILE or ENFILE */
    __u32 syscall_nr;
    __u64 nofile_soft;
    __u64 nofile_hard;
    __u32 next_fd; /* fdtable hint: lowest fd that may be free */
    __u32 _pad;
    char comm[CWT_COMM_LEN];
};

/* syscall_nr of an accept that failed inside io_uring (no syscall of its own). */
#define CWT_SYSCALL_IO_URING 0xffffffffu

/* Key and value of the in-kernel accept-error aggregate. */
struct cwt_accept_error_key {
    __u32 tgid;
    __s32 listen_fd;
};

struct cwt_accept_error_value {
    __u64 first_ns;
    __u64 last_ns;
    __u64 emfile;
    __u64 enfile;
    __u64 listener_sk;
    __u32 syscall_nr;
    __u32 _pad;
    char comm[CWT_COMM_LEN];
    __u64 shed; /* connections accepted and closed at once after a failure */
};

/* iter/tcp output record: one per TCP socket (or per wanted socket). */
struct cwt_iter_sock {
    __u64 sk;
    __u64 ino;
    __u32 netns;
    __u32 uid;
    __u32 recv_q; /* non-listeners: rcv_nxt - copied_seq; listeners: queue length */
    __u32 send_q; /* non-listeners: write_seq - snd_una; listeners: backlog limit */
    __u8 state;
    __u8 has_socket; /* sk_socket != NULL */
    __u8 _pad[6];
    struct cwt_tuple tuple;
    /* CLOSE_WAIT only: CLOCK_MONOTONIC by which the FIN had arrived, 0 if
     * unknown. From tcp_sock.rcv_tstamp (jiffies of the last segment with a
     * valid ACK): the FIN carried one and was processed no earlier, so the
     * socket has been in CLOSE_WAIT at least since then. */
    __u64 fin_by_ns;
};

/* iter/task_file output record: one per fd that refers to a TCP socket. */
struct cwt_iter_file {
    __u64 sk;
    __u64 ino;
    __u32 tgid;
    __s32 fd;
    char comm[CWT_COMM_LEN];
    /* With iter_file_socks only (the snapshot): the socket's namespace and
     * state, and for a listener or CLOSE_WAIT its whole record (sock.sk != 0),
     * so that a namespace whose every socket has an fd needs no iter/tcp walk. */
    __u32 netns;
    __u8 state;
    __u8 _pad2[3];
    struct cwt_iter_sock sock;
};

/* Snapshot: per process (first fd table seen for the tgid), from iter/task_file. */
struct cwt_fd_count {
    __u64 open_fds;
    __u64 nofile_soft; /* RLIMIT_NOFILE */
    __u64 nofile_hard;
};

/* ---- Leak sites (issue #12): bpf/leak_site.bpf.c <-> kernel/leak_sites ---- */

/* How a site was captured. */
enum cwt_leak_site_kind {
    CWT_SITE_NONE = 0,
    CWT_SITE_READ_EOF = 1, /* read/recv/recvfrom/recvmsg/readv returned 0 on a CLOSE_WAIT socket */
    CWT_SITE_ACCEPT = 2,   /* accept()/accept4() that returned the socket (second clue) */
};

/* Which syscall returned 0 (CWT_SITE_READ_EOF). */
enum cwt_leak_site_call {
    CWT_CALL_READ = 0,
    CWT_CALL_RECVFROM = 1,
    CWT_CALL_RECVMSG = 2,
    CWT_CALL_READV = 3,
    CWT_CALL_ACCEPT = 4,
    CWT_CALL_ACCEPT4 = 5,
};

/* Frames kept per stack in the stack-trace map. */
#define CWT_SITE_STACK_DEPTH 32
/* Bytes of the user stack copied from the stack pointer at the syscall: the
 * frame-pointer walk misses the caller of a libc wrapper that pushes no frame
 * (and everything, where the code has no frame pointers); userspace unwinds
 * this copy with the binaries' CFI (.eh_frame) instead. */
#define CWT_SITE_STACK_BYTES 512

/* Value of the leak_sites map, keyed by struct sock address. */
struct cwt_leak_site {
    __u64 ts_ns; /* CLOCK_MONOTONIC of the capture */
    __u32 tgid;
    __u32 tid;
    __s32 stack_id; /* in leak_stacks (frame-pointer walk); < 0: capture failed */
    __s32 fd;
    __u8 kind; /* enum cwt_leak_site_kind */
    __u8 call; /* enum cwt_leak_site_call */
    __u16 stack_len; /* bytes valid in stack[] */
    __u32 _pad;
    __u64 ip; /* user registers at the syscall */
    __u64 sp;
    __u64 bp;
    __u64 stack[CWT_SITE_STACK_BYTES / 8];
};

/* Indices of leak_counters (the leak-site skeleton's own per-CPU counters). */
enum cwt_leak_counter {
    CWT_LCNT_CAPTURED = 0,   /* sites stored (not a loss) */
    CWT_LCNT_STACK_FAILED = 1, /* bpf_get_stackid failed (stack map full, or no user stack) */
    CWT_LCNT_COPY_FAILED = 2,  /* the user stack could not be copied */
    CWT_LCNT_MAP_FULL = 3,     /* leak_sites full: a site was not stored */
    CWT_LCNT_MAX = 4,
};

#endif /* CLOSEWAIT_TRACE_EVENTS_H */
