#!/usr/bin/env python3
"""User-space instructions per forwarded request, counted by valgrind (callgrind): the A/B
figure this VM's noise cannot move.

CPU time per request on this shared VM moves by 20-50 % between runs of the same binary (see
the spread tables of run.py), more than most single changes are worth. An instruction count
is the same from run to run, so two builds can be compared on one run each. It counts
instructions, not cycles: cache misses, atomics' cost and the kernel are not in it, so it
ranks changes to the proxy's own work and says nothing of the kernel's share.

For each build: the proxy runs under callgrind against the nginx upstream, serves a warm-up
and then N keep-alive requests over C connections (or 2N in a second process); the
difference of the two processes' totals divided by N is the per-request count, so start-up
and shutdown cancel out.

With --h2c the requests are HTTP/2 over cleartext (h2load, 10 streams at a time on each
connection): the figure for HTTP/2 streams, which forward through the shared upstream pool.

Usage: instructions.py [--requests N] [--connections C] [--invalid] [--h2c] NAME=BINARY...
(NAME nginx or haproxy: that peer, as the load benchmark configures it.)
"""

import argparse
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the load benchmark's peers and helpers)

VALUES = ("instructions-value-one-0123456789abcdef", "instructions-value-two-0123456789abcdef")


def load(port, header, requests, connections, expect=None):
    """`requests` keep-alive GETs spread over `connections` raw sockets, each answered in full;
    with `expect`, every answer must have that status (the warm-up may see 503s while the
    proxy, slowed down by valgrind, is still loading its values)."""
    head = (f"GET / HTTP/1.1\r\nHost: bench\r\n{run.HEADER}: {header}\r\n\r\n").encode()
    errors = []

    def client(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                buf = b""
                for _ in range(count):
                    s.sendall(head)
                    while True:
                        end = buf.find(b"\r\n\r\n")
                        if end >= 0:
                            fields = buf[:end].lower()
                            length = int(fields.split(b"content-length:")[1].split(b"\r\n")[0])
                            status = int(fields[9:12])
                            if expect is not None and status != expect:
                                raise RuntimeError(f"status {status}, not {expect}")
                            if len(buf) >= end + 4 + length:
                                buf = buf[end + 4 + length:]
                                break
                        chunk = s.recv(65536)
                        if not chunk:
                            raise RuntimeError("connection closed")
                        buf += chunk
        except Exception as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=client, args=(requests // connections,)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"load failed: {errors[0]}")


def h2_load(port, header, requests, connections, expect=None):
    """`requests` HTTP/2 GETs by h2load over `connections` connections, 10 streams at a time
    on each; with `expect`, every answer must have that status."""
    cmd = ["h2load", f"-n{requests}", f"-c{connections}", "-m10", "-H", f"{run.HEADER}: {header}",
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not codes:
        raise RuntimeError(f"h2load printed no status codes:\n{out}")
    two, _, four, _ = (int(c) for c in codes.groups())
    if expect is not None and {200: two, 403: four}[expect] != requests:
        raise RuntimeError(f"h2load: {codes.group(0)}, expected {requests} of {expect}")


def total_instructions(peer, upstream_port, work, header, warmup, requests, connections, h2c=False):
    """Instructions the peer's processes executed in their whole lives, serving warm-up +
    `requests`."""
    port = run.free_port()
    cmd, env, conf = peer.command(port, upstream_port, VALUES)
    if peer.name == "nginx":
        # One process: the worker's own loop in the master's place (a forked worker's
        # counts could be written after the master is waited for).
        conf_file = conf / "nginx.conf"
        conf_file.write_text("master_process off;\n" + conf_file.read_text())
    out = conf / "callgrind"
    out.mkdir()
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/%p", "--dump-line=no"] + cmd
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(conf / "stderr.log", "w"))
    try:
        run.wait_port(port, proc, limit=120.0)
        drive = h2_load if h2c else load
        drive(port, header, warmup, connections)
        drive(port, header, requests, connections, expect=403 if header == "not-the-value" else 200)
        # nginx without a master process can miss SIGTERM while idle under valgrind; a
        # second signal ends it (both are its "fast shutdown").
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    total = 0
    for f in out.iterdir():
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                total += int(line.split()[1])
                break
    if not total:
        raise RuntimeError(f"no totals in {out}")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--invalid", action="store_true", help="a wrong value: count the 403 path")
    ap.add_argument("--h2c", action="store_true", help="HTTP/2 over cleartext (h2load -m10)")
    ap.add_argument("builds", nargs="+", metavar="NAME=BINARY")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    header = "not-the-value" if args.invalid else VALUES[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        upstream_port = run.free_port()
        upstream = run.Peer("upstream", shutil.which("nginx"), work).start(upstream_port, 0, VALUES, cpu=1)
        try:
            print(f"| build | instructions per {'rejected' if args.invalid else 'forwarded'}"
                  f"{' HTTP/2' if args.h2c else ''} request ({args.requests} over {args.connections} connections) |")
            print("|---|---|")
            for build in args.builds:
                # BINARY may carry flags: "fast=path/to/edgeguard-proxy --h1-fast-path on".
                name, binary = build.split("=", 1)
                # NAME=BINARY is a build of edgeguard-proxy; nginx=… and haproxy=… the peers,
                # with the load benchmark's configurations.
                kind = name if name in ("nginx", "haproxy") else "edgeguard"
                peer = run.Peer(kind, shutil.which(binary) or binary, work)
                one, two = (total_instructions(peer, upstream_port, work, header, 200, n, args.connections,
                                               args.h2c)
                            for n in (args.requests, 2 * args.requests))
                print(f"| {name} | {(two - one) / args.requests:,.0f} |", flush=True)
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
