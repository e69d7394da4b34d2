// Decoder: raw ring-buffer records (events.h) -> model types.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/decoder.hpp"
#include "report/format.hpp"

namespace cwt
{
namespace
{

// ---- raw record builders -----------------------------------------------------

void put_v4(__u8 (&dst)[16], const char* addr)
{
    std::memset(dst, 0, 16);
    dst[10] = 0xff;
    dst[11] = 0xff;
    ASSERT_EQ(inet_pton(AF_INET, addr, dst + 12), 1) << addr;
}

void put_v6(__u8 (&dst)[16], const char* addr)
{
    ASSERT_EQ(inet_pton(AF_INET6, addr, dst), 1) << addr;
}

template <std::size_t N> void put_comm(char (&dst)[N], const std::string& bytes)
{
    std::memset(dst, 0, N);
    std::memcpy(dst, bytes.data(), std::min(bytes.size(), N));
}

cwt_sock_event raw_sock_event(__u8 kind = CWT_EV_CLOSE_WAIT)
{
    cwt_sock_event e{};
    e.hdr.kind = kind;
    e.hdr.ts_ns = 123456789012ULL;
    e.sk = 0xffff888012345678ULL;
    e.old_state = CWT_TCP_ESTABLISHED;
    e.new_state = CWT_TCP_CLOSE_WAIT;
    e.cw.enter_ns = 123456789000ULL;
    e.cw.netns = 4026531840U;
    e.cw.recv_q = 42;
    e.cw.owner_kind = CWT_OWNER_PROCESS;
    e.cw.preexisting = 0;
    put_v4(e.cw.tuple.saddr, "10.1.2.3");
    put_v4(e.cw.tuple.daddr, "192.0.2.44");
    e.cw.tuple.sport = 8080;
    e.cw.tuple.dport = 51234;
    e.cw.tuple.family = AF_INET;
    e.cw.owner.tgid = 4242;
    e.cw.owner.fd = 17;
    e.cw.owner.accept_ns = 123000000000ULL;
    e.cw.owner.listener_sk = 0xffff888000001000ULL;
    put_comm(e.cw.owner.comm, "server");
    return e;
}

cwt_accept_error_event raw_accept_error()
{
    cwt_accept_error_event e{};
    e.hdr.kind = CWT_EV_ACCEPT_ERROR;
    e.hdr.ts_ns = 5000000000ULL;
    e.listener_sk = 0xffff888000002000ULL;
    e.tgid = 777;
    e.listen_fd = 3;
    e.err = EMFILE;
    e.syscall_nr = 288;
    e.nofile_soft = 1024;
    e.nofile_hard = 524288;
    e.next_fd = 1024;
    put_comm(e.comm, "acceptor");
    return e;
}

template <typename T> std::vector<unsigned char> bytes_of(const T& raw, std::size_t extra = 0)
{
    std::vector<unsigned char> b(sizeof(T) + extra, 0xAA);
    std::memcpy(b.data(), &raw, sizeof(T));
    return b;
}

SockEvent decode_sock(const std::vector<unsigned char>& b)
{
    auto ev = decode_event(b.data(), b.size());
    EXPECT_TRUE(ev.has_value());
    if (!ev)
        return {};
    EXPECT_TRUE(std::holds_alternative<SockEvent>(*ev));
    return std::holds_alternative<SockEvent>(*ev) ? std::get<SockEvent>(*ev) : SockEvent{};
}

bool printable_ascii(const std::string& s)
{
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            return false;
    return true;
}

// ---- sock events -------------------------------------------------------------

TEST(Decoder, CloseWaitEventDecodesEveryField)
{
    const cwt_sock_event raw = raw_sock_event(CWT_EV_CLOSE_WAIT);
    SockEvent ev = decode_sock(bytes_of(raw));

    EXPECT_EQ(ev.kind, SockEventKind::EnteredCloseWait);
    EXPECT_EQ(ev.ts_ns, 123456789012ULL);
    EXPECT_EQ(ev.sk, 0xffff888012345678ULL);
    EXPECT_EQ(ev.old_state, CWT_TCP_ESTABLISHED);
    EXPECT_EQ(ev.new_state, CWT_TCP_CLOSE_WAIT);
    EXPECT_EQ(ev.info.enter_ns, 123456789000ULL);
    EXPECT_EQ(ev.info.netns, 4026531840U);
    EXPECT_EQ(ev.info.recv_q, 42u);
    EXPECT_EQ(ev.info.owner, OwnerKind::Process);
    EXPECT_FALSE(ev.info.preexisting);
    EXPECT_EQ(ev.info.tuple.family, AF_INET);
    EXPECT_EQ(ev.info.tuple.local.port, 8080);
    EXPECT_EQ(ev.info.tuple.remote.port, 51234);
    ASSERT_TRUE(ev.info.accepted);
    EXPECT_EQ(ev.info.accepted->by.pid, 4242u);
    EXPECT_EQ(ev.info.accepted->by.fd, 17);
    EXPECT_EQ(ev.info.accepted->by.comm, "server");
    EXPECT_EQ(ev.info.accepted->at_ns, 123000000000ULL);
    EXPECT_EQ(ev.info.accepted->listener_sk, 0xffff888000001000ULL);
}

TEST(Decoder, SockEventKindsMapToModelKinds)
{
    EXPECT_EQ(decode_sock(bytes_of(raw_sock_event(CWT_EV_CLOSE_WAIT))).kind, SockEventKind::EnteredCloseWait);
    EXPECT_EQ(decode_sock(bytes_of(raw_sock_event(CWT_EV_CW_CLOSED))).kind, SockEventKind::LeftCloseWait);
    EXPECT_EQ(decode_sock(bytes_of(raw_sock_event(CWT_EV_CW_ACCEPTED))).kind, SockEventKind::QueuedAccepted);
}

TEST(Decoder, OwnerKindsAndMissingOwner)
{
    EXPECT_EQ(decode_owner_kind(CWT_OWNER_UNKNOWN), OwnerKind::Unknown);
    EXPECT_EQ(decode_owner_kind(CWT_OWNER_PROCESS), OwnerKind::Process);
    EXPECT_EQ(decode_owner_kind(CWT_OWNER_ACCEPT_QUEUE), OwnerKind::AcceptQueue);
    EXPECT_EQ(decode_owner_kind(200), OwnerKind::Unknown);

    cwt_sock_event raw = raw_sock_event();
    raw.cw.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
    raw.cw.preexisting = 1;
    raw.cw.enter_ns = 0;
    std::memset(&raw.cw.owner, 0, sizeof(raw.cw.owner));
    raw.cw.owner.fd = -1;
    SockEvent ev = decode_sock(bytes_of(raw));
    EXPECT_EQ(ev.info.owner, OwnerKind::AcceptQueue);
    EXPECT_TRUE(ev.info.preexisting);
    EXPECT_EQ(ev.info.enter_ns, 0u);
    EXPECT_FALSE(ev.info.accepted) << "tgid 0 means no accept record";
}

TEST(Decoder, AcceptErrorEvent)
{
    const auto raw = raw_accept_error();
    auto b = bytes_of(raw);
    auto ev = decode_event(b.data(), b.size());
    ASSERT_TRUE(ev);
    ASSERT_TRUE(std::holds_alternative<AcceptErrorEvent>(*ev));
    const auto& a = std::get<AcceptErrorEvent>(*ev);
    EXPECT_EQ(a.ts_ns, 5000000000ULL);
    EXPECT_EQ(a.listener_sk, 0xffff888000002000ULL);
    EXPECT_EQ(a.process, (ProcessRef{777, "acceptor", 3}));
    EXPECT_EQ(a.err, EMFILE);
    EXPECT_EQ(a.syscall_nr, 288u);
    EXPECT_EQ(a.nofile_soft, 1024u);
    EXPECT_EQ(a.nofile_hard, 524288u);
}

// ---- malformed records -------------------------------------------------------

TEST(Decoder, TooShortRecordsAreRejected)
{
    const auto sock = bytes_of(raw_sock_event());
    const auto aerr = bytes_of(raw_accept_error());

    EXPECT_FALSE(decode_event(sock.data(), 0));
    EXPECT_FALSE(decode_event(sock.data(), 1));
    EXPECT_FALSE(decode_event(sock.data(), sizeof(cwt_event_header) - 1));
    EXPECT_FALSE(decode_event(sock.data(), sizeof(cwt_event_header)));
    EXPECT_FALSE(decode_event(sock.data(), sizeof(cwt_sock_event) - 1));
    EXPECT_FALSE(decode_event(aerr.data(), sizeof(cwt_event_header)));
    EXPECT_FALSE(decode_event(aerr.data(), sizeof(cwt_accept_error_event) - 1));
    // A sock-event-sized record that says it is an accept error is too short for one.
    cwt_sock_event mislabeled = raw_sock_event();
    mislabeled.hdr.kind = CWT_EV_ACCEPT_ERROR;
    static_assert(sizeof(cwt_sock_event) != sizeof(cwt_accept_error_event));
    if (sizeof(cwt_sock_event) < sizeof(cwt_accept_error_event)) {
        auto b = bytes_of(mislabeled);
        EXPECT_FALSE(decode_event(b.data(), b.size()));
    }
}

TEST(Decoder, LongerRecordsDecode)
{
    // Fields are appended at the end of structs: a newer kernel side may send more.
    auto b = bytes_of(raw_sock_event(), 24);
    EXPECT_EQ(decode_sock(b).sk, 0xffff888012345678ULL);
    auto a = bytes_of(raw_accept_error(), 8);
    EXPECT_TRUE(decode_event(a.data(), a.size()));
}

TEST(Decoder, UnalignedBufferDecodes)
{
    auto raw = bytes_of(raw_sock_event());
    std::vector<unsigned char> shifted(raw.size() + 3);
    std::memcpy(shifted.data() + 3, raw.data(), raw.size());
    auto ev = decode_event(shifted.data() + 3, raw.size());
    ASSERT_TRUE(ev);
    EXPECT_EQ(std::get<SockEvent>(*ev).info.recv_q, 42u);
}

TEST(Decoder, UnknownKindsAreRejected)
{
    for (int kind : {0, 5, 6, 0x7f, 0xff}) {
        cwt_sock_event raw = raw_sock_event();
        raw.hdr.kind = static_cast<__u8>(kind);
        auto b = bytes_of(raw, 64);
        EXPECT_FALSE(decode_event(b.data(), b.size())) << "kind " << kind;
    }
}

// ---- addresses ---------------------------------------------------------------

TEST(Decoder, IPv4StoredV4MappedPrintsDotted)
{
    SockEvent ev = decode_sock(bytes_of(raw_sock_event()));
    EXPECT_TRUE(ev.info.tuple.local.is_v4_mapped());
    EXPECT_EQ(format_endpoint(ev.info.tuple.local), "10.1.2.3:8080");
    EXPECT_EQ(format_endpoint(ev.info.tuple.remote), "192.0.2.44:51234");
    EXPECT_EQ(format_addr(ev.info.tuple.local), "10.1.2.3");
}

TEST(Decoder, IPv6PrintsBracketed)
{
    cwt_sock_event raw = raw_sock_event();
    put_v6(raw.cw.tuple.saddr, "2001:db8::1");
    put_v6(raw.cw.tuple.daddr, "fe80::1:2:3:4");
    raw.cw.tuple.sport = 443;
    raw.cw.tuple.dport = 65535;
    raw.cw.tuple.family = AF_INET6;
    SockEvent ev = decode_sock(bytes_of(raw));
    EXPECT_EQ(ev.info.tuple.family, AF_INET6);
    EXPECT_FALSE(ev.info.tuple.local.is_v4_mapped());
    EXPECT_EQ(format_endpoint(ev.info.tuple.local), "[2001:db8::1]:443");
    EXPECT_EQ(format_endpoint(ev.info.tuple.remote), "[fe80::1:2:3:4]:65535");

    put_v6(raw.cw.tuple.saddr, "::1");
    put_v6(raw.cw.tuple.daddr, "::");
    raw.cw.tuple.dport = 0;
    ev = decode_sock(bytes_of(raw));
    EXPECT_EQ(format_endpoint(ev.info.tuple.local), "[::1]:443");
    EXPECT_EQ(format_endpoint(ev.info.tuple.remote), "[::]:0");
    EXPECT_TRUE(ev.info.tuple.remote.is_unspecified());
}

TEST(Decoder, UnspecifiedAddresses)
{
    cwt_tuple t{};
    put_v4(t.saddr, "0.0.0.0");
    put_v4(t.daddr, "0.0.0.1");
    Tuple d = decode_tuple(t);
    EXPECT_TRUE(d.local.is_unspecified());
    EXPECT_FALSE(d.remote.is_unspecified());
    EXPECT_EQ(format_endpoint(d.local), "0.0.0.0:0");
}

// ---- hostile process names ---------------------------------------------------

TEST(Decoder, HostileCommIsEscaped)
{
    cwt_sock_event raw = raw_sock_event();
    // 16 bytes, no NUL: ESC [ 2 J, LF, CR, BEL, 0xff, a UTF-8 lead byte with a
    // bad continuation, '\', DEL, a lone continuation byte.
    const std::string hostile("\x1b[2J\n\r\x07\xff\xc3(\\ab\x7f\x80z", 16);
    put_comm(raw.cw.owner.comm, hostile);
    SockEvent ev = decode_sock(bytes_of(raw));
    ASSERT_TRUE(ev.info.accepted);
    const std::string& comm = ev.info.accepted->by.comm;
    EXPECT_EQ(comm, "\\x1b[2J\\x0a\\x0d\\x07\\xff\\xc3(\\\\ab\\x7f\\x80z");
    EXPECT_TRUE(printable_ascii(comm));
    EXPECT_EQ(comm.find('\x1b'), std::string::npos);
}

TEST(Decoder, CommStopsAtNulAndNeverReadsPastTheField)
{
    cwt_accept_error_event raw = raw_accept_error();
    put_comm(raw.comm, std::string("ab\0\x1b[2J", 7));
    auto b = bytes_of(raw);
    auto ev = decode_event(b.data(), b.size());
    ASSERT_TRUE(ev);
    EXPECT_EQ(std::get<AcceptErrorEvent>(*ev).process.comm, "ab");

    // Exactly 16 printable bytes and no NUL: all kept, nothing of the 0xAA
    // bytes that follow the struct in the buffer.
    put_comm(raw.comm, "abcdefghijklmnop");
    b = bytes_of(raw, 16);
    ev = decode_event(b.data(), b.size());
    ASSERT_TRUE(ev);
    EXPECT_EQ(std::get<AcceptErrorEvent>(*ev).process.comm, "abcdefghijklmnop");
}

TEST(Decoder, EscapeCommDirect)
{
    EXPECT_EQ(escape_comm("nginx: worker"), "nginx: worker");
    EXPECT_EQ(escape_comm("a\\b"), "a\\\\b");
    EXPECT_EQ(escape_comm("\t"), "\\x09");
    EXPECT_EQ(escape_comm("caf\xc3\xa9"), "caf\\xc3\\xa9"); // valid UTF-8 is escaped too
    EXPECT_EQ(escape_comm(""), "");
}

} // namespace
} // namespace cwt
