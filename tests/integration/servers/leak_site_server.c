/*
 * Test server for the leak-site report: one code path reads EOF and forgets
 * close() (handle_leaky), the other reads EOF and closes (handle_healthy).
 * The test suite builds it with -g; the report must name handle_leaky and the
 * line of its EOF read, and never handle_healthy.
 *
 *   cwt_leaksite_srv [--lifetime S]   prints "port N" and "ready", then serves:
 *     a client whose first byte is 'L' takes the leaky path, 'A' is kept
 *     without ever being read (only its accept() names it), any other takes
 *     the healthy path. Exits after S seconds (default 30).
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int leaked;

/* Reads until the peer closes, then returns: the socket stays in CLOSE_WAIT. */
__attribute__((noinline)) static void handle_leaky(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf)); /* LEAK_SITE_LINE */
        if (n <= 0)
            break;
    }
    leaked++; /* forgot close(fd) */
}

/* Reads until the peer closes, then closes. */
__attribute__((noinline)) static void handle_healthy(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf)); /* HEALTHY_LINE */
        if (n <= 0)
            break;
    }
    close(fd);
}

int main(int argc, char** argv)
{
    unsigned lifetime = 30;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--lifetime"))
            lifetime = (unsigned)atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    alarm(lifetime);
    /* Thousands of leaks: as many fds as the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(lfd, (struct sockaddr*)&a, sizeof(a)) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr*)&a, &len)) {
        perror("listen");
        return 1;
    }
    printf("port %u\nready\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL); /* ACCEPT_LINE */
        if (fd < 0)
            continue;
        char first = 0;
        if (recv(fd, &first, 1, MSG_PEEK) < 0) {
            close(fd);
            continue;
        }
        if (first == 'L')
            handle_leaky(fd);
        else if (first == 'A')
            leaked++; /* never read, never closed */
        else
            handle_healthy(fd);
    }
}
