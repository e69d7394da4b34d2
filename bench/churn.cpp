// cwt_churn: loopback TCP connection churn at the maximum rate.
//
//   cwt_churn server [--port P] [--threads T] [--msg B] [--close-first client|server]
//   cwt_churn client [--port P] [--threads C] [--duration S] [--addrs K] [--msg B]
//                    [--close-first client|server]
//   cwt_churn both   (a server process forked off, then the client; the server is
//                     killed when the client is done)
//
// One connection: connect -> B-byte request -> B-byte reply -> close. With
// --close-first client (the default) the client closes first, so every
// accepted server socket passes ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSE,
// the path closewait-trace tracks; with server, the server closes first and
// its sockets go to TIME_WAIT instead.
//
// The server runs in its own process (so that `closewait-trace -p <server pid>`
// selects it alone), prints "ready pid=N port=P" and serves until SIGTERM or
// SIGINT, then prints "served=N". The client prints one line:
//   connections=N seconds=S conn_per_s=R errors=E threads=C
// Clients spread over 127.0.0.1..127.0.0.K, so ephemeral ports (TIME_WAIT
// reuse is on for loopback) do not run out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace
{

struct Config {
    int port = 9400;
    int threads = 0; // 0: mode default
    double duration = 10;
    int addrs = 16;
    int msg = 64;
    bool client_closes_first = true;
};

double now_s()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "cwt_churn: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

bool read_full(int fd, char* buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

bool write_full(int fd, const char* buf, size_t n)
{
    size_t sent = 0;
    while (sent < n) {
        ssize_t r = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        sent += static_cast<size_t>(r);
    }
    return true;
}

// ---- server ------------------------------------------------------------------

std::atomic<unsigned long> g_served{0};

void serve(int lfd, const Config& c)
{
    std::vector<char> buf(static_cast<size_t>(c.msg));
    for (;;) {
        int s = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (s < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                usleep(1000);
                continue;
            }
            die("accept4");
        }
        if (read_full(s, buf.data(), buf.size()) && write_full(s, buf.data(), buf.size())) {
            if (c.client_closes_first) {
                char b[64];
                while (recv(s, b, sizeof(b), 0) > 0) {
                } // wait for the client's FIN: this socket is now in CLOSE_WAIT
            }
            g_served.fetch_add(1, std::memory_order_relaxed);
        }
        close(s);
    }
}

int listen_on(int port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY); // every 127.0.0.x
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
        die("bind");
    if (listen(lfd, 4096) != 0)
        die("listen");
    return lfd;
}

// Runs the server in this process until SIGTERM/SIGINT. `ready_fd` >= 0 gets
// the ready line too (for `both`).
int run_server(const Config& c, int ready_fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr); // threads inherit: only sigwait below sees them
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_on(c.port);
    int n = c.threads > 0 ? c.threads : 4;
    for (int i = 0; i < n; ++i)
        std::thread([lfd, &c] { serve(lfd, c); }).detach();
    std::printf("ready pid=%d port=%d threads=%d\n", static_cast<int>(getpid()), c.port, n);
    std::fflush(stdout);
    if (ready_fd >= 0) {
        char ok = 'r';
        if (write(ready_fd, &ok, 1) != 1)
            die("ready pipe");
        close(ready_fd);
    }
    int sig = 0;
    sigwait(&set, &sig);
    std::printf("served=%lu\n", g_served.load());
    std::fflush(stdout);
    _exit(0); // threads are blocked in accept/recv: no orderly join
}

// ---- client ------------------------------------------------------------------

struct ClientStats {
    unsigned long conns = 0;
    unsigned long errors = 0;
};

void client_loop(const Config& c, int id, double deadline, ClientStats& st)
{
    std::vector<char> buf(static_cast<size_t>(c.msg), 'x');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(c.port));
    unsigned long seq = static_cast<unsigned long>(id);
    while (now_s() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ++st.errors;
            usleep(1000);
            continue;
        }
        a.sin_addr.s_addr =
            htonl(0x7f000001u + static_cast<uint32_t>(seq++ % static_cast<unsigned>(c.addrs)));
        bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  write_full(fd, buf.data(), buf.size()) && read_full(fd, buf.data(), buf.size());
        if (ok && !c.client_closes_first) {
            char b[64];
            while (recv(fd, b, sizeof(b), 0) > 0) {
            } // wait for the server's FIN
        }
        close(fd);
        if (ok)
            ++st.conns;
        else
            ++st.errors;
    }
}

int run_client(const Config& c)
{
    signal(SIGPIPE, SIG_IGN);
    int n = c.threads > 0 ? c.threads : 2;
    std::vector<ClientStats> stats(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    double t0 = now_s();
    double deadline = t0 + c.duration;
    for (int i = 0; i < n; ++i)
        threads.emplace_back(
            [&c, i, deadline, &stats] { client_loop(c, i, deadline, stats[static_cast<size_t>(i)]); });
    for (auto& t : threads)
        t.join();
    double secs = now_s() - t0;
    ClientStats total;
    for (const auto& s : stats) {
        total.conns += s.conns;
        total.errors += s.errors;
    }
    std::printf("connections=%lu seconds=%.3f conn_per_s=%.0f errors=%lu threads=%d\n", total.conns, secs,
                static_cast<double>(total.conns) / secs, total.errors, n);
    std::fflush(stdout);
    return total.conns > 0 ? 0 : 1;
}

[[noreturn]] void usage()
{
    std::fprintf(stderr,
                 "usage: cwt_churn server|client|both [--port P] [--threads N] [--duration S] [--addrs K]\n"
                 "                 [--msg BYTES] [--close-first client|server]\n");
    std::exit(2);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        usage();
    std::string mode = argv[1];
    Config c;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--port")
            c.port = std::atoi(next());
        else if (a == "--threads")
            c.threads = std::atoi(next());
        else if (a == "--duration")
            c.duration = std::atof(next());
        else if (a == "--addrs")
            c.addrs = std::atoi(next());
        else if (a == "--msg")
            c.msg = std::atoi(next());
        else if (a == "--close-first") {
            std::string v = next();
            if (v != "client" && v != "server")
                usage();
            c.client_closes_first = v == "client";
        } else
            usage();
    }
    if (c.port <= 0 || c.port > 65535 || c.addrs < 1 || c.addrs > 250 || c.msg < 1 || c.msg > 65536 ||
        c.duration <= 0)
        usage();

    if (mode == "server")
        return run_server(c, -1);
    if (mode == "client")
        return run_client(c);
    if (mode != "both")
        usage();

    int ready[2];
    if (pipe(ready) != 0)
        die("pipe");
    Config sc = c;
    sc.threads = 0;
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(ready[0]);
        run_server(sc, ready[1]);
    }
    close(ready[1]);
    char b;
    if (read(ready[0], &b, 1) != 1) {
        std::fprintf(stderr, "cwt_churn: server did not start\n");
        return 1;
    }
    int rc = run_client(c);
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    return rc;
}
