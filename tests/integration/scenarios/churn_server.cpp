// cwt_churn_srv: a correct request/response server. Per connection it reads
// one request line "<mode> ...\n", answers "OK\n", then
//   mode 's': closes at once (server closes first);
//   mode 'c': reads to EOF, then closes (client closes first).
//   --addr A --port P --backlog B --lifetime S
// Prints: PID, LISTEN, and "SERVED total=" every 500 connections.
#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    int lfd = scn::listen_from_opts(512);
    long total = 0;
    for (;;) {
        int fd = scn::accept_or_die(lfd);
        char req[128];
        size_t have = 0;
        bool ok = false;
        while (have < sizeof(req)) {
            ssize_t r = read(fd, req + have, sizeof(req) - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            have += static_cast<size_t>(r);
            if (req[have - 1] == '\n') {
                ok = true;
                break;
            }
        }
        if (ok) {
            scn::write_all(fd, "OK\n", 3);
            if (req[0] == 'c')
                scn::read_to_eof(fd);
        }
        close(fd);
        if (++total % 500 == 0)
            std::printf("SERVED total=%ld\n", total);
    }
}
