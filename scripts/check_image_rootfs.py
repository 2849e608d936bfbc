"""Runs the image's edgeguard-proxy inside the image's filesystem only (chroot) and checks
it serves: a valid request reaches an upstream named through /etc/hosts (no shared library
resolves it), a request without the header gets 403, `healthcheck` exits 0, SIGTERM drains.

Usage: python3 check_image_rootfs.py ROOTFS CHROOT_COMMAND...
"""

import http.client
import http.server
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


seen_headers = []


class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen_headers.append(self.headers.get("x-origin-verify"))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def status(port, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def main():
    rootfs, chroot = sys.argv[1], sys.argv[2:]
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen, admin = free_port(), free_port()
    value = secrets.token_urlsafe(32)
    hosts = os.path.join(rootfs, "etc", "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost upstream.test\n")
    proxy = subprocess.Popen(
        chroot
        + [
            "/edgeguard-proxy",
            "--listen", f"127.0.0.1:{listen}",
            "--upstream", f"http://upstream.test:{upstream.server_address[1]}",
            "--secret-source", "env:EG_CHECK_SECRET",
            "--admin-listen", f"127.0.0.1:{admin}",
        ],
        env={"EG_CHECK_SECRET": value, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if status(admin, "/ready", {}) == 200:
                    break
            except OSError:
                pass
            if proxy.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"proxy not ready: {proxy.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
        assert status(listen, "/", {"x-origin-verify": value}) == 200, "valid request"
        assert seen_headers == [None], "the upstream must not see the header"
        assert status(listen, "/", {}) == 403, "missing header"
        assert status(listen, "/", {"x-origin-verify": value + "x"}) == 403, "wrong value"
        assert len(seen_headers) == 1, "a rejected request was forwarded"
        health = subprocess.run(
            chroot + ["/edgeguard-proxy", "healthcheck", "--admin-listen", f"127.0.0.1:{admin}"],
            timeout=10,
        )
        assert health.returncode == 0, "healthcheck"
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(timeout=30) == 0, "SIGTERM drain"
        print("image filesystem OK: serves, rejects, resolves via /etc/hosts, healthcheck, drains")
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait()
        os.remove(hosts)
        upstream.shutdown()


if __name__ == "__main__":
    main()
