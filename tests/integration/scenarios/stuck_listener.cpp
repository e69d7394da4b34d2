// cwt_stuck_lsn: a listener that never calls accept(). Connections complete
// the handshake in the kernel and wait in the accept queue; when their clients
// close, they become process-less CLOSE_WAITs.
//   --addr A --port P --backlog B (default 16) --lifetime S
//   --reuseport 1   SO_REUSEPORT: several of them can share one port
// Prints: PID, LISTEN.
#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    scn::listen_from_opts(16);
    std::printf("IDLE\n");
    scn::idle_forever();
}
