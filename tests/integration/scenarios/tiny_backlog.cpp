// cwt_tiny_lsn: a listener with a tiny backlog that never accepts, for
// accept-queue overflows. Same options as cwt_stuck_lsn (--backlog defaults to 1).
// Prints: PID, LISTEN.
#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    scn::listen_from_opts(1);
    std::printf("IDLE\n");
    scn::idle_forever();
}
