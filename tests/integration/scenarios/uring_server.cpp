// cwt_uring_srv: like cwt_emfile_srv, but accepts through io_uring, so its
// EMFILE failures never pass through an accept syscall.
//   --addr A --port P --nofile N --lifetime S
// Prints: PID, LISTEN, "HELD n= fd=" per connection, "EMFILE count=N" per failure.
#include <liburing.h>

#include "scenario_common.hpp"

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) < 0)
        scn::die("io_uring_queue_init");
    scn::limit_nofile_from_opts();
    int lfd = scn::listen_from_opts(128);
    long emfile = 0, held = 0;
    for (;;) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_accept(sqe, lfd, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_submit(&ring);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring, &cqe) < 0)
            continue;
        int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        if (res >= 0) {
            std::printf("HELD n=%ld fd=%d\n", ++held, res);
        } else if (res == -EMFILE) {
            std::printf("EMFILE count=%ld\n", ++emfile);
            usleep(20000);
        }
    }
}
