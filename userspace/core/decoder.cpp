#include "core/decoder.hpp"

#include <cstring>
#include <string_view>

#include "common/text.hpp"

namespace cwt
{

Tuple decode_tuple(const cwt_tuple& t)
{
    Tuple out;
    std::memcpy(out.local.addr.data(), t.saddr, 16);
    std::memcpy(out.remote.addr.data(), t.daddr, 16);
    out.local.port = t.sport;
    out.remote.port = t.dport;
    out.family = t.family;
    return out;
}

ProcessRef decode_process(std::uint32_t tgid, const char (&comm)[CWT_COMM_LEN], std::int32_t fd)
{
    ProcessRef p;
    p.pid = tgid;
    p.comm = escape_comm(std::string_view(comm, strnlen(comm, CWT_COMM_LEN)));
    p.fd = fd;
    return p;
}

OwnerKind decode_owner_kind(std::uint8_t k)
{
    switch (k) {
    case CWT_OWNER_PROCESS:
        return OwnerKind::Process;
    case CWT_OWNER_ACCEPT_QUEUE:
        return OwnerKind::AcceptQueue;
    default:
        return OwnerKind::Unknown;
    }
}

ListenerInfo decode_listener(const cwt_iter_sock& rec)
{
    ListenerInfo l;
    l.sk = rec.sk;
    l.netns = rec.netns;
    l.local = decode_tuple(rec.tuple).local;
    l.queue = rec.recv_q;   // sk_ack_backlog
    l.backlog = rec.send_q; // sk_max_ack_backlog
    return l;
}

SocketRecord decode_socket(const cwt_iter_sock& rec)
{
    SocketRecord s;
    s.sk = rec.sk;
    s.ino = rec.ino;
    s.netns = rec.netns;
    s.recv_q = rec.recv_q;
    s.send_q = rec.send_q;
    s.state = rec.state;
    s.has_socket = rec.has_socket != 0;
    s.tuple = decode_tuple(rec.tuple);
    s.fin_by_ns = rec.fin_by_ns;
    return s;
}

SocketFd decode_socket_fd(const cwt_iter_file& rec)
{
    return SocketFd{rec.sk, rec.ino, decode_process(rec.tgid, rec.comm, rec.fd)};
}

std::vector<SocketRecord> decode_sockets(const std::vector<cwt_iter_sock>& recs)
{
    std::vector<SocketRecord> out;
    out.reserve(recs.size());
    for (const auto& r : recs)
        out.push_back(decode_socket(r));
    return out;
}

std::vector<SocketFd> decode_socket_fds(const std::vector<cwt_iter_file>& recs)
{
    std::vector<SocketFd> out;
    out.reserve(recs.size());
    for (const auto& r : recs)
        out.push_back(decode_socket_fd(r));
    return out;
}

ListenerInfo listener_of(const SocketRecord& rec)
{
    ListenerInfo l;
    l.sk = rec.sk;
    l.netns = rec.netns;
    l.local = rec.tuple.local;
    l.queue = rec.recv_q;   // sk_ack_backlog
    l.backlog = rec.send_q; // sk_max_ack_backlog
    return l;
}

CloseWaitInfo decode_close_wait(const cwt_cw_entry& e)
{
    CloseWaitInfo info;
    info.enter_ns = e.enter_ns;
    info.fin_by_ns = e.fin_by_ns;
    info.netns = e.netns;
    info.recv_q = e.recv_q;
    info.owner = decode_owner_kind(e.owner_kind);
    info.preexisting = e.preexisting != 0;
    info.tuple = decode_tuple(e.tuple);
    if (e.owner.tgid) {
        AcceptRecord a;
        a.by = decode_process(e.owner.tgid, e.owner.comm, e.owner.fd);
        a.at_ns = e.owner.accept_ns;
        a.listener_sk = e.owner.listener_sk;
        info.accepted = a;
    }
    return info;
}

std::optional<KernelEvent> decode_event(const void* data, std::size_t size)
{
    if (size < sizeof(cwt_event_header))
        return std::nullopt;
    cwt_event_header hdr;
    std::memcpy(&hdr, data, sizeof(hdr));
    switch (hdr.kind) {
    case CWT_EV_CLOSE_WAIT:
    case CWT_EV_CW_CLOSED:
    case CWT_EV_CW_ACCEPTED: {
        if (size < sizeof(cwt_sock_event))
            return std::nullopt;
        cwt_sock_event raw;
        std::memcpy(&raw, data, sizeof(raw));
        SockEvent ev;
        ev.kind = hdr.kind == CWT_EV_CLOSE_WAIT  ? SockEventKind::EnteredCloseWait
                  : hdr.kind == CWT_EV_CW_CLOSED ? SockEventKind::LeftCloseWait
                                                 : SockEventKind::QueuedAccepted;
        ev.ts_ns = raw.hdr.ts_ns;
        ev.sk = raw.sk;
        ev.old_state = raw.old_state;
        ev.new_state = raw.new_state;
        ev.local_shutdown = (raw.sk_shutdown & 2) != 0; // SEND_SHUTDOWN
        ev.info = decode_close_wait(raw.cw);
        return ev;
    }
    case CWT_EV_ACCEPT_ERROR: {
        if (size < sizeof(cwt_accept_error_event))
            return std::nullopt;
        cwt_accept_error_event raw;
        std::memcpy(&raw, data, sizeof(raw));
        AcceptErrorEvent ev;
        ev.ts_ns = raw.hdr.ts_ns;
        ev.listener_sk = raw.listener_sk;
        ev.process = decode_process(raw.tgid, raw.comm, raw.listen_fd);
        ev.err = raw.err;
        ev.syscall_nr = raw.syscall_nr;
        ev.nofile_soft = raw.nofile_soft;
        ev.nofile_hard = raw.nofile_hard;
        return ev;
    }
    default:
        return std::nullopt;
    }
}

} // namespace cwt
