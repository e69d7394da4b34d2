// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * closewait-trace kernel side: the one compilation unit behind the one
 * skeleton (closewait_bpf, closewait.skel.h).
 *
 * Thin by design: facts come from the socket itself, per-socket state lives in
 * maps here, and the ring buffer only carries what userspace must act on. A
 * healthy connection costs a few hash operations and zero ring-buffer records.
 *
 * Several programs do the same job on different kernels; the loader picks one
 * per hook at startup (userspace loader) and disables the others.
 *
 * One file per concern, included here rather than linked: one object keeps
 * one skeleton and one load (the same programs, maps and names as before the
 * split, so the load time is unchanged).
 *   consts.bpf.h        uapi values vmlinux.h lacks, and the tool's windows
 *   maps.bpf.h          every map and global, declared once
 *   helpers.bpf.h       shared inline helpers, loss counting
 *   core_fixes.bpf.h    kernel-version differences, each with its commit
 *   accept_errors.bpf.c EMFILE/ENFILE aggregation, shedding, io_uring_complete
 *   state_change.bpf.c  inet_sock_set_state: CLOSE_WAIT enter/leave
 *   accept.bpf.c        accept path and fd install (syscall, fentry, kprobe tiers)
 *   iterators.bpf.c     iter/tcp and iter/task_file: inventory and snapshot
 * accept_errors.bpf.c comes first: the other two program files call into it.
 */
#include "maps.bpf.h"
#include "helpers.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "accept_errors.bpf.c"
#include "state_change.bpf.c"
#include "accept.bpf.c"
#include "iterators.bpf.c"
