// The network namespaces the tool reads socket state from, held open for the
// whole run, and the per-namespace handles made inside each one (iterator
// fds, netlink sockets, /proc/thread-self/net/netstat). See netns.hpp for why
// each must be created inside its namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/fd.hpp"
#include "kernel/netns.hpp"

namespace cwt
{

class NetnsSet
{
  public:
    // only: the --netns filter (0: every namespace).
    explicit NetnsSet(std::uint32_t only = 0);

    // Finds namespaces again (live mode: containers come and go). Handles of
    // namespaces still there are kept; new ones are opened.
    void refresh();

    std::size_t size() const { return open_.size(); }
    std::uint32_t inode(std::size_t i) const { return open_[i].handle.inode(); }
    std::vector<std::uint32_t> inodes() const;
    bool contains(std::uint32_t inode) const;
    // A process in namespace i (0: only a bind mount holds it).
    std::uint32_t pid_in(std::size_t i) const { return open_[i].pid; }

    // Namespaces found but gone before they could be opened, or whose setns
    // failed; and tasks whose namespace could not be read. Cumulative.
    std::size_t skipped() const { return skipped_; }
    std::size_t unreadable() const { return unreadable_; }

    // Runs make() inside each namespace (or each of `which`, by inode) and
    // returns the fds it made, with the inode of their namespace. A namespace
    // whose setns fails is skipped and counted; make() returning < 0 is
    // dropped (its errno is the caller's to check through `failed`).
    struct MadeFd {
        std::uint32_t netns = 0;
        UniqueFd fd;
    };
    std::vector<MadeFd> make_in_each(const std::function<int()>& make,
                                     const std::vector<std::uint32_t>* which = nullptr,
                                     int* failed_errno = nullptr);

    // ListenOverflows of every namespace, from a netstat file opened inside
    // each once and re-read (a proc net file keeps the namespace it was
    // opened in). A namespace whose file cannot be read is absent.
    std::unordered_map<std::uint32_t, std::uint64_t> listen_overflows();
    // Hashed TCP sockets of every namespace ("TCP: inuse" of /proc/net/sockstat
    // plus "TCP6: inuse" of sockstat6, opened the same way): a namespace with
    // none has no socket to walk. Absent: unknown.
    std::unordered_map<std::uint32_t, std::uint64_t> tcp_in_use();

    // A sock_diag netlink socket of each namespace, made inside it once and
    // kept (no setns per use), with the namespace's inode.
    struct DiagSock {
        std::uint32_t netns = 0;
        int fd = -1;
    };
    std::vector<DiagSock> diag_sockets();

  private:
    struct Open {
        NetnsHandle handle;
        std::uint32_t pid = 0;
        UniqueFd netstat;  // /proc/thread-self/net/netstat, opened inside
        UniqueFd sockstat;  // /proc/thread-self/net/sockstat, opened inside
        UniqueFd sockstat6; // /proc/thread-self/net/sockstat6 (IPv6 sockets are counted there)
        UniqueFd diag;      // NETLINK_SOCK_DIAG socket made inside (it dumps that namespace)
    };
    // Reads one per-namespace proc file of every namespace (opening it
    // inside each the first time) and parses it.
    std::unordered_map<std::uint32_t, std::uint64_t>
    read_each(UniqueFd Open::*file, const char* path,
              std::optional<std::uint64_t> (*parse)(std::string_view));
    std::uint32_t only_ = 0;
    std::vector<Open> open_;
    std::size_t skipped_ = 0;
    std::size_t unreadable_ = 0;
};

} // namespace cwt
