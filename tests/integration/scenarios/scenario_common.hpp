// Shared helpers for the integration-test scenario programs.
//
// Every scenario program:
//  - is bounded in time: SIGALRM (default action: terminate) after --lifetime
//    seconds (default 30), and PR_SET_PDEATHSIG so it dies with the test;
//  - prints line-buffered facts to stdout ("KEY k=v ...") so the test knows
//    the ground truth (pid, fds, addresses);
//  - takes options as "--name value" pairs.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace scn
{

inline std::map<std::string, std::string>& opts()
{
    static std::map<std::string, std::string> m;
    return m;
}

[[noreturn]] inline void die(const char* what)
{
    std::fprintf(stderr, "%s: %s\n", what, std::strerror(errno));
    std::fflush(stdout);
    std::_Exit(3);
}

// accept(), retried on EINTR; dies on any other error.
inline int accept_or_die(int lfd)
{
    for (;;) {
        int fd = accept(lfd, nullptr, nullptr);
        if (fd >= 0)
            return fd;
        if (errno != EINTR)
            die("accept");
    }
}

inline std::string opt(const char* name, const char* def)
{
    auto it = opts().find(name);
    return it == opts().end() ? std::string(def) : it->second;
}

inline long opt_int(const char* name, long def)
{
    auto it = opts().find(name);
    return it == opts().end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
}

// Parses "--name value" pairs, arms the lifetime and the parent-death signal,
// and prints "PID pid=N".
inline void init(int argc, char** argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strncmp(argv[i], "--", 2) != 0) {
            std::fprintf(stderr, "bad option %s\n", argv[i]);
            std::_Exit(3);
        }
        opts()[argv[i] + 2] = argv[i + 1];
    }
    setvbuf(stdout, nullptr, _IOLBF, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        std::_Exit(3); // parent already gone
    signal(SIGPIPE, SIG_IGN);
    alarm(static_cast<unsigned>(opt_int("lifetime", 30)));
    std::printf("PID pid=%d\n", static_cast<int>(getpid()));
}

// Formats like closewait-trace and ss: "1.2.3.4:80" or "[::1]:80".
inline std::string endpoint(const sockaddr_storage& ss)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
}

inline std::string local_of(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        die("getsockname");
    return endpoint(ss);
}

inline std::string remote_of(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return "?";
    return endpoint(ss);
}

inline int port_of(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        die("getsockname");
    if (ss.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

inline sockaddr_storage make_addr(const std::string& addr, int port, socklen_t& len)
{
    sockaddr_storage ss{};
    if (addr.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr) != 1)
            die("inet_pton");
        len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET, addr.c_str(), &a->sin_addr) != 1)
            die("inet_pton");
        len = sizeof(sockaddr_in);
    }
    return ss;
}

// A listening socket on --addr (default 127.0.0.1) and --port (default 0:
// the kernel picks one), with SO_REUSEPORT under --reuseport 1, in another
// network namespace under --netns PATH; prints
// "LISTEN pid= fd= local= port= backlog=".
inline int listen_from_opts(int default_backlog)
{
    std::string addr = opt("addr", "127.0.0.1");
    int port = static_cast<int>(opt_int("port", 0));
    int backlog = static_cast<int>(opt_int("backlog", default_backlog));
    socklen_t len = 0;
    sockaddr_storage ss = make_addr(addr, port, len);
    // --netns PATH: the socket is made in that namespace, then the process
    // returns to its own, so no process lives where its listener does.
    std::string netns = opt("netns", "");
    int home = -1;
    if (!netns.empty()) {
        home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        int there = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (home < 0 || there < 0 || setns(there, CLONE_NEWNET) != 0)
            die("setns --netns");
        close(there);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (home >= 0) {
        if (setns(home, CLONE_NEWNET) != 0)
            die("setns back");
        close(home);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (opt_int("reuseport", 0) != 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        die("SO_REUSEPORT");
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        die("bind");
    if (listen(fd, backlog) != 0)
        die("listen");
    std::printf("LISTEN pid=%d fd=%d local=%s port=%d backlog=%d\n", static_cast<int>(getpid()), fd,
                local_of(fd).c_str(), port_of(fd), backlog);
    return fd;
}

// A blocking connection to --addr:--port (from --src-port if given, so two
// namespaces can hold the same 4-tuple); exits the program on failure.
inline int connect_from_opts()
{
    std::string addr = opt("addr", "127.0.0.1");
    int port = static_cast<int>(opt_int("port", 0));
    socklen_t len = 0;
    sockaddr_storage ss = make_addr(addr, port, len);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (int src = static_cast<int>(opt_int("src-port", 0))) {
        socklen_t slen = 0;
        sockaddr_storage from = make_addr(addr, src, slen);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, reinterpret_cast<sockaddr*>(&from), slen) != 0)
            die("bind --src-port");
    }
    while (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINTR)
            die("connect");
    }
    return fd;
}

inline bool write_all(int fd, const void* p, size_t n)
{
    const char* c = static_cast<const char*>(p);
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// Reads until EOF; returns the number of bytes read, or -1 on error.
inline long read_to_eof(int fd)
{
    char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return total;
        total += r;
    }
}

// Sleeps until the lifetime alarm or a signal ends the program.
// RLIMIT_NOFILE soft = hard = --nofile (default 16): the server runs out of fds.
inline void limit_nofile_from_opts()
{
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(opt_int("nofile", 16));
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        die("setrlimit");
}

[[noreturn]] inline void idle_forever()
{
    for (;;)
        pause();
}

} // namespace scn
