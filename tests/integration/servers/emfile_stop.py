#!/usr/bin/env python3
"""A Python server that logs EMFILE and stops accepting (it never retries).

Usage: emfile_stop.py PORT NOFILE LIFETIME_S
Prints: "PID pid=N", "LISTEN port=P", "HELD n=N" per accepted connection,
"EMFILE count=1" once, then idles with its queue filling up.
"""
import errno, os, resource, socket, sys, time

port, nofile, lifetime = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.time() + lifetime
print(f"PID pid={os.getpid()}", flush=True)
resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
print(f"LISTEN port={port}", flush=True)
held = []
s.settimeout(0.2)
while time.time() < deadline:
    try:
        c, _ = s.accept()
        held.append(c)
        print(f"HELD n={len(held)}", flush=True)
    except socket.timeout:
        continue
    except OSError as e:
        if e.errno == errno.EMFILE:
            print("EMFILE count=1", flush=True)
            break
while time.time() < deadline:
    time.sleep(0.2)
