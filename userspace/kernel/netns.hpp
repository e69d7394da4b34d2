// Network namespaces: finding them, holding them (RAII), and running code
// inside one.
//
// Why a thread per walk: `iter/tcp` walks the namespace of the task that
// creates the iterator fd, not the one that loaded or reads it. In the
// kernel, bpf_iter_create() -> bpf_iter_new_fd() -> prepare_seq_file() calls
// the target's init_seq_private (kernel/bpf/bpf_iter.c); for "tcp" that is
// bpf_iter_init_tcp() -> bpf_iter_init_seq_net() (net/ipv4/tcp_ipv4.c,
// fs/proc/proc_net.c), which takes `get_net(current->nsproxy->net_ns)`, and
// every socket of the walk must pass seq_sk_match(), i.e.
// net_eq(sock_net(sk), seq_file_net(seq)). The namespace is fixed when the fd
// is created; reading it later from any thread walks that same namespace.
// setns(fd, CLONE_NEWNET) changes only the calling thread's nsproxy, so a
// dedicated thread enters each namespace, creates what must be created there
// (iterator fd, netlink socket, /proc/thread-self/net file), and ends: the
// tool's other threads never leave their own namespace, and nothing has to be
// restored. The same holds for netlink (a socket's namespace is the creator's)
// and for /proc/thread-self/net/* (the opening thread's namespace; note that
// /proc/self/net is the thread-group leader's, not the calling thread's).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cwt
{

// An open network namespace file (/proc/PID/ns/net, /run/netns/NAME, ...).
// Holding it keeps the namespace alive, so it cannot vanish during a walk.
class NetnsHandle
{
  public:
    NetnsHandle() = default;
    // Opens `path` and checks that it is a network namespace. On failure the
    // handle is invalid and `err` holds the errno (EINVAL: not a netns).
    static NetnsHandle open(const std::string& path, int& err);
    ~NetnsHandle();
    NetnsHandle(NetnsHandle&& o) noexcept;
    NetnsHandle& operator=(NetnsHandle&& o) noexcept;
    NetnsHandle(const NetnsHandle&) = delete;
    NetnsHandle& operator=(const NetnsHandle&) = delete;

    bool valid() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    std::uint32_t inode() const { return inode_; } // what BPF reads as net->ns.inum

  private:
    int fd_ = -1;
    std::uint32_t inode_ = 0;
};

// One network namespace found on the system.
struct NetnsEntry {
    std::uint32_t inode = 0;
    // Ways to open it, tried in order: bind mounts, then /proc/PID/ns/net of
    // a few of the processes in it (any one may exit meanwhile).
    std::vector<std::string> paths;
    std::uint32_t pid = 0;           // a process in it (its first task seen); 0 if only a bind mount holds it
    std::vector<std::string> mounts; // bind mounts (/run/netns/NAME, docker's, CNI's)
};

struct NetnsSources {
    std::string proc = "/proc";
    // Directories of namespace bind mounts (`ip netns`, docker).
    std::vector<std::string> mount_dirs = {"/run/netns", "/var/run/netns", "/var/run/docker/netns"};
    // Every nsfs mount of this mount namespace (CNI and others mount them elsewhere).
    std::string mountinfo = "/proc/self/mountinfo";
};

struct NetnsList {
    std::vector<NetnsEntry> all; // the tool's own namespace first, then by inode
    std::size_t vanished = 0;    // processes or mounts that went away while being read
    std::size_t unreadable = 0;  // tasks whose namespace link we may not read (EACCES/EPERM)
};

// Every network namespace that a task is in or that is bind-mounted,
// de-duplicated by inode. Threads count: one may have entered another namespace.
NetnsList enumerate_netns(const NetnsSources& src = {});

// Opens an entry through the first of its paths that still leads to the same
// inode (a pid may have been reused). nullopt: the namespace is gone.
std::optional<NetnsHandle> open_netns(const NetnsEntry& e);

// The inode that a --netns argument names: a number, /run/netns/NAME, a bare
// NAME under /run/netns, or /proc/PID/ns/net. Throws UserError.
std::uint32_t resolve_netns_arg(const std::string& arg);

// Runs fn() on a new thread that first enters `ns`; the thread then ends.
// Returns 0, or the errno of setns (fn did not run). An exception from fn is
// rethrown here.
int run_in_netns(const NetnsHandle& ns, const std::function<void()>& fn);

// One thread enters each namespace in turn (ns_fds[i]: an open namespace
// file, e.g. NetnsHandle::fd()) and calls fn(i) there; then it ends. Returns how many setns calls failed
// (those fn calls are skipped). An exception from fn stops the walk and is rethrown.
std::size_t for_each_netns(const std::vector<int>& ns_fds, const std::function<void(std::size_t)>& fn);

} // namespace cwt
