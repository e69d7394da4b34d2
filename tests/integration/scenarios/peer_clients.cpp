// cwt_peer_cli: opens --count connections to --addr:--port, optionally writes
// --send bytes on each, then waits for commands on stdin:
//   "close"  closes every connection (prints "CLOSED n=")
// With --close-after-ms N it closes every connection by itself N ms after the
// last one connected, without waiting for a command.
// It exits on stdin EOF or after --lifetime seconds.
// Prints: PID, one "CONNECT fd= local= remote=" per connection, "CONNECTED n=".
#include <string>
#include <vector>

#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    long count = scn::opt_int("count", 1);
    std::string payload = scn::opt("send", "");
    std::vector<int> fds;
    for (long i = 0; i < count; ++i) {
        int fd = scn::connect_from_opts();
        if (!payload.empty() && !scn::write_all(fd, payload.data(), payload.size()))
            scn::die("write");
        fds.push_back(fd);
        std::printf("CONNECT fd=%d local=%s remote=%s\n", fd, scn::local_of(fd).c_str(),
                    scn::remote_of(fd).c_str());
    }
    std::printf("CONNECTED n=%zu\n", fds.size());
    long close_after_ms = scn::opt_int("close-after-ms", -1);
    if (close_after_ms >= 0) {
        usleep(static_cast<useconds_t>(close_after_ms) * 1000);
        for (int fd : fds)
            close(fd);
        std::printf("CLOSED n=%zu\n", fds.size());
        fds.clear();
    }
    char line[256];
    while (std::fgets(line, sizeof(line), stdin)) {
        if (std::strncmp(line, "close", 5) == 0) {
            for (int fd : fds)
                close(fd);
            std::printf("CLOSED n=%zu\n", fds.size());
            fds.clear();
        }
    }
    return 0;
}
