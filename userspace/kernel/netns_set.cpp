#include "kernel/netns_set.hpp"

#include "core/netstat.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace cwt
{

NetnsSet::NetnsSet(std::uint32_t only) : only_(only)
{
    refresh();
}

void NetnsSet::refresh()
{
    NetnsList list = enumerate_netns();
    unreadable_ = list.unreadable;
    std::vector<Open> next;
    next.reserve(list.all.size());
    for (const auto& e : list.all) {
        if (only_ && e.inode != only_)
            continue;
        auto have = std::find_if(open_.begin(), open_.end(), [&](const Open& o) {
            return o.handle.valid() && o.handle.inode() == e.inode;
        });
        if (have != open_.end()) {
            have->pid = e.pid;
            next.push_back(std::move(*have));
            continue;
        }
        auto h = open_netns(e);
        if (!h) {
            ++skipped_; // gone between finding and opening it
            continue;
        }
        Open o;
        o.handle = std::move(*h);
        o.pid = e.pid;
        next.push_back(std::move(o));
    }
    // Namespaces no longer found are released (our fd alone kept them alive).
    open_ = std::move(next);
}

std::vector<std::uint32_t> NetnsSet::inodes() const
{
    std::vector<std::uint32_t> out;
    for (const auto& o : open_)
        out.push_back(o.handle.inode());
    return out;
}

bool NetnsSet::contains(std::uint32_t inode) const
{
    return std::any_of(open_.begin(), open_.end(), [&](const Open& o) { return o.handle.inode() == inode; });
}

std::vector<NetnsSet::MadeFd> NetnsSet::make_in_each(const std::function<int()>& make,
                                                     const std::vector<std::uint32_t>* which,
                                                     int* failed_errno)
{
    std::vector<int> ns_fds;
    std::vector<std::uint32_t> ns_inodes;
    for (const auto& o : open_) {
        if (which && std::find(which->begin(), which->end(), o.handle.inode()) == which->end())
            continue;
        ns_fds.push_back(o.handle.fd());
        ns_inodes.push_back(o.handle.inode());
    }
    std::vector<int> made(ns_fds.size(), -1);
    std::vector<int> errs(ns_fds.size(), 0);
    skipped_ += for_each_netns(ns_fds, [&](std::size_t i) {
        made[i] = make();
        if (made[i] < 0)
            errs[i] = errno;
    });
    std::vector<MadeFd> out;
    out.reserve(made.size());
    for (std::size_t i = 0; i < made.size(); ++i) {
        if (made[i] < 0) {
            if (failed_errno && errs[i])
                *failed_errno = errs[i];
            continue;
        }
        MadeFd m;
        m.netns = ns_inodes[i];
        m.fd.reset(made[i]);
        out.push_back(std::move(m));
    }
    return out;
}

std::unordered_map<std::uint32_t, std::uint64_t>
NetnsSet::read_each(UniqueFd Open::*file, const char* path,
                    std::optional<std::uint64_t> (*parse)(std::string_view))
{
    std::vector<std::uint32_t> missing;
    for (const auto& o : open_)
        if (!(o.*file).valid())
            missing.push_back(o.handle.inode());
    if (!missing.empty()) {
        // /proc/thread-self: /proc/self/net would be the main thread's namespace.
        auto made = make_in_each([&] { return ::open(path, O_RDONLY | O_CLOEXEC); }, &missing);
        for (auto& m : made)
            for (auto& o : open_)
                if (o.handle.inode() == m.netns)
                    o.*file = std::move(m.fd);
    }
    std::unordered_map<std::uint32_t, std::uint64_t> out;
    std::string buf;
    for (auto& o : open_) {
        int fd = (o.*file).get();
        if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0)
            continue;
        buf.clear();
        char chunk[8192];
        for (;;) {
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            buf.append(chunk, static_cast<std::size_t>(n));
        }
        if (auto v = parse(buf))
            out[o.handle.inode()] = *v;
    }
    return out;
}

std::unordered_map<std::uint32_t, std::uint64_t> NetnsSet::listen_overflows()
{
    return read_each(&Open::netstat, "/proc/thread-self/net/netstat", &parse_listen_overflows);
}

std::unordered_map<std::uint32_t, std::uint64_t> NetnsSet::tcp_in_use()
{
    auto v4 = read_each(&Open::sockstat, "/proc/thread-self/net/sockstat", &parse_tcp_inuse);
    auto v6 = read_each(&Open::sockstat6, "/proc/thread-self/net/sockstat6", &parse_tcp6_inuse);
    // A namespace missing either count is unknown: absent, so it is walked.
    std::unordered_map<std::uint32_t, std::uint64_t> out;
    for (const auto& [ns, n] : v4)
        if (auto it = v6.find(ns); it != v6.end())
            out.emplace(ns, n + it->second);
    return out;
}

std::vector<NetnsSet::DiagSock> NetnsSet::diag_sockets()
{
    std::vector<std::uint32_t> missing;
    for (const auto& o : open_)
        if (!o.diag.valid())
            missing.push_back(o.handle.inode());
    if (!missing.empty()) {
        auto made = make_in_each(
            [] { return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); }, &missing);
        for (auto& m : made)
            for (auto& o : open_)
                if (o.handle.inode() == m.netns)
                    o.diag = std::move(m.fd);
    }
    std::vector<DiagSock> out;
    for (const auto& o : open_)
        if (o.diag.valid())
            out.push_back(DiagSock{o.handle.inode(), o.diag.get()});
    return out;
}

} // namespace cwt
