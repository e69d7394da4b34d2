// cwt_leak_srv: a server that accepts connections and never closes (or reads)
// them, so each one sits in CLOSE_WAIT once its peer closes.
//   --addr A --port P --backlog B   listening address (port 0: kernel picks)
//   --accept N                      stop calling accept() after N (-1: never stop);
//                                   later connections stay in the accept queue
//   --dup 1                         dup() every accepted fd: two fds, one socket
//   --share fork                    fork a child per accepted fd that holds it too
//   --share scm                     pass every accepted fd over SCM_RIGHTS to a
//                                   receiver child that holds it too
//   --thread 1                      start a second thread that prints "THREAD tid="
//   --lifetime S                    exit after S seconds (default 30)
// Prints: PID, LISTEN, one "ACCEPT fd= local= remote=" per connection, and
// "DUP fd= of=" per dup, "SHARED pid= fd= of=" per fd a child holds,
// "STOPPED_ACCEPTING n=" when the --accept budget is used up.
#include <sys/syscall.h>
#include <sys/wait.h>

#include <thread>

#include "scenario_common.hpp"
#include "scm_rights.hpp"

namespace
{

// The receiver of --share scm: holds every fd it is sent.
[[noreturn]] void scm_receiver(int chan)
{
    for (;;) {
        char data;
        iovec iov{&data, 1};
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof(ctrl);
        if (recvmsg(chan, &msg, 0) <= 0)
            std::_Exit(0);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        int fd = -1;
        if (c && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        std::printf("SHARED pid=%d fd=%d of=%c\n", static_cast<int>(getpid()), fd, data);
    }
}

void scm_send(int chan, int fd)
{
    if (!scn::send_fd(chan, fd))
        scn::die("sendmsg");
}

} // namespace

int main(int argc, char** argv)
{
    scn::init(argc, argv);
    int lfd = scn::listen_from_opts(16);
    if (scn::opt_int("thread", 0)) {
        std::thread([] {
            std::printf("THREAD tid=%ld\n", static_cast<long>(syscall(SYS_gettid)));
            scn::idle_forever();
        }).detach();
    }
    long budget = scn::opt_int("accept", -1);
    bool dup_each = scn::opt_int("dup", 0) != 0;
    std::string share = scn::opt("share", "");
    int chan = -1;
    if (share == "scm") {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
            scn::die("socketpair");
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(sv[0]);
            close(lfd);
            scm_receiver(sv[1]);
        }
        close(sv[1]);
        chan = sv[0];
    }
    long n = 0;
    while (budget < 0 || n < budget) {
        int fd = scn::accept_or_die(lfd);
        ++n;
        std::printf("ACCEPT fd=%d local=%s remote=%s\n", fd, scn::local_of(fd).c_str(),
                    scn::remote_of(fd).c_str());
        if (dup_each) {
            int d = dup(fd);
            if (d < 0)
                scn::die("dup");
            std::printf("DUP fd=%d of=%d\n", d, fd);
        }
        if (share == "fork") {
            pid_t child = fork();
            if (child == 0) {
                // Holds only this connection (and stdio), inherited through fork.
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (int other = 3; other < 1024; ++other)
                    if (other != fd)
                        close(other);
                std::printf("SHARED pid=%d fd=%d of=%d\n", static_cast<int>(getpid()), fd, fd);
                scn::idle_forever();
            }
        } else if (share == "scm") {
            scm_send(chan, fd);
        }
    }
    std::printf("STOPPED_ACCEPTING n=%ld\n", n);
    scn::idle_forever();
}
