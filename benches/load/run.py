#!/usr/bin/env python3
"""The load benchmark: edgeguard-proxy beside nginx, HAProxy, Envoy and Caddy doing the same job.

Every peer is configured for the same job (peers/): two accepted values of x-origin-verify,
403 otherwise, the header stripped, a keep-alive pool to the upstream. Each is checked
before it is loaded (both values 200; wrong, missing, upper-cased, comma-joined, duplicate
403 where the peer can; the upstream never sees the header). The upstream is nginx
answering `return 200`. The proxy under test is pinned to CPU 0 with one worker; wrk and
the upstream to CPU 1, so the comparison is of the proxies, not of the scheduler.

Figures: requests/s, p50/p99 latency (wrk), ratio to direct, and proxy CPU microseconds
per request from /proc (user + system time of the proxy's processes / requests served),
the steadiest figure on a shared machine. Medians of --runs runs; VM steal reported.

Run by scripts/bench (which installs the peers); writes target/bench/load.{md,json}.
"""

import argparse
import asyncio
import datetime
import http.client
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
HEADER = "x-origin-verify"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit=20.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {limit} s")


def tree(pid):
    """pid and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    """(user, system) CPU seconds of pid and its descendants."""
    user = system = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
        except OSError:
            pass
    return user / TICK, system / TICK


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def steal_ticks():
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]), sum(int(f) for f in fields[1:])


def taskset(cpu, cmd):
    return ["taskset", "-c", str(cpu)] + cmd if shutil.which("taskset") else cmd


def edgeguard_command(binary, port, upstream_port, values, conf, tls=False, unix=None):
    """edgeguard-proxy doing the peers' job, with its two values in a file under `conf`."""
    (conf / "secrets").write_text(f"{values[0]}\n{values[1]}\n")
    return [
        binary, "--listen", f"127.0.0.1:{port}",
        "--upstream", f"unix:{unix}" if unix else f"http://127.0.0.1:{upstream_port}",
        "--secret-source", f"file:{conf / 'secrets'}",
        "--admin-listen", f"127.0.0.1:{free_port()}",
        "--worker-threads", "1", "--log-format", "text",
    ] + (["--tls-self-signed"] if tls else [])


class Peer:
    """One proxy under test: renders its configuration and starts it pinned to CPU 0."""

    def __init__(self, name, binary, work):
        # An edgeguard build may come with flags: "path/to/edgeguard-proxy --h1-fast-path on".
        binary, *self.args = binary.split()
        self.name, self.binary, self.work = name, binary, work
        self.proc = None

    def start(self, port, upstream_port, values, cpu, tls=False, unix=None):
        self.port = port
        cmd, env, conf = self.command(port, upstream_port, values, tls, unix)
        self.proc = subprocess.Popen(taskset(cpu, cmd), env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(conf / "stderr.log", "w"))
        try:
            wait_port(port, self.proc)
        except RuntimeError as e:
            self.stop()
            log = (conf / "stderr.log").read_text()[-2000:]
            raise RuntimeError(f"{self.name}: {e}\n{log}") from None
        return self

    def command(self, port, upstream_port, values, tls=False, unix=None):
        """The peer's command line and environment, and its configuration directory."""
        conf = self.work / f"{self.name}-{port}"
        conf.mkdir(parents=True, exist_ok=True)
        v1, v2 = values
        subst = {
            "PORT": str(port),
            "UPSTREAM_PORT": str(upstream_port),
            "VALUE1": v1,
            "VALUE2": v2,
            "WORK": str(conf),
        }

        def render(template, target):
            text = (PEERS_DIR / template).read_text()
            for k, v in subst.items():
                text = text.replace("{{" + k + "}}", v)
            (conf / target).write_text(text)
            return conf / target

        env = dict(os.environ)
        if self.name == "edgeguard":
            cmd = edgeguard_command(self.binary, port, upstream_port, values, conf, tls, unix) + self.args
            env["EDGEGUARD_LOG"] = "warn"
        elif self.name == "nginx":
            cmd = [self.binary, "-c", str(render("nginx.conf", "nginx.conf")), "-p", str(conf)]
        elif self.name == "haproxy":
            cmd = [self.binary, "-f", str(render("haproxy.cfg", "haproxy.cfg")), "-db"]
        elif self.name == "envoy":
            cmd = [self.binary, "-c", str(render("envoy.yaml", "envoy.yaml")),
                   "--concurrency", "1", "-l", "error", "--base-id", str(port)]
        elif self.name == "caddy":
            cmd = [self.binary, "run", "--config", str(render("Caddyfile", "Caddyfile")),
                   "--adapter", "caddyfile"]
            env["GOMAXPROCS"] = "1"
            env["XDG_DATA_HOME"] = str(conf)
            env["XDG_CONFIG_HOME"] = str(conf)
        elif self.name == "upstream":
            cmd = [self.binary, "-c", str(render("upstream.conf", "upstream.conf")), "-p", str(conf)]
        else:
            raise ValueError(self.name)
        return cmd, env, conf

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Recorder(http.server.BaseHTTPRequestHandler):
    """The upstream during the checks: answers 200 and records whether the header arrived."""
    protocol_version = "HTTP/1.1"
    seen_header = []

    def do_GET(self):
        Recorder.seen_header.append(self.headers.get(HEADER) is not None)
        self.send_response(200)
        self.send_header("content-length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def raw_status(port, fields):
    """Sends a GET with exactly these header fields; returns the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/check")
        for k, v in fields:
            conn.putheader(k, v)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def check(peer, values, work):
    """The same job, checked: returns {case: status} and whether the upstream saw the header."""
    v1, v2 = values
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.seen_header = []
    port = free_port()
    p = Peer(peer.name, peer.binary, work).start(port, server.server_address[1], values, cpu=0)
    try:
        cases = {
            "value 1": [(HEADER, v1)],
            "value 2": [(HEADER, v2)],
            "wrong": [(HEADER, v1[:-1] + ("A" if v1[-1] != "A" else "B"))],
            "missing": [],
            "upper-cased": [(HEADER, v1.upper())],
            "comma-joined": [(HEADER, f"{v1},{v2}")],
            "duplicate": [(HEADER, v1), (HEADER, v1)],
        }
        got = {name: raw_status(port, fields) for name, fields in cases.items()}
    finally:
        p.stop()
        server.shutdown()
    return got, any(Recorder.seen_header)


# wrk's load threads (`--threads`), all on CPU 1: the load shapes are -t1 and -t2.
WRK_THREADS = 1


def wrk(port, header, seconds, connections, scheme="http"):
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if header:
        cmd += ["-H", f"{HEADER}: {header}"]
    out = subprocess.run(taskset(1, cmd + [f"{scheme}://127.0.0.1:{port}/"]), capture_output=True,
                         text=True, check=True).stdout

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_us": latency(50),
        "p99_us": latency(99),
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def h2load(port, header, seconds, connections):
    cmd = ["h2load", "-t1", f"-c{connections}", "-m10", f"-D{seconds}", "-H", f"{HEADER}: {header}",
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(taskset(1, cmd), capture_output=True, text=True, check=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    mean_us = float(mean.group(1)) * {"us": 1, "ms": 1000, "s": 1_000_000}[mean.group(2)]
    return {"rps": rps, "mean_us": mean_us, "requests": int(done.group(1)),
            "non2xx": int(done.group(1)) - int(done.group(2)), "p50_us": None, "p99_us": None}


def measure(pid, run):
    """One load run with the proxy's CPU time and the machine's steal around it."""
    (user0, sys0), (steal0, all0) = cpu_seconds(pid) if pid else (0, 0), steal_ticks()
    result = run()
    (user1, sys1), (steal1, all1) = cpu_seconds(pid) if pid else (0, 0), steal_ticks()
    per_request = 1e6 / result["requests"]
    result["cpu_us_per_req"] = (user1 - user0 + sys1 - sys0) * per_request if pid else None
    # The user-space share: the proxy's own work. The rest is the kernel's TCP path, which
    # every peer pays alike for the same four segments per request.
    result["user_us_per_req"] = (user1 - user0) * per_request if pid else None
    result["steal_pct"] = 100 * (steal1 - steal0) / max(1, all1 - all0)
    result["rss_kib"] = rss_kib(pid) if pid else None
    return result


def median_of(runs):
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r[key], (int, float))]
        out[key] = statistics.median(values) if values else runs[0][key]
    out["runs"] = len(runs)
    return out


async def hold_connections(port, header, count, requests):
    """Opens `count` keep-alive connections, `requests` valid requests each, and keeps them
    open."""
    conns = []
    request = (f"GET / HTTP/1.1\r\nHost: bench\r\n{HEADER}: {header}\r\n\r\n").encode()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(requests):
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
        conns.append(writer)
    return conns


def idle_memory(peer_bin, work, upstream_port, values, counts):
    """RSS of edgeguard holding N idle keep-alive connections, for each N: after one
    request each, and (for the first N) after two, when each holds its own upstream
    connection (the app's side of which is not counted)."""
    out = {}
    for count, requests in [(n, 1) for n in counts] + [(counts[0], 2)]:
        port = free_port()
        p = Peer("edgeguard", peer_bin, work).start(port, upstream_port, values, cpu=0)
        try:
            before = rss_kib(p.proc.pid)
            loop = asyncio.new_event_loop()
            conns = loop.run_until_complete(hold_connections(port, values[0], count, requests))
            time.sleep(0.5)
            after = rss_kib(p.proc.pid)
            for w in conns:
                w.close()
            loop.close()
        finally:
            p.stop()
        out[f"{count}x{requests}"] = {"connections": count, "requests": requests,
                                      "rss_before_kib": before, "rss_kib": after,
                                      "bytes_per_connection": (after - before) * 1024 / count}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk load threads (-tN), on CPU 1")
    ap.add_argument("--peers", default="edgeguard,nginx,haproxy,envoy,caddy")
    ap.add_argument("--edgeguard", default=str(ROOT / "target/release/edgeguard-proxy"))
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--caddy", required=True)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                    help="another build of edgeguard-proxy (e.g. another allocator), loaded "
                         "with the valid case in the same interleaved runs")
    ap.add_argument("--idle", default="1000,10000", help="idle connection counts for memory")
    args = ap.parse_args()
    global WRK_THREADS
    WRK_THREADS = args.threads

    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    binaries = {"edgeguard": args.edgeguard, "nginx": shutil.which("nginx"),
                "haproxy": shutil.which("haproxy"), "envoy": args.envoy, "caddy": args.caddy}
    values = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    work = Path(tempfile.mkdtemp(prefix="edgeguard-bench-"))
    names = args.peers.split(",")
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.node()}: {os.cpu_count()} CPUs, "
                          f"{Path('/proc/cpuinfo').read_text().split('model name')[1].split(':')[1].splitlines()[0].strip()}",
               "command": "scripts/bench " + " ".join(sys.argv[1:]),
               "seconds": args.seconds, "runs": args.runs, "connections": args.connections,
               "threads": args.threads,
               "checks": {}, "load": {}, "edgeguard_extra": {}}

    try:
        run_all(args, binaries, values, work, names, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out_dir = ROOT / "target" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "load.json").write_text(json.dumps(results, indent=2))
    table = render(results)
    (out_dir / "load.md").write_text(table)
    print(table)


def run_all(args, binaries, values, work, names, results):
    print("== checks (same job for every peer)", flush=True)
    for name in names:
        got, leaked = check(Peer(name, binaries[name], work), values, work)
        results["checks"][name] = {"statuses": got, "upstream_saw_header": leaked}
        print(f"{name:10} {got} header reached upstream: {leaked}", flush=True)
        assert got["value 1"] == 200 and got["value 2"] == 200, f"{name}: valid values rejected"
        assert got["wrong"] == 403 and got["missing"] == 403, f"{name}: bad values accepted"
        assert not leaked, f"{name}: the upstream saw the header"

    upstream_port = free_port()
    upstream = Peer("upstream", shutil.which("nginx"), work).start(upstream_port, 0, values, cpu=1)
    started = []
    try:
        # Every peer runs at once (the idle ones cost nothing), and the runs go round the
        # peers: run 1 of each, then run 2 of each... A slow patch of the shared machine
        # then touches every peer alike instead of all the runs of one.
        loads = [("direct", "valid", None,
                  lambda: wrk(upstream_port, values[0], args.seconds, args.connections))]
        for name in names:
            p = Peer(name, binaries[name], work).start(free_port(), upstream_port, values, cpu=0)
            started.append(p)
            for case, header in (("valid", values[0]), ("invalid", "not-the-value")):
                loads.append((name, case, p, lambda port=p.port, h=header:
                              wrk(port, h, args.seconds, args.connections)))
        if "edgeguard" in names:
            tls = Peer("edgeguard", binaries["edgeguard"], work).start(
                free_port(), upstream_port, values, cpu=0, tls=True)
            started.append(tls)
            loads.append(("edgeguard", "valid, TLS", tls, lambda: wrk(
                tls.port, values[0], args.seconds, args.connections, scheme="https")))
            sock = work / f"upstream-{upstream_port}" / "upstream.sock"
            unix = Peer("edgeguard", binaries["edgeguard"], work).start(
                free_port(), upstream_port, values, cpu=0, unix=sock)
            started.append(unix)
            loads.append(("edgeguard", "valid, unix upstream", unix, lambda: wrk(
                unix.port, values[0], args.seconds, args.connections)))
            for variant in args.variant:
                label, path = variant.split("=", 1)
                v = Peer("edgeguard", path, work).start(free_port(), upstream_port, values, cpu=0)
                started.append(v)
                loads.append(("edgeguard", f"valid, {label}", v, lambda v=v: wrk(
                    v.port, values[0], args.seconds, args.connections)))
            h2 = Peer("edgeguard", binaries["edgeguard"], work).start(
                free_port(), upstream_port, values, cpu=0)
            started.append(h2)
            loads.append(("edgeguard", "valid, h2c (h2load -m10)", h2, lambda: h2load(
                h2.port, values[0], args.seconds, args.connections)))
        runs = {(name, case): [] for name, case, _, _ in loads}
        for i in range(args.runs):
            for name, case, p, load in loads:
                print(f"== run {i + 1}/{args.runs}: {name} {case}", flush=True)
                if i == 0:
                    # Warm-up: pools, caches. Short runs, not measured.
                    load_for(load, args, 2)
                runs[(name, case)].append(measure(p.proc.pid if p else None, load))
        # Every run's figures too: the ratios within each run, and their spread.
        results["per_run"] = {f"{name}|{case}": rs for (name, case), rs in runs.items()}
        for (name, case), rs in runs.items():
            if case.startswith("valid, "):
                results["edgeguard_extra"][case] = median_of(rs)
            else:
                results["load"].setdefault(name, {})[case] = median_of(rs)
        for p in started:
            p.stop()
        started.clear()
        if "edgeguard" in names:
            print("== edgeguard idle keep-alive connections", flush=True)
            results["edgeguard_extra"]["idle"] = idle_memory(
                binaries["edgeguard"], work, upstream_port, values,
                [int(n) for n in args.idle.split(",")])
    finally:
        for p in started:
            p.stop()
        upstream.stop()


def load_for(load, args, seconds):
    """Runs `load` for `seconds` instead of the measured length (the warm-up)."""
    measured, args.seconds = args.seconds, seconds
    try:
        load()
    finally:
        args.seconds = measured


def render(r):
    direct = r["load"]["direct"]["valid"]["rps"]
    lines = [f"{r['date']} · {r['machine']} · `{r['command']}` · wrk -t{r.get('threads', 1)} -c{r['connections']} "
             f"-d{r['seconds']}s, median of {r['runs']} runs; proxy pinned to CPU 0 with one worker, "
             "wrk and the nginx upstream on CPU 1", "",
             "| proxy | case | req/s | × direct | p50 | p99 | proxy CPU µs/req | of which user | kernel | RSS | steal |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def row(name, case, m):
        cpu = f"{m['cpu_us_per_req']:.2f}" if m.get("cpu_us_per_req") else "–"
        user = f"{m['user_us_per_req']:.2f}" if m.get("user_us_per_req") else "–"
        kernel = (f"{m['cpu_us_per_req'] - m['user_us_per_req']:.2f}"
                  if m.get("cpu_us_per_req") and m.get("user_us_per_req") else "–")
        rss = f"{m['rss_kib'] / 1024:.1f} MB" if m.get("rss_kib") else "–"
        p50 = f"{m['p50_us'] / 1000:.2f} ms" if m.get("p50_us") else f"{m.get('mean_us', 0) / 1000:.2f} ms (mean)"
        p99 = f"{m['p99_us'] / 1000:.2f} ms" if m.get("p99_us") else "–"
        lines.append(f"| {name} | {case} | {m['rps']:,.0f} | {m['rps'] / direct:.2f} | {p50} | {p99} | "
                     f"{cpu} | {user} | {kernel} | {rss} | {m['steal_pct']:.1f}% |")

    row("direct", "valid", r["load"]["direct"]["valid"])
    for name, cases in r["load"].items():
        if name != "direct":
            for case, m in cases.items():
                row(name, case, m)
    extra = r.get("edgeguard_extra", {})
    for case, m in extra.items():
        if case != "idle":
            row("edgeguard", case, m)
    lines.append("")
    for m in extra.get("idle", {}).values():
        each = "one request" if m["requests"] == 1 else f"{m['requests']} requests (each with its own upstream connection)"
        lines.append(f"- edgeguard with {m['connections']:,} idle keep-alive connections after {each}: "
                     f"RSS {m['rss_kib'] / 1024:.1f} MB ({m['bytes_per_connection'] / 1024:.1f} KiB per connection)")
    lines.extend(spread(r))
    lines.append("")
    lines.append("Checks (403 expected but for the two values; the upstream must not see the header):")
    lines.append("")
    cases = list(next(iter(r["checks"].values()))["statuses"])
    lines.append("| proxy | " + " | ".join(cases) + " |")
    lines.append("|---|" + "---|" * len(cases))
    for name, c in r["checks"].items():
        lines.append(f"| {name} | " + " | ".join(str(c["statuses"][k]) for k in cases) + " |")
    return "\n".join(lines) + "\n"


def spread(r):
    """The targets' ratios within each run (each run loads every peer in turn), with their
    spread across runs: one median hides how far apart the runs were."""
    per = r.get("per_run", {})
    ours = per.get("edgeguard|valid")
    if not ours:
        return []
    n = len(ours)

    def ratio(a, b, key):
        xs = [a[i][key] / b[i][key] for i in range(n) if a[i].get(key) and b[i].get(key)]
        return xs

    rows = []
    for peer in ("nginx", "haproxy"):
        theirs = per.get(f"{peer}|valid")
        if theirs:
            for key, what in (("cpu_us_per_req", "CPU per request"), ("user_us_per_req", "user CPU per request"),
                              ("rps", "req/s"), ("p99_us", "p99")):
                rows.append((f"edgeguard ÷ {peer}, valid: {what}", ratio(ours, theirs, key)))
    for key in per:
        name, case = key.split("|", 1)
        if name == "edgeguard" and case.startswith("valid, "):
            rows.append((f"edgeguard {case} ÷ edgeguard valid: CPU per request",
                         ratio(per[key], ours, "cpu_us_per_req")))
            rows.append((f"edgeguard {case} ÷ edgeguard valid: user CPU per request",
                         ratio(per[key], ours, "user_us_per_req")))
    nginx_invalid = per.get("nginx|invalid")
    if nginx_invalid and per.get("edgeguard|invalid"):
        rows.append(("edgeguard ÷ nginx, invalid (403): CPU per request",
                     ratio(per["edgeguard|invalid"], nginx_invalid, "cpu_us_per_req")))
    lines = ["", f"Ratios within each run ({n} runs): min, median, max, then every run in order", "",
             "| ratio | min | median | max | runs |", "|---|---|---|---|---|"]
    for what, xs in rows:
        if xs:
            lines.append(f"| {what} | {min(xs):.2f} | {statistics.median(xs):.2f} | {max(xs):.2f} | "
                         + " ".join(f"{x:.2f}" for x in xs) + " |")
    return lines


if __name__ == "__main__":
    main()
