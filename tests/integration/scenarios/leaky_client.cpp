// cwt_leaky_cli: an outbound client that opens --count connections to
// --addr:--port, reads each to EOF (the server closes first) and then never
// closes its side, so each connection sits in CLOSE_WAIT here.
//   --addr A --port P --count N --lifetime S
// Prints: PID, "CONNECT fd= local= remote=", "EOF fd= bytes=", "ALL_EOF n=".
#include <vector>

#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    long count = scn::opt_int("count", 1);
    std::vector<int> fds;
    for (long i = 0; i < count; ++i) {
        int fd = scn::connect_from_opts();
        fds.push_back(fd);
        std::printf("CONNECT fd=%d local=%s remote=%s\n", fd, scn::local_of(fd).c_str(),
                    scn::remote_of(fd).c_str());
    }
    for (int fd : fds) {
        long got = scn::read_to_eof(fd);
        if (got < 0)
            scn::die("read");
        std::printf("EOF fd=%d bytes=%ld\n", fd, got);
    }
    std::printf("ALL_EOF n=%zu\n", fds.size());
    scn::idle_forever(); // the leak: the fds are never closed
}
