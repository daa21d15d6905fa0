"""A loopback HTTP server that honours Range, for the packbuild download tests."""
from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path


class RangeServer:
    """A loopback HTTP server of files in `root` that honours `Range: bytes=N-` (206 + Content-Range),
    records each request's headers, and can ignore Range or cut a response short."""

    def __init__(self, root: Path) -> None:
        self.root, self.requests, self.ignore_range, self.cut_after = root, [], False, None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(dict(self.headers))
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404, "not found")
                    return
                data = path.read_bytes()
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                if server.cut_after is not None:
                    body = body[:server.cut_after]
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
