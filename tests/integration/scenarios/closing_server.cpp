// cwt_closing_srv: accepts connections, writes "bye\n" and closes each at
// once (the server closes first).
//   --addr A --port P --backlog B --lifetime S
// Prints: PID, LISTEN, "SERVED fd= remote=" per connection.
#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    int lfd = scn::listen_from_opts(64);
    for (;;) {
        int fd = scn::accept_or_die(lfd);
        std::string remote = scn::remote_of(fd);
        scn::write_all(fd, "bye\n", 4);
        close(fd);
        std::printf("SERVED fd=%d remote=%s\n", fd, remote.c_str());
    }
}
