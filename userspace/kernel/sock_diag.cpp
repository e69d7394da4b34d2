#include "kernel/sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace cwt
{

namespace
{

// Large enough for a whole dump batch: the kernel sizes its dump messages
// by the reader's buffer, and a shorter read would truncate them.
constexpr std::size_t kRecvBufSize = 1 << 16;

struct DumpContext {
    const std::function<void(const DiagSocket&)>* on;
    MonoNs read_ns = 0;
};

Endpoint endpoint(std::uint8_t family, const __be32* addr, __be16 port)
{
    Endpoint e;
    if (family == AF_INET6) {
        std::memcpy(e.addr.data(), addr, 16);
    } else {
        e.addr[10] = e.addr[11] = 0xff;
        std::memcpy(&e.addr[12], addr, 4);
    }
    e.port = ntohs(port);
    return e;
}

// INET_DIAG_INFO's tcpi_last_ack_recv, when the attribute is long enough.
int on_attr(const nlattr* a, void* data)
{
    auto* s = static_cast<DiagSocket*>(data);
    if (mnl_attr_get_type(a) != INET_DIAG_INFO)
        return MNL_CB_OK;
    constexpr std::size_t kNeed =
        offsetof(tcp_info, tcpi_last_ack_recv) + sizeof(tcp_info::tcpi_last_ack_recv);
    if (mnl_attr_get_payload_len(a) < kNeed)
        return MNL_CB_OK;
    tcp_info info{};
    std::memcpy(&info, mnl_attr_get_payload(a), kNeed);
    s->last_ack_recv_ms = info.tcpi_last_ack_recv;
    return MNL_CB_OK;
}

int on_msg(const nlmsghdr* h, void* data)
{
    auto* ctx = static_cast<DumpContext*>(data);
    if (mnl_nlmsg_get_payload_len(h) < sizeof(inet_diag_msg))
        return MNL_CB_OK;
    const auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(h));
    DiagSocket s;
    s.cookie = static_cast<std::uint64_t>(m->id.idiag_cookie[0]) |
               static_cast<std::uint64_t>(m->id.idiag_cookie[1]) << 32;
    s.state = m->idiag_state;
    s.inode = m->idiag_inode;
    s.uid = m->idiag_uid;
    s.rqueue = m->idiag_rqueue;
    s.wqueue = m->idiag_wqueue;
    s.tuple.family = m->idiag_family;
    s.tuple.local = endpoint(m->idiag_family, m->id.idiag_src, m->id.idiag_sport);
    s.tuple.remote = endpoint(m->idiag_family, m->id.idiag_dst, m->id.idiag_dport);
    s.read_ns = ctx->read_ns;
    mnl_attr_parse(h, sizeof(*m), on_attr, &s);
    (*ctx->on)(s);
    return MNL_CB_OK;
}

} // namespace

void SockDiag::Closer::operator()(mnl_socket* s) const
{
    mnl_socket_close(s);
}

SockDiag::SockDiag() : seq_(static_cast<std::uint32_t>(std::time(nullptr)))
{
    mnl_socket* nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (!nl)
        throw UserError(std::string("cannot open a sock_diag netlink socket: ") + std::strerror(errno),
                        "check that the kernel has CONFIG_INET_DIAG (modprobe tcp_diag)");
    nl_.reset(nl);
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
        throw UserError(std::string("cannot bind the sock_diag netlink socket: ") + std::strerror(errno),
                        "retry; if it persists, report it with `uname -r`");
}

SockDiag::SockDiag(int fd) : seq_(static_cast<std::uint32_t>(std::time(nullptr)))
{
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    mnl_socket* nl = own >= 0 ? mnl_socket_fdopen(own) : nullptr;
    if (!nl) {
        int err = errno;
        if (own >= 0)
            close(own);
        throw UserError(std::string("cannot use the sock_diag netlink socket: ") + std::strerror(err),
                        "retry; if it persists, report it with `uname -r`");
    }
    nl_.reset(nl);
}

SockDiag::~SockDiag() = default;

void SockDiag::dump_tcp(std::uint8_t family, std::uint32_t state_mask, bool with_tcp_info,
                        const std::function<void(const DiagSocket&)>& on)
{
    std::vector<char> buf(kRecvBufSize);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const std::uint32_t seq = ++seq_;
    nlh->nlmsg_seq = seq;
    auto* req = static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    req->sdiag_family = family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = state_mask;
    if (with_tcp_info)
        req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
    if (mnl_socket_sendto(nl_.get(), nlh, nlh->nlmsg_len) < 0)
        throw UserError(std::string("sock_diag request failed: ") + std::strerror(errno),
                        "load the inet_diag and tcp_diag modules (modprobe tcp_diag)");

    DumpContext ctx{&on};
    // The request is sent; buf now receives the replies.
    const unsigned portid = mnl_socket_get_portid(nl_.get());
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw UserError(std::string("sock_diag read failed: ") + std::strerror(errno),
                            "retry; if it persists, report it with `uname -r`");
        // Sampled after the kernel wrote these records: a time bound derived
        // from them must not claim an earlier time than the kernel's clock did.
        ctx.read_ns = mono_now_ns();
        int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq, portid, on_msg, &ctx);
        if (r == MNL_CB_STOP)
            return; // NLMSG_DONE
        if (r < 0)
            throw UserError(std::string("sock_diag dump failed: ") + std::strerror(errno),
                            "load the inet_diag and tcp_diag modules (modprobe tcp_diag)");
    }
}

} // namespace cwt
