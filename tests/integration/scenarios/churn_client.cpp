// cwt_churn_cli: --count sequential connect/request/response/close cycles
// against cwt_churn_srv, alternating who closes first ('c' client, 's' server);
// both sides always close.
//   --addr A --port P --count N --lifetime S
// Prints: PID, "DONE n= client_first= server_first= ms=".
#include <chrono>

#include "scenario_common.hpp"

static bool read_line(int fd)
{
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        if (c == '\n')
            return true;
    }
}

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    long count = scn::opt_int("count", 1000);
    long client_first = 0, server_first = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i) {
        int fd = scn::connect_from_opts();
        bool cf = (i % 2) == 0;
        const char* req = cf ? "c request\n" : "s request\n";
        if (!scn::write_all(fd, req, 10))
            scn::die("write");
        if (!read_line(fd))
            scn::die("read response");
        if (!cf)
            scn::read_to_eof(fd); // server closes first; then we close
        close(fd);
        ++(cf ? client_first : server_first);
    }
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::printf("DONE n=%ld client_first=%ld server_first=%ld ms=%lld\n", count, client_first, server_first,
                static_cast<long long>(ms));
    return 0;
}
