#include "kernel/diag_inventory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/units.hpp"
#include "common/error.hpp"
#include "core/decoder.hpp"
#include "common/fd.hpp"
#include "common/clock.hpp"
#include "core/model.hpp"
#include "kernel/procfs.hpp"

namespace cwt
{

namespace
{

std::uint32_t state_bit(int state)
{
    return 1U << state;
}

// Converts one inet_diag record; false for a socket the audit does not need.
bool to_record(const inet_diag_msg& m, const tcp_info* info, std::uint32_t netns, MonoNs now,
               cwt_iter_sock& rec)
{
    rec = {};
    rec.state = m.idiag_state;
    rec.has_socket = m.idiag_inode != 0; // sock_i_ino() is 0 without a struct socket
    if (rec.state != CWT_TCP_LISTEN && rec.state != CWT_TCP_CLOSE_WAIT && rec.has_socket)
        return false; // accepted or connected, and not in CLOSE_WAIT
    rec.sk = static_cast<std::uint64_t>(m.id.idiag_cookie[0]) |
             static_cast<std::uint64_t>(m.id.idiag_cookie[1]) << 32;
    rec.ino = m.idiag_inode;
    rec.netns = netns;
    rec.uid = m.idiag_uid;
    rec.recv_q = m.idiag_rqueue; // listeners: accept queue length, as in iter/tcp
    rec.send_q = m.idiag_wqueue; // listeners: backlog limit
    cwt_tuple& t = rec.tuple;
    t.family = m.idiag_family;
    t.sport = ntohs(m.id.idiag_sport);
    t.dport = ntohs(m.id.idiag_dport);
    if (m.idiag_family == AF_INET6) {
        std::memcpy(t.saddr, m.id.idiag_src, 16);
        std::memcpy(t.daddr, m.id.idiag_dst, 16);
    } else {
        t.saddr[10] = t.saddr[11] = 0xff;
        t.daddr[10] = t.daddr[11] = 0xff;
        std::memcpy(&t.saddr[12], &m.id.idiag_src[0], 4);
        std::memcpy(&t.daddr[12], &m.id.idiag_dst[0], 4);
    }
    // tcpi_last_ack_recv is the same rcv_tstamp bound as in iter/tcp, in ms
    // rounded from jiffies: take off one tick at the coarsest HZ (100).
    // tcp_get_info() reads jiffies before the socket: a segment arriving in
    // between wraps the difference, so a huge value means "unknown".
    if (rec.state == CWT_TCP_CLOSE_WAIT && info && info->tcpi_last_ack_recv < (1U << 31)) {
        MonoNs idle = info->tcpi_last_ack_recv > 10 ? (info->tcpi_last_ack_recv - 10) * kNsPerMs : 0;
        rec.fin_by_ns = idle < now ? now - idle : 0;
    }
    return true;
}

void dump_family(int nl, std::uint8_t family, std::uint16_t port, std::uint32_t netns,
                 std::vector<cwt_iter_sock>& out)
{
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
    // ESTABLISHED too: children still in an accept queue are ESTABLISHED.
    msg.req.idiag_states =
        state_bit(CWT_TCP_LISTEN) | state_bit(CWT_TCP_CLOSE_WAIT) | state_bit(CWT_TCP_ESTABLISHED);
    if (send(nl, &msg, sizeof(msg), 0) < 0)
        throw UserError(std::string("sock_diag request failed: ") + std::strerror(errno),
                        "load the inet_diag and tcp_diag modules (modprobe tcp_diag)");

    std::vector<char> buf(1 << 16);
    std::vector<cwt_iter_sock> batch;
    for (;;) {
        ssize_t n = recv(nl, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw UserError(std::string("sock_diag read failed: ") + std::strerror(errno),
                            "retry; if it persists, report it with `uname -r`");
        // Sampled after the kernel wrote these records: the fin_by bound
        // must not claim an earlier time than the kernel's own clock did.
        MonoNs now = mono_now_ns();
        int len = static_cast<int>(n);
        for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data());
             NLMSG_OK(h, len); // NOLINT(clang-diagnostic-sign-compare): glibc NLMSG_OK
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return;
            if (h->nlmsg_type == NLMSG_ERROR) {
                auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
                throw UserError(std::string("sock_diag dump failed: ") + std::strerror(-err->error),
                                "load the inet_diag and tcp_diag modules (modprobe tcp_diag)");
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
                continue;
            auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
            // Attributes: pick INET_DIAG_INFO (tcp_info), length-checked.
            tcp_info info{};
            bool have_info = false;
            int alen = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
            for (rtattr* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type != INET_DIAG_INFO)
                    continue;
                std::memcpy(&info, RTA_DATA(a), std::min<std::size_t>(RTA_PAYLOAD(a), sizeof(info)));
                have_info = RTA_PAYLOAD(a) >=
                            offsetof(tcp_info, tcpi_last_ack_recv) + sizeof(info.tcpi_last_ack_recv);
            }
            cwt_iter_sock rec;
            if (!to_record(*m, have_info ? &info : nullptr, netns, now, rec))
                continue;
            if (port && rec.tuple.sport != port && rec.tuple.dport != port)
                continue;
            out.push_back(rec);
        }
    }
}

// "socket:[12345]" -> 12345; 0 otherwise.
std::uint64_t socket_inode(const char* link, ssize_t len)
{
    static constexpr char kPrefix[] = "socket:[";
    constexpr std::size_t kPrefixLen = sizeof(kPrefix) - 1;
    if (len <= static_cast<ssize_t>(kPrefixLen) || std::strncmp(link, kPrefix, kPrefixLen) != 0)
        return 0;
    return std::strtoull(link + kPrefixLen, nullptr, 10);
}

void read_comm(std::uint32_t pid, char (&comm)[CWT_COMM_LEN])
{
    std::memset(comm, 0, sizeof(comm));
    std::string path = "/proc/" + std::to_string(pid) + "/comm";
    UniqueFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.get() < 0)
        return;
    ssize_t n = read(f.get(), comm, sizeof(comm) - 1);
    if (n > 0 && comm[n - 1] == '\n')
        comm[n - 1] = '\0';
}

// Every fd of every process that refers to one of `wanted` (inode -> id).
std::vector<cwt_iter_file> scan_proc_fds(const std::unordered_map<std::uint64_t, std::uint64_t>& wanted)
{
    std::vector<cwt_iter_file> out;
    DIR* proc = opendir("/proc");
    if (!proc)
        throw UserError(std::string("cannot read /proc: ") + std::strerror(errno), "mount procfs on /proc");
    while (dirent* p = readdir(proc)) {
        char* end = nullptr;
        unsigned long pid = std::strtoul(p->d_name, &end, 10);
        if (!pid || *end)
            continue;
        std::string dir = std::string("/proc/") + p->d_name + "/fd";
        UniqueFd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dfd.get() < 0)
            continue; // exited, or a kernel thread
        UniqueFd dir_fd(dup(dfd.get()));
        DIR* fds = dir_fd.valid() ? fdopendir(dir_fd.get()) : nullptr;
        if (!fds)
            continue;
        dir_fd.release(); // the DIR owns it now
        char comm[CWT_COMM_LEN];
        bool have_comm = false;
        while (dirent* e = readdir(fds)) {
            if (e->d_name[0] == '.')
                continue;
            char link[64];
            ssize_t n = readlinkat(dfd.get(), e->d_name, link, sizeof(link) - 1);
            if (n <= 0)
                continue;
            link[n] = '\0';
            auto it = wanted.find(socket_inode(link, n));
            if (it == wanted.end())
                continue;
            if (!have_comm) {
                read_comm(static_cast<std::uint32_t>(pid), comm);
                have_comm = true;
            }
            cwt_iter_file f{};
            f.sk = it->second;
            f.ino = it->first;
            f.tgid = static_cast<std::uint32_t>(pid);
            f.fd = std::atoi(e->d_name);
            std::memcpy(f.comm, comm, sizeof(f.comm));
            out.push_back(f);
        }
        closedir(fds);
    }
    closedir(proc);
    return out;
}

} // namespace

DiagWalk diag_audit_walk(std::uint16_t port)
{
    std::vector<cwt_iter_sock> socks;
    UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (nl.get() < 0)
        throw UserError(std::string("cannot open a sock_diag netlink socket: ") + std::strerror(errno),
                        "check that the kernel has CONFIG_INET_DIAG (modprobe tcp_diag)");
    std::uint32_t netns = own_netns();
    dump_family(nl.get(), AF_INET, port, netns, socks);
    dump_family(nl.get(), AF_INET6, port, netns, socks);

    std::unordered_map<std::uint64_t, std::uint64_t> wanted; // inode -> cookie
    for (const auto& s : socks)
        if (s.ino && (s.state == CWT_TCP_LISTEN || s.state == CWT_TCP_CLOSE_WAIT))
            wanted.emplace(s.ino, s.sk);
    DiagWalk w;
    w.socks = decode_sockets(socks);
    if (!wanted.empty())
        w.files = decode_socket_fds(scan_proc_fds(wanted));
    return w;
}

} // namespace cwt
