"""Checkpoint writers and a loopback Range server for the packbuild tests (torch only writes files here)."""
from __future__ import annotations

import argparse
import http.server
import re
import threading
from pathlib import Path


def save_fair_esm(model, folder: Path, name: str = "esm2_t2_tiny_UR50D", **save_kwargs) -> Path:
    """The layout fair-esm publishes (esm/pretrained.py): `{"cfg": {"model": Namespace}, "model": state}`
    with "encoder.sentence_encoder." prefixes and no contact head, plus `<name>-contact-regression.pt`
    holding `{"model": {"contact_head.regression.*"}}`."""
    state = model.state_dict()
    cfg = argparse.Namespace(arch="esm2", encoder_layers=model.num_layers, encoder_embed_dim=model.embed_dim,
                             encoder_attention_heads=model.attention_heads, token_dropout=True)
    body = {f"encoder.sentence_encoder.{k}": v for k, v in state.items() if not k.startswith("contact_head")}
    regression = {k: v for k, v in state.items() if k.startswith("contact_head")}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    import torch

    torch.save({"cfg": {"model": cfg, "_name": "esm2"}, "model": body}, path, **save_kwargs)
    torch.save({"model": regression}, folder / f"{name}-contact-regression.pt", **save_kwargs)
    return path


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
