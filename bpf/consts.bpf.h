// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Named constants for the BPF side. vmlinux.h carries types and enums but no
 * macros, so the uapi values the programs compare against are spelled here,
 * once. (Enums that vmlinux.h does carry, such as IORING_OP_ACCEPT, are used
 * from there.)
 */
#ifndef CWT_CONSTS_BPF_H
#define CWT_CONSTS_BPF_H

/* <linux/socket.h>, <linux/in.h> */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* <asm-generic/errno-base.h> */
#define ENFILE 23 /* system-wide file table full */
#define EMFILE 24 /* per-process RLIMIT_NOFILE reached */

/* <linux/stat.h> */
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* <asm-generic/resource.h>: index into signal_struct.rlim[] */
#define RLIMIT_NOFILE 7

#define NSEC_PER_SEC 1000000000ULL

/* Default leak threshold (-t); userspace overrides it at load time. */
#define CWT_DEFAULT_LEAK_THRESHOLD_NS (30ULL * NSEC_PER_SEC)
/* Closes are checked for shedding only this long after the last EMFILE/ENFILE
 * anywhere, so healthy traffic pays one global read. */
#define CWT_SHED_LOOKBACK_NS (10ULL * NSEC_PER_SEC)
/* An accept this soon after its (process, listener) failed with EMFILE/ENFILE
 * is marked CWT_OWNER_F_AFTER_ACCEPT_ERROR: a close within
 * CWT_SHED_WINDOW_NS then counts as shed. */
#define CWT_AFTER_ACCEPT_ERROR_NS (1ULL * NSEC_PER_SEC)

/* How far each listener's accept queue is walked by iter/tcp; deeper entries
 * are matched by address in userspace. */
#define CWT_MAX_QUEUE_WALK 65536

#endif /* CWT_CONSTS_BPF_H */
