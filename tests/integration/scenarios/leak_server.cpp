// cwt_leak_srv: a server that accepts connections and never closes (or reads)
// them, so each one sits in CLOSE_WAIT once its peer closes.
//   --addr A --port P --backlog B   listening address (port 0: kernel picks)
//   --accept N                      stop calling accept() after N (-1: never stop);
//                                   later connections stay in the accept queue
//   --dup 1                         dup() every accepted fd: two fds, one socket
//   --lifetime S                    exit after S seconds (default 30)
// Prints: PID, LISTEN, one "ACCEPT fd= local= remote=" per connection, and
// "DUP fd= of=" per dup, "STOPPED_ACCEPTING n=" when the --accept budget is
// used up.
#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    int lfd = scn::listen_from_opts(16);
    long budget = scn::opt_int("accept", -1);
    bool dup_each = scn::opt_int("dup", 0) != 0;
    long n = 0;
    while (budget < 0 || n < budget) {
        int fd = accept(lfd, nullptr, nullptr);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            scn::die("accept");
        }
        ++n;
        std::printf("ACCEPT fd=%d local=%s remote=%s\n", fd, scn::local_of(fd).c_str(),
                    scn::remote_of(fd).c_str());
        if (dup_each) {
            int d = dup(fd);
            if (d < 0)
                scn::die("dup");
            std::printf("DUP fd=%d of=%d\n", d, fd);
        }
    }
    std::printf("STOPPED_ACCEPTING n=%ld\n", n);
    scn::idle_forever();
}
