// cwt_sockfarm: creates many loopback TCP sockets and holds them until told to stop.
//
//   cwt_sockfarm --leaks L --pairs P [--fds-per-proc N] [--port-base PORT] [--addrs K] [--batch B]
//
// L leaked CLOSE_WAIT sockets: accepted server ends whose client closed; the
// server end is kept open (the leak). P ESTABLISHED pairs: both ends kept open.
// The work is split over several worker processes, because one process may not
// hold more than its RLIMIT_NOFILE hard limit (20000 here, and it cannot be
// raised without CAP_SYS_RESOURCE). Each worker raises its soft limit to the
// hard limit, listens on 0.0.0.0:PORT+w (default 5000+w) and connects to it
// (to 127.0.0.{1..K} with --addrs K) from explicitly bound, never reused source
// addresses and ports (127.x.y.z:10000-59999), so no ephemeral port runs out and
// no new connection can collide with an earlier one.
//
// Prints one line "ready leaks=.. pairs=.. workers=.. pids=a,b,c seconds=.."
// on stdout once everything exists, then holds until SIGTERM/SIGINT (or until
// stdin reaches EOF with --stdin). Then the workers reset every socket (SO_LINGER
// 0: no TIME_WAIT left over) and exit. Workers also die with the parent
// (PR_SET_PDEATHSIG), so nothing is left behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace
{

constexpr long kPortsPerAddr = 50000;
constexpr long kFirstClientPort = 10000;

struct Config {
    long leaks = 0;
    long pairs = 0;
    long fds_per_proc = 16000;
    int port_base = 5000;
    int addrs = 1;
    int batch = 256;
    bool stdin_control = false;
};

double now_s()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "cwt_sockfarm[%d]: %s: %s\n", static_cast<int>(getpid()), what,
                 std::strerror(errno));
    std::exit(1);
}

void usage()
{
    std::fprintf(stderr, "usage: cwt_sockfarm --leaks L --pairs P [--fds-per-proc N] [--port-base PORT] "
                         "[--addrs K] [--batch B] [--stdin]\n");
    std::exit(2);
}

volatile sig_atomic_t g_worker_stop = 0;
void on_worker_stop(int)
{
    g_worker_stop = 1;
}

// Worker: creates its share, reports on `status_fd`, then holds forever.
[[noreturn]] void worker(const Config& c, int w, long leaks, long pairs, int status_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    struct sigaction sa {
    };
    sa.sa_handler = on_worker_stop;
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGINT, SIG_IGN);

    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit(RLIMIT_NOFILE)");
    long need = leaks + 2 * pairs + c.batch * 2 + 16;
    if (static_cast<long>(rl.rlim_cur) < need) {
        std::fprintf(stderr,
                     "cwt_sockfarm: worker needs %ld fds but RLIMIT_NOFILE is %lu; lower --fds-per-proc\n",
                     need, static_cast<unsigned long>(rl.rlim_cur));
        _exit(1);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in la{};
    la.sin_family = AF_INET;
    la.sin_addr.s_addr = htonl(INADDR_ANY);
    la.sin_port = htons(static_cast<uint16_t>(c.port_base + w));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&la), sizeof(la)) != 0)
        die("bind listener");
    if (listen(lfd, 4096) != 0)
        die("listen");

    std::vector<int> clients;
    clients.reserve(static_cast<size_t>(c.batch));
    long made_leaks = 0, made_pairs = 0, seq = 0;
    // Every client gets its own source (address, port), bound explicitly: the
    // kernel's ephemeral-port choice could otherwise hand a new connection the
    // 4-tuple of an earlier leak whose orphaned client end has expired, and the
    // new SYN would reset that leaked CLOSE_WAIT. Worker w uses 127.<1+w/250>.<w%250>.<1+k/50000>,
    // ports 10000-59999, so each worker has room for 12.7M connections.
    auto make_batch = [&](long n, bool leak) {
        clients.clear();
        for (long i = 0; i < n; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0)
                die("socket (client)");
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr =
                htonl((127u << 24) | (static_cast<uint32_t>(1 + w / 250) << 16) |
                      (static_cast<uint32_t>(w % 250) << 8) | static_cast<uint32_t>(1 + seq / kPortsPerAddr));
            sa.sin_port = htons(static_cast<uint16_t>(kFirstClientPort + seq % kPortsPerAddr));
            if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
                die("bind (client)");
            ++seq;
            sockaddr_in da{};
            da.sin_family = AF_INET;
            da.sin_addr.s_addr = htonl(0x7f000001u + static_cast<uint32_t>(seq % c.addrs));
            da.sin_port = la.sin_port;
            if (connect(fd, reinterpret_cast<sockaddr*>(&da), sizeof(da)) != 0)
                die("connect");
            clients.push_back(fd);
        }
        for (long i = 0; i < n; ++i) {
            int s = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
            if (s < 0)
                die("accept4");
            (void)s; // the server end is kept open on purpose
        }
        if (leak) {
            for (int fd : clients)
                close(fd); // peer FIN: the accepted end enters CLOSE_WAIT and stays there
            made_leaks += n;
        } else {
            made_pairs += n;
        }
    };
    for (long left = leaks; left > 0; left -= c.batch)
        make_batch(left < c.batch ? left : c.batch, true);
    for (long left = pairs; left > 0; left -= c.batch)
        make_batch(left < c.batch ? left : c.batch, false);

    char line[128];
    int len = std::snprintf(line, sizeof(line), "ok %d %ld %ld\n", w, made_leaks, made_pairs);
    if (write(status_fd, line, static_cast<size_t>(len)) != len)
        _exit(1);
    close(status_fd);
    while (!g_worker_stop)
        pause();
    // Abortive close (RST): no TIME_WAIT left behind to skew the next measurement.
    linger lg{1, 0};
    int maxfd = static_cast<int>(rl.rlim_cur);
    for (int fd = 3; fd < maxfd; ++fd)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    _exit(0);
}

volatile sig_atomic_t g_stop = 0;
void on_stop(int)
{
    g_stop = 1;
}

} // namespace

int main(int argc, char** argv)
{
    Config c;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> long {
            if (i + 1 >= argc)
                usage();
            return std::strtol(argv[++i], nullptr, 10);
        };
        if (a == "--leaks")
            c.leaks = next();
        else if (a == "--pairs")
            c.pairs = next();
        else if (a == "--fds-per-proc")
            c.fds_per_proc = next();
        else if (a == "--port-base")
            c.port_base = static_cast<int>(next());
        else if (a == "--addrs")
            c.addrs = static_cast<int>(next());
        else if (a == "--batch")
            c.batch = static_cast<int>(next());
        else if (a == "--stdin")
            c.stdin_control = true;
        else
            usage();
    }
    if (c.leaks < 0 || c.pairs < 0 || c.fds_per_proc < 1000 || c.addrs < 1 || c.addrs > 250 || c.batch < 1)
        usage();

    long fds = c.leaks + 2 * c.pairs;
    int workers = static_cast<int>((fds + c.fds_per_proc - 1) / c.fds_per_proc);
    if (workers < 1)
        workers = 1;

    struct sigaction sa {
    };
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    double t0 = now_s();
    int status[2];
    if (pipe(status) != 0)
        die("pipe");
    std::vector<pid_t> pids;
    for (int w = 0; w < workers; ++w) {
        long l = c.leaks / workers + (w < c.leaks % workers ? 1 : 0);
        long p = c.pairs / workers + (w < c.pairs % workers ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(status[0]);
            worker(c, w, l, p, status[1]);
        }
        pids.push_back(pid);
    }
    close(status[1]);

    // Collect one "ok" line per worker; EOF before that means a worker failed.
    std::string buf;
    int ok = 0;
    long leaks = 0, pairs = 0;
    char tmp[256];
    while (ok < workers) {
        ssize_t n = read(status[0], tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR) {
            if (g_stop)
                break;
            continue;
        }
        if (n <= 0)
            break;
        buf.append(tmp, static_cast<size_t>(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            int w = 0;
            long l = 0, p = 0;
            if (std::sscanf(buf.c_str(), "ok %d %ld %ld", &w, &l, &p) == 3) {
                ++ok;
                leaks += l;
                pairs += p;
            }
            buf.erase(0, nl + 1);
        }
    }
    int rc = 0;
    if (ok == workers) {
        std::string list;
        for (pid_t p : pids)
            list += (list.empty() ? "" : ",") + std::to_string(p);
        std::printf("ready leaks=%ld pairs=%ld sockets=%ld workers=%d pids=%s seconds=%.2f\n", leaks, pairs,
                    leaks + 2 * pairs, workers, list.c_str(), now_s() - t0);
        std::fflush(stdout);
        while (!g_stop) {
            if (c.stdin_control) {
                pollfd pfd{0, POLLIN, 0};
                if (poll(&pfd, 1, 1000) > 0) {
                    char b[64];
                    if (read(0, b, sizeof(b)) <= 0)
                        break;
                }
            } else {
                pause();
            }
        }
    } else {
        std::fprintf(stderr, "cwt_sockfarm: only %d of %d workers finished\n", ok, workers);
        rc = 1;
    }
    // SIGTERM: each worker resets its sockets (no TIME_WAIT) and exits; SIGKILL
    // whatever is still there after 10 s.
    for (pid_t p : pids)
        kill(p, SIGTERM);
    double deadline = now_s() + 10;
    size_t left = pids.size();
    while (left > 0 && now_s() < deadline) {
        pid_t r = waitpid(-1, nullptr, WNOHANG);
        if (r > 0)
            --left;
        else
            usleep(20000);
    }
    if (left > 0) {
        for (pid_t p : pids)
            kill(p, SIGKILL);
        while (waitpid(-1, nullptr, 0) > 0) {
        }
    }
    return rc;
}
