#!/usr/bin/env python3
"""faultserver.py: a misbehaving registry for hearth's tests (loopback only).

  faultserver.py LAYOUT PORTFILE

Serves the OCI layout LAYOUT as a distribution API v2 registry on
127.0.0.1:<free port>, written to PORTFILE once it listens. The first path
component of the repository name picks the fault ("/v2/MODE/NAME/..."):

  ok          behaves
  baddigest   manifests: by tag with a wrong Docker-Content-Digest header,
              by digest with a body that does not match the digest
  bigmanifest manifests: announce 5 MiB and stream them
  bigchunked  manifests: 5 MiB chunked, no Content-Length
  notfound    layer blobs: 404
  truncated   layer blobs: a complete response with half the bytes
  badblob     layer blobs: right size, one byte flipped
  droponce    layer blobs: the first request drops the connection half way;
              later ones honour Range
  dropalways  layer blobs: every response drops half way through
  norange     layer blobs: the first request drops half way; later ones
              ignore Range and send everything with 200
  bearer      requires a Bearer token from /token (anonymous; the query must
              carry service=fault and scope=repository:bearer/img:pull)
  redirect    requires HTTP Basic auth (any user and password) for manifests
              and blobs; blobs answer 307 to http://localhost:PORT/direct/...,
              another host, which refuses requests that carry Authorization

GET /stats returns {"path": count} of the requests so far.
"""
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAYOUT = sys.argv[1]
PORTFILE = sys.argv[2]
REF = "org.opencontainers.image.ref.name"
stats = {}
seen = set()
lock = threading.Lock()


def blob_path(digest):
    return os.path.join(LAYOUT, "blobs", "sha256", digest.split(":", 1)[-1])


def layer_digests():
    out = set()
    d = os.path.join(LAYOUT, "blobs", "sha256")
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.getsize(p) > 65536:
            continue
        try:
            with open(p) as f:
                j = json.load(f)
        except Exception:
            continue
        if isinstance(j, dict):
            for l in j.get("layers", []) or []:
                out.add(l.get("digest"))
    return out


LAYERS = layer_digests()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype="application/octet-stream", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def drop(self, code, total, body, headers=None):
        """Promise total bytes, send body (fewer), then close the connection."""
        self.send_response(code)
        self.send_header("Content-Length", str(total))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        with lock:
            stats[self.path] = stats.get(self.path, 0) + 1
        if self.path == "/stats":
            with lock:
                body = json.dumps(stats).encode()
            return self.send_body(200, body, "application/json")
        if self.path == "/v2/":
            return self.send_body(200, b"{}", "application/json")
        if self.path.startswith("/token?"):
            from urllib.parse import parse_qs, urlparse
            q = parse_qs(urlparse(self.path).query)
            if q.get("service") != ["fault"] or q.get("scope") != ["repository:bearer/img:pull"]:
                return self.send_body(400, b"bad token request")
            return self.send_body(200, b'{"token":"tok123","expires_in":300}', "application/json")
        if self.path.startswith("/direct/"):
            if "Authorization" in self.headers:
                return self.send_body(403, b"authorization leaked to another host")
            return self.blob("ok", self.path.split("/")[-1])
        parts = self.path.split("/")
        # /v2/MODE/NAME.../(manifests|blobs)/REF
        if len(parts) < 6 or parts[1] != "v2":
            return self.send_body(404, b"{}")
        mode, kind, ref = parts[2], parts[-2], parts[-1]
        if mode == "redirect" and not self.headers.get("Authorization", "").startswith("Basic "):
            return self.send_body(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                  headers={"WWW-Authenticate": 'Basic realm="fault"'})
        if mode == "bearer" and self.headers.get("Authorization") != "Bearer tok123":
            realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            return self.send_body(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', headers={
                "WWW-Authenticate": 'Bearer realm="%s",service="fault",'
                                    'scope="repository:bearer/img:pull"' % realm})
        if mode == "redirect" and kind == "blobs":
            self.send_response(307)
            self.send_header("Location", "http://localhost:%d/direct/%s" %
                             (self.server.server_address[1], ref))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "manifests":
            return self.manifest(mode, ref)
        if kind == "blobs":
            return self.blob(mode, ref)
        return self.send_body(404, b"{}")

    def manifest(self, mode, ref):
        if mode == "bigmanifest":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(5 << 20))
            self.end_headers()
            try:
                for _ in range(80):
                    self.wfile.write(b" " * 65536)
            except OSError:
                pass
            self.close_connection = True
            return
        if mode == "bigchunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(80):
                    self.wfile.write(b"10000\r\n" + b" " * 65536 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
            return
        if ref.startswith("sha256:"):
            digest = ref
        else:
            with open(os.path.join(LAYOUT, "index.json")) as f:
                index = json.load(f)
            m = [m for m in index["manifests"] if m.get("annotations", {}).get(REF) == ref]
            if not m:
                return self.send_body(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            digest = m[0]["digest"]
        try:
            with open(blob_path(digest), "rb") as f:
                body = f.read()
        except OSError:
            return self.send_body(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        mt = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        hdr = {"Docker-Content-Digest": digest}
        if mode == "baddigest":
            if ref.startswith("sha256:"):
                body = body + b" "
            else:
                hdr["Docker-Content-Digest"] = "sha256:" + "0" * 64
        return self.send_body(200, body, mt, hdr)

    def blob(self, mode, digest):
        try:
            with open(blob_path(digest), "rb") as f:
                data = f.read()
        except OSError:
            return self.send_body(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        if digest not in LAYERS or mode in ("ok", "bearer"):
            return self.ranged(data, start)
        with lock:
            first = (mode, digest) not in seen
            seen.add((mode, digest))
        half = len(data) // 2
        if mode == "notfound":
            return self.send_body(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        if mode == "truncated":
            return self.send_body(200, data[:half])
        if mode == "badblob":
            bad = bytearray(data)
            bad[half] ^= 0xFF
            return self.send_body(200, bytes(bad))
        if mode == "droponce":
            if first:
                return self.drop(200, len(data), data[:half])
            return self.ranged(data, start)
        if mode == "dropalways":
            part = data[start:]
            code = 206 if start else 200
            hdr = {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))} if start else {}
            return self.drop(code, len(part), part[: max(1, len(part) // 2)], hdr)
        if mode == "norange":
            if first:
                return self.drop(200, len(data), data[:half])
            return self.send_body(200, data)
        return self.send_body(404, b"{}")

    def ranged(self, data, start):
        if start:
            return self.send_body(206, data[start:], headers={
                "Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))})
        return self.send_body(200, data)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
