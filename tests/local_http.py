"""A quiet local web server for the URL tests (fetch, the bad-input corpus, security): real HTTP, no network."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # yt-dlp's generic extractor reads the first bytes of the media URL to sniff it and then hangs up,
        # so the server's copy sometimes meets a reset/broken pipe; socketserver would print that to stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serving_with(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a local server with this request handler; yields the base URL (http://127.0.0.1:PORT)."""
    httpd = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def serving(root: Path) -> contextlib.AbstractContextManager[str]:
    """Serve the files under `root`; yields the base URL."""
    return serving_with(functools.partial(QuietHandler, directory=str(root)))


def closed_port() -> int:
    """A local port nothing listens on (a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
