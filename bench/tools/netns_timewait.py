#!/usr/bin/env python3
"""Fills network namespaces with TIME_WAIT sockets, one process for all of them.

    netns_timewait.py PORT NS...   (namespaces by `ip netns` name)

In each namespace: a listener on 127.0.0.1:PORT (kept open: the namespace has
a listener whose queue the tracer checks), then CWT_TW connections (default
1000) that the client closes first, so each leaves a TIME_WAIT (60 s). Enters
each namespace with setns(2) (ctypes: os.setns is Python 3.12+). Prints
"ready" when done, then holds the listeners until stdin closes.
"""
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns " + ns + ": " + os.strerror(e))
    finally:
        os.close(fd)


def main():
    port = int(sys.argv[1])
    count = int(os.environ.get("CWT_TW", "1000"))
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    listeners = []
    for ns in sys.argv[2:]:
        enter(ns)
        lsn = socket.socket()
        lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsn.bind(("127.0.0.1", port))
        lsn.listen(128)
        for _ in range(count):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = lsn.accept()
            c.close()  # the active closer keeps the TIME_WAIT
            s.close()
        listeners.append(lsn)
    libc.setns(home, CLONE_NEWNET)
    print("ready", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
