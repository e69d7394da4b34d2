#include "kernel/diag_inventory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/units.hpp"
#include "core/decoder.hpp"
#include "core/model.hpp"
#include "kernel/procfs.hpp"
#include "kernel/sock_diag.hpp"

namespace cwt
{

namespace
{

// One sock_diag record as the iterators would have written it; false for a
// socket the audit does not need.
bool to_record(const DiagSocket& d, std::uint32_t netns, cwt_iter_sock& rec)
{
    rec = {};
    rec.state = d.state;
    rec.has_socket = d.inode != 0; // sock_i_ino() is 0 without a struct socket
    if (rec.state != CWT_TCP_LISTEN && rec.state != CWT_TCP_CLOSE_WAIT && rec.has_socket)
        return false; // accepted or connected, and not in CLOSE_WAIT
    rec.sk = d.cookie;
    rec.ino = d.inode;
    rec.netns = netns;
    rec.uid = d.uid;
    rec.recv_q = d.rqueue; // listeners: accept queue length, as in iter/tcp
    rec.send_q = d.wqueue; // listeners: backlog limit
    cwt_tuple& t = rec.tuple;
    t.family = d.tuple.family;
    t.sport = d.tuple.local.port;
    t.dport = d.tuple.remote.port;
    std::memcpy(t.saddr, d.tuple.local.addr.data(), sizeof(t.saddr));
    std::memcpy(t.daddr, d.tuple.remote.addr.data(), sizeof(t.daddr));
    // tcpi_last_ack_recv is the same rcv_tstamp bound as in iter/tcp, in ms
    // rounded from jiffies: take off one tick at the coarsest HZ (100).
    // tcp_get_info() reads jiffies before the socket: a segment arriving in
    // between wraps the difference, so a huge value means "unknown".
    if (rec.state == CWT_TCP_CLOSE_WAIT && d.last_ack_recv_ms && *d.last_ack_recv_ms < (1U << 31)) {
        MonoNs idle = *d.last_ack_recv_ms > 10 ? (*d.last_ack_recv_ms - 10) * kNsPerMs : 0;
        rec.fin_by_ns = idle < d.read_ns ? d.read_ns - idle : 0;
    }
    return true;
}

// One namespace's sockets in `states` through `diag`, as iterator records.
void dump_sockets(SockDiag& diag, std::uint32_t netns, std::uint32_t states, bool with_info,
                  const SocketFilter& filter, std::vector<cwt_iter_sock>& out)
{
    for (std::uint8_t family : {AF_INET, AF_INET6}) {
        if (filter.family && filter.family != family)
            continue;
        diag.dump_tcp(family, states, with_info, [&](const DiagSocket& d) {
            cwt_iter_sock rec;
            if (filter.wants(d.tuple) && to_record(d, netns, rec))
                out.push_back(rec);
        });
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

std::vector<SocketRecord> diag_listeners(const std::vector<NetnsSet::DiagSock>& socks, const SocketFilter& filter)
{
    // Listeners only: inet_diag_dump_icsk() then walks the listening hash and
    // returns before the established/TIME_WAIT hash ("if (!(idiag_states &
    // ~TCPF_LISTEN)) goto out", net/ipv4/inet_diag.c), so the cost does not
    // grow with connections.
    std::vector<cwt_iter_sock> out;
    for (const auto& nl : socks) {
        SockDiag diag(nl.fd);
        dump_sockets(diag, nl.netns, tcp_state_bit(CWT_TCP_LISTEN), false, filter, out);
    }
    return decode_sockets(out);
}

DiagWalk diag_audit_walk(const SocketFilter& filter, NetnsSet* netns)
{
    std::vector<cwt_iter_sock> socks;
    auto make = [] { return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); };
    std::vector<NetnsSet::MadeFd> nls;
    int err = 0;
    if (netns) {
        nls = netns->make_in_each(make, nullptr, &err);
    } else {
        NetnsSet::MadeFd m;
        m.netns = own_netns();
        m.fd.reset(make());
        err = errno;
        if (m.fd.valid())
            nls.push_back(std::move(m));
    }
    if (nls.empty() && (!netns || netns->size() > 0))
        throw UserError(std::string("cannot open a sock_diag netlink socket: ") + std::strerror(err),
                        "check that the kernel has CONFIG_INET_DIAG (modprobe tcp_diag)");
    // ESTABLISHED too: children still in an accept queue are ESTABLISHED.
    const std::uint32_t states = tcp_state_bit(CWT_TCP_LISTEN) | tcp_state_bit(CWT_TCP_CLOSE_WAIT) |
                                 tcp_state_bit(CWT_TCP_ESTABLISHED);
    for (const auto& nl : nls) {
        SockDiag diag(nl.fd.get());
        dump_sockets(diag, nl.netns, states, true, filter, socks);
    }

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
