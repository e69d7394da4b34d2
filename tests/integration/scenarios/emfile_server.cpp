// cwt_emfile_srv: a server under a tiny RLIMIT_NOFILE that accepts and holds
// every connection. Once out of fds, accept4() fails with EMFILE; like nginx,
// it logs each failure and retries after a short pause.
//   --addr A --port P --nofile N --lifetime S
// Prints: PID, LISTEN, then "EMFILE count=N" (running total) on each failure,
// and "HELD n=N" each time it holds a new connection.
#include <poll.h>

#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    scn::limit_nofile_from_opts();
    int lfd = scn::listen_from_opts(128);
    long emfile = 0, held = 0;
    for (;;) {
        pollfd p{lfd, POLLIN, 0};
        poll(&p, 1, 1000);
        int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
            std::printf("HELD n=%ld fd=%d\n", ++held, c);
            continue;
        }
        if (errno == EMFILE) {
            std::printf("EMFILE count=%ld\n", ++emfile);
            usleep(20000); // nginx retries about every 500 ms; keep tests short
        }
    }
}
