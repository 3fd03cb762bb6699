"""Serve a built site on the loopback interface (what ``slmbench site serve`` runs)."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"  # loopback only: this is a preview, not a public server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(site_dir: Path, port: int = 8000, quiet: bool = True) -> ThreadingHTTPServer:
    """A server for ``site_dir`` (port 0: any free port; read it from ``server.server_address``)."""
    if not (site_dir / "index.html").is_file():
        raise FileNotFoundError(f"{site_dir}/index.html is missing: build the site first (slmbench site build)")
    handler = functools.partial(_QuietHandler if quiet else SimpleHTTPRequestHandler, directory=str(site_dir))
    return ThreadingHTTPServer((HOST, port), handler)


def serve_in_background(site_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a free port in a daemon thread; returns it and its base URL."""
    server = make_server(site_dir, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}/"
