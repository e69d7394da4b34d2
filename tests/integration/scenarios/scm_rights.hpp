// Passing an fd over a unix socket (SCM_RIGHTS), for the scenario programs
// and the tests that need a socket held by no fd table.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

namespace scn {

// Sends `fd` with one byte of data over `chan`; false if sendmsg failed.
inline bool send_fd(int chan, int fd)
{
    char data = 'x';
    iovec iov{&data, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    return sendmsg(chan, &msg, 0) == 1;
}

} // namespace scn
