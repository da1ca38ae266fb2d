#!/usr/bin/env python3
"""A loopback HTTP server with injected faults, for the download tests.

    fault_server.py ROOT PORT_FILE LOG_FILE [--lifetime SECONDS]

serves the files in ROOT on 127.0.0.1 at an ephemeral port, which it writes to
PORT_FILE (atomically) once it listens. Every request is appended to LOG_FILE
as one JSON object: path, query, Range header, status answered, bytes sent.
It honours "Range: bytes=START-[END]" (206, or 416 past the end) unless told
not to, and exits by itself after --lifetime seconds (default 120) so a
crashed test never leaves it behind.

Faults, chosen per request by the query string (comma-separated):
  drop=N      the first request for this URL (path and query) that gets the
              file: full Content-Length promised, N body bytes sent, then the
              connection is cut (later requests, resumes with Range, succeed)
  fail=K      the first K requests for this URL answer 500
  norange     Range headers are ignored: always 200 and the whole file
  corrupt     one byte of the body flipped (the middle one)
  trickle=BPS the body is sent at about BPS bytes per second
  redirect    302 to the same path without the query
  404         404 whatever the path
"""
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse


class State:
    def __init__(self, root, log_path):
        self.root = root
        self.log_path = log_path
        self.lock = threading.Lock()
        self.seen = {}  # URL -> requests so far

    def count(self, key):
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            return self.seen[key]

    def log(self, record):
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    state = None  # set by main

    def log_message(self, fmt, *args):  # the JSON log replaces http.server's stderr lines
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        faults = dict(f.partition("=")[::2] for f in url.query.split(",") if f)
        n = self.state.count(self.path)
        rng = self.headers.get("Range")
        record = {"path": url.path, "query": url.query, "range": rng, "n": n}
        try:
            status, sent = self.answer(url.path, faults, n, rng)
        except (BrokenPipeError, ConnectionResetError):
            status, sent = "client gone", None
        record.update(status=status, sent=sent)
        self.state.log(record)

    def answer(self, path, faults, n, rng):
        if "404" in faults:
            return self.plain(404, b"not here\n")
        if n <= int(faults.get("fail", 0)):
            return self.plain(500, b"injected failure\n")
        if "redirect" in faults:
            self.send_response(302)
            self.send_header("Location", path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return 302, 0
        file = os.path.join(self.state.root, os.path.basename(path))
        if not os.path.isfile(file):
            return self.plain(404, b"not here\n")
        with open(file, "rb") as f:
            data = f.read()
        if "corrupt" in faults and data:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
        start, end, status = 0, len(data), 200
        if rng and "norange" not in faults:
            first, _, last = rng.partition("=")[2].partition("-")
            start = int(first)
            end = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return 416, 0
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "none" if "norange" in faults else "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        self.end_headers()
        body = data[start:end]
        if "drop" in faults and not rng and n == 1 + int(faults.get("fail", 0)):
            cut = int(faults["drop"])
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return "dropped", cut
        if "trickle" in faults:
            bps = max(1, int(faults["trickle"]))
            step = max(1, bps // 10)
            for at in range(0, len(body), step):
                self.wfile.write(body[at:at + step])
                self.wfile.flush()
                time.sleep(step / bps)
            return status, len(body)
        self.wfile.write(body)
        return status, len(body)

    def plain(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status, len(body)


def main():
    args = sys.argv[1:]
    lifetime = 120.0
    if "--lifetime" in args:
        i = args.index("--lifetime")
        lifetime = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    root, port_file, log_file = args
    Handler.state = State(root, log_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, port_file)
    threading.Timer(lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
