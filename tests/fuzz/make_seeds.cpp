// Writes the committed seed corpus (tests/fuzz/seeds/<target>/): a few valid
// records of every kind in events.h, plus truncated and oversized ones, and a
// few command lines. Rerun when a record layout changes:
//   clang++ -std=c++17 -I include tests/fuzz/make_seeds.cpp -o /tmp/make_seeds && /tmp/make_seeds
//   tests/fuzz/seeds
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "closewait_trace/events.h"

namespace
{

std::string dir;

void put(const std::string& target, const std::string& name, const void* data, std::size_t size)
{
    std::string path = dir + "/" + target + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::exit(1);
    }
}

void v4(__u8 (&a)[16], __u8 a0, __u8 a1, __u8 a2, __u8 a3)
{
    std::memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = a0, a[13] = a1, a[14] = a2, a[15] = a3;
}

template <typename T> std::vector<std::uint8_t> bytes(const T& v)
{
    std::vector<std::uint8_t> b(sizeof(T));
    std::memcpy(b.data(), &v, sizeof(T));
    return b;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SEEDS_DIR (with ringbuf/ iter_records/ cli/ in it)\n", argv[0]);
        return 2;
    }
    dir = argv[1];

    cwt_sock_event se{};
    se.hdr.kind = CWT_EV_CLOSE_WAIT;
    se.hdr.ts_ns = 123456789;
    se.sk = 0xffff888100001000ULL;
    se.old_state = CWT_TCP_ESTABLISHED;
    se.new_state = CWT_TCP_CLOSE_WAIT;
    se.cw.owner_kind = CWT_OWNER_PROCESS;
    se.cw.recv_q = 1;
    se.cw.tuple.family = AF_INET;
    v4(se.cw.tuple.saddr, 127, 0, 0, 1);
    v4(se.cw.tuple.daddr, 127, 0, 0, 1);
    se.cw.tuple.sport = 8080;
    se.cw.tuple.dport = 43588;
    se.cw.owner.tgid = 4242;
    se.cw.owner.fd = 7;
    std::memcpy(se.cw.owner.comm, "python3", 7);
    auto b = bytes(se);
    put("ringbuf", "close_wait", b.data(), b.size());
    put("ringbuf", "close_wait_truncated", b.data(), b.size() - 9);
    b.resize(b.size() + 24, 0xab);
    put("ringbuf", "close_wait_oversized", b.data(), b.size());

    se.hdr.kind = CWT_EV_CW_CLOSED;
    se.cw.tuple.family = AF_INET6;
    std::memset(se.cw.tuple.saddr, 0, 16);
    se.cw.tuple.saddr[15] = 1;
    std::memcpy(se.cw.owner.comm,
                "\x1b[31mred\x07\xff\xfe\x01"
                "abcdefg",
                16); // hostile, unterminated
    b = bytes(se);
    put("ringbuf", "cw_closed_v6_hostile_comm", b.data(), b.size());
    se.hdr.kind = CWT_EV_CW_ACCEPTED;
    se.cw.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
    b = bytes(se);
    put("ringbuf", "cw_accepted_queue", b.data(), b.size());

    cwt_accept_error_event ae{};
    ae.hdr.kind = CWT_EV_ACCEPT_ERROR;
    ae.hdr.ts_ns = 987654321;
    ae.listener_sk = 0xffff888100002000ULL;
    ae.tgid = 17573;
    ae.listen_fd = 3;
    ae.err = EMFILE;
    ae.syscall_nr = 288;
    ae.nofile_soft = 16;
    ae.nofile_hard = 16;
    std::memcpy(ae.comm, "node", 4);
    b = bytes(ae);
    put("ringbuf", "accept_error", b.data(), b.size());
    put("ringbuf", "accept_error_truncated", b.data(), sizeof(cwt_event_header) + 3);
    ae.err = -2147483647 - 1;
    b = bytes(ae);
    put("ringbuf", "accept_error_bad_errno", b.data(), b.size());
    cwt_event_header h{};
    h.kind = 99;
    b = bytes(h);
    put("ringbuf", "unknown_kind", b.data(), b.size());
    put("ringbuf", "short_header", b.data(), 5);

    // Iterators: first byte 1 = iter/tcp records, 0 = iter/task_file records.
    std::vector<std::uint8_t> s{1};
    cwt_iter_sock is{};
    is.sk = 0xffff888100003000ULL;
    is.state = CWT_TCP_LISTEN;
    is.recv_q = 3;
    is.send_q = 8;
    is.tuple.family = AF_INET;
    v4(is.tuple.saddr, 127, 0, 0, 1);
    is.tuple.sport = 8000;
    for (int i = 0; i < 3; ++i) {
        auto r = bytes(is);
        s.insert(s.end(), r.begin(), r.end());
        is.state = CWT_TCP_CLOSE_WAIT;
        is.tuple.family = AF_INET6;
        is.tuple.daddr[0] = 0x20, is.tuple.daddr[1] = 0x01;
    }
    put("iter_records", "tcp_three", s.data(), s.size());
    put("iter_records", "tcp_partial_tail", s.data(), s.size() - 11);
    std::vector<std::uint8_t> f{0};
    cwt_iter_file fr{};
    fr.sk = is.sk;
    fr.tgid = 15250;
    fr.fd = 8;
    std::memcpy(fr.comm, "nginx: worker\n\t", 15);
    for (int i = 0; i < 2; ++i) {
        auto r = bytes(fr);
        f.insert(f.end(), r.begin(), r.end());
        fr.fd = -1;
        std::memset(fr.comm, 0xc3, sizeof(fr.comm));
    }
    put("iter_records", "file_two", f.data(), f.size());
    put("iter_records", "file_partial_tail", f.data(), f.size() - 1);

    // Command lines: arguments separated by NUL.
    const std::vector<std::vector<std::string>> lines = {
        {"-p", "4448", "--json"},
        {"--threshold", "5", "-v"},
        {"--snapshot", "--inventory", "sock_diag"},
        {"-d", "2.5", "--stall", "1"},
        {"--port", "65535", "--probes", "tracepoint"},
        {"--threshold", "nan"},
        {"-d", "inf"},
        {"--max-sockets", "99999999999999999999"},
        {"--help"},
        {"--threshold=-1", "--port=0x50"},
        {"--features", "--debug"},
        {"-P", "80,81,443", "-L", "8080", "-D", "5432", "-4"},
        {"-t", "-T", "-w", "-6", "--snapshot"},
        {"-V"},
        {"-P", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "-4", "-6"},
        {"--port", "80", "-P", ",,0,65536"},
    };
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string joined;
        for (const auto& arg : lines[i])
            joined += (joined.empty() ? "" : std::string(1, '\0')) + arg;
        put("cli", "args" + std::to_string(i), joined.data(), joined.size());
    }
    return 0;
}
