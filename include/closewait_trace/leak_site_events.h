/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Leak-site records (bpf/leak_site.bpf.c <-> userspace). Fixed-width types
 * only; append fields at the end, never reorder. Kept apart from events.h
 * only until the BPF layout split lands; then it moves there.
 */
#ifndef CLOSEWAIT_TRACE_LEAK_SITE_EVENTS_H
#define CLOSEWAIT_TRACE_LEAK_SITE_EVENTS_H

#ifdef __BPF__
/* vmlinux.h already defines the __u* types. */
#else
#include <linux/types.h>
#endif

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

/* Indices of leak_counters (folded into events.h's counters after the split). */
enum cwt_leak_counter {
    CWT_LCNT_CAPTURED = 0,   /* sites stored (not a loss) */
    CWT_LCNT_STACK_FAILED = 1, /* bpf_get_stackid failed (stack map full, or no user stack) */
    CWT_LCNT_COPY_FAILED = 2,  /* the user stack could not be copied */
    CWT_LCNT_MAP_FULL = 3,     /* leak_sites full: a site was not stored */
    CWT_LCNT_MAX = 4,
};

#endif /* CLOSEWAIT_TRACE_LEAK_SITE_EVENTS_H */
