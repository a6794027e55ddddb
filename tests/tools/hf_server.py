#!/usr/bin/env python3
"""A loopback stand-in for the Hugging Face Hub's file endpoint, for clipsearch's model
download tests (no network in the test suite).

Serves ROOT/<owner>/<repo>/<file> as /<owner>/<repo>/resolve/<revision>/<file> the way
the Hub does:
  * LFS files (*.safetensors, *.bin): the resolve URL answers 302 to a CDN URL
    (/cdn/<owner>/<repo>/<file> on this server) with X-Linked-Size and
    X-Linked-Etag: "<sha256>" (HEAD and GET alike);
  * other files: 200 with ETag "<git blob sha1>" and Content-Length;
  * missing files: 404 with X-Error-Code: EntryNotFound;
  * GET honours "Range: bytes=N-" with 206 + Content-Range.
Fault injection:
  --cut-after N --cut-times K   the first K GETs of an LFS body send N bytes, then
                                drop the connection (Content-Length announces the rest)
  --bad-sha                     advertise a wrong SHA-256 for LFS files
  --no-range                    ignore Range (always 200 from byte 0)
  --missing FILE                answer 404 for FILE (repeatable)
Writes the chosen port to --port-file once listening, one line per request
("METHOD PATH RANGE") to --log.
"""
import argparse
import hashlib
import http.server
import os
import socket
import sys
import threading

LFS_SUFFIXES = (".safetensors", ".bin")


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class State:
    def __init__(self, args):
        self.args = args
        self.cuts_left = args.cut_times
        self.lock = threading.Lock()

    def log(self, line):
        if self.args.log:
            with self.lock, open(self.args.log, "a") as f:
                f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *a):  # quiet: the test reads --log instead
        pass

    def _file(self):
        """(repo, name, path, is_cdn) for a request path, or None."""
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) >= 4 and parts[0] == "cdn":
            return "/".join(parts[1:3]), "/".join(parts[3:]), True
        if len(parts) >= 5 and parts[2] == "resolve":
            return "/".join(parts[0:2]), "/".join(parts[4:]), False
        return None

    def _send(self, code, headers, body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def _handle(self, head):
        st = self.state
        st.log("%s %s %s" % (self.command, self.path, self.headers.get("Range", "-")))
        f = self._file()
        if not f:
            body = self._send(404, [("X-Error-Code", "RepoNotFound")], b"not found")
            if not head:
                self.wfile.write(body)
            return
        repo, name, is_cdn = f
        path = os.path.join(st.args.root, repo, name)
        if name in st.args.missing or not os.path.isfile(path):
            body = self._send(404, [("X-Error-Code", "EntryNotFound")], b"Entry not found")
            if not head:
                self.wfile.write(body)
            return
        with open(path, "rb") as fh:
            data = fh.read()
        lfs = name.endswith(LFS_SUFFIXES)
        if lfs and not is_cdn:
            sha = hashlib.sha256(data).hexdigest()
            if st.args.bad_sha:
                sha = hashlib.sha256(data + b"x").hexdigest()
            host = "http://%s:%d" % self.server.server_address[:2]
            self._send(302, [("Location", "%s/cdn/%s/%s" % (host, repo, name)),
                             ("X-Linked-Size", str(len(data))),
                             ("X-Linked-Etag", '"%s"' % sha),
                             ("ETag", '"%s"' % git_blob_sha1(data))])
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not st.args.no_range and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        if start > len(data):
            self._send(416, [("Content-Range", "bytes */%d" % len(data))])
            return
        headers = [("ETag", '"%s"' % git_blob_sha1(data)),
                   ("Content-Length", str(len(data) - start)),
                   ("Accept-Ranges", "bytes")]
        code = 200
        if start:
            code = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data))))
        self._send(code, headers)
        if head:
            return
        body = data[start:]
        cut = False
        with st.lock:
            if lfs and st.cuts_left > 0 and st.args.cut_after < len(body):
                st.cuts_left -= 1
                cut = True
        if cut:
            self.wfile.write(body[:st.args.cut_after])
            self.wfile.flush()
            # Drop the connection mid-body: the client sees a short transfer.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)

    def do_HEAD(self):
        self._handle(True)

    def do_GET(self):
        self._handle(False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--cut-times", type=int, default=0)
    ap.add_argument("--bad-sha", action="store_true")
    ap.add_argument("--no-range", action="store_true")
    ap.add_argument("--missing", action="append", default=[])
    args = ap.parse_args()
    Handler.state = State(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
