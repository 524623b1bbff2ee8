"""A small HTTP server on 127.0.0.1 for the download tests (no internet is ever touched).

It serves bytes the test registers under a path, answers ``Range: bytes=N-`` with 206,
logs every request, and can be told to misbehave on the next requests for a path:
"404", "500", "corrupt" (same length, wrong bytes), "cut:N" (announce the full length,
send N bytes, drop the connection), "early:K" (answer a Range request from K bytes
before the asked offset, as some caches do), "hang:S" (say nothing for S seconds)
or "slow" (send 32 KiB every 0.1 s).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.actions: dict[str, list[str]] = {}
        self.log: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def serve(self, path: str, content: bytes, *actions: str) -> None:
        """Serve ``content`` at ``path``; ``actions`` apply to the next requests, in order."""
        self.files[path] = content
        self.actions[path] = list(actions)

    def requests_for(self, path: str) -> list[str | None]:
        """The Range header (or None) of every request made for ``path``."""
        return [range_ for logged, range_ in self.log if logged == path]

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_action(self, path: str, range_: str | None) -> str:
        with self._lock:
            self.log.append((path, range_))
            queue = self.actions.get(path, [])
            return queue.pop(0) if queue else "ok"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):     # keep pytest output clean
                pass

            def do_GET(self):
                range_ = self.headers.get("Range")
                action = server._next_action(self.path, range_)
                content = server.files.get(self.path)
                if action.startswith("hang:"):
                    time.sleep(float(action[5:]))
                    return
                if content is None or action in ("404", "500"):
                    self.send_error(500 if action == "500" else 404)
                    return
                if action == "corrupt":
                    content = bytes(b ^ 0xFF for b in content)
                start = int(range_.split("=")[1].split("-")[0]) if range_ else 0
                if action.startswith("early:"):
                    start = max(0, start - int(action[6:]))
                body = content[start:]
                self.send_response(206 if range_ else 200)
                if range_:
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(content) - 1}/{len(content)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if action.startswith("cut:"):
                    self.wfile.write(body[:int(action[4:])])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                step = 32 * 1024 if action == "slow" else len(body) or 1
                for offset in range(0, len(body), step):
                    self.wfile.write(body[offset:offset + step])
                    if action == "slow":
                        time.sleep(0.1)

        return Handler
