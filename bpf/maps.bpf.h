// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every map and global of the BPF side, declared once. Userspace reaches them
 * through the one skeleton (closewait_bpf), by these names.
 *
 * .rodata (const volatile): filters and modes, fixed at load time.
 * .bss: state shared between programs, and the iterators' per-run filters.
 */
#ifndef CWT_MAPS_BPF_H
#define CWT_MAPS_BPF_H

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "closewait_trace/events.h"
#include "consts.bpf.h"

/* Filters and modes, fixed at load time. */
const volatile __u32 filter_tgid = 0;              /* -p: 0 = every process */
/* Port lists (n = 0: no filter). -P: local or remote port in the list; -L:
 * local port in it; -D: remote port in it. Every list given must match. */
const volatile __u16 filter_ports[CWT_MAX_FILTER_PORTS] = {};
const volatile __u8 filter_n_ports = 0;
const volatile __u16 filter_lports[CWT_MAX_FILTER_PORTS] = {};
const volatile __u8 filter_n_lports = 0;
const volatile __u16 filter_rports[CWT_MAX_FILTER_PORTS] = {};
const volatile __u8 filter_n_rports = 0;
const volatile __u16 filter_family = 0; /* -4: AF_INET, -6: AF_INET6, 0 = both */
const volatile bool emit_every_close_wait = false; /* -v */
const volatile __u64 leak_threshold_ns = CWT_DEFAULT_LEAK_THRESHOLD_NS;
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
 * still in an accept queue; iter/task_file then emits only the fds of
 * listeners and CLOSE_WAITs and counts every process's fds. */
bool iter_snapshot = false;
/* iter/task_file fills in the netns, state and (listeners, CLOSE_WAITs) the
 * socket record of every TCP fd: the snapshot's one global walk. */
bool iter_file_socks = false;
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

/* kprobe tier only: inet_csk_accept's listener, per thread, entry -> return. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __u64);
} kaccept_args SEC(".maps");

#endif /* CWT_MAPS_BPF_H */
