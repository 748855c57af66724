"""A fake CRCNS/NERSC/OSF download server (127.0.0.1, port 0) run in-process, shared by
tests/io/test_download.py and tests/workflow/test_download_workflow.py (fixture
``server`` in tests/conftest.py).

It implements the three protocols: the Plone login (``/login_form``) and
cookie-protected files (``/files/<path>``, Range/206), the NERSC POST form
(``/download/index.php``) and OSF GETs (``/osf/download/<guid>/``).  Switches on the
shared state simulate a dropped connection, a server ignoring Range, wrong passwords.
``FILES`` and ``OSF`` are module-level: a test serves its own archive with
``monkeypatch.setitem(crcns_server.FILES, ...)``.
"""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USER = "alice"
PASSWORD = "Pw-9f8e7d-SECRET"  # distinctive: grepped for everywhere
TOKEN = "tok123"
PAYLOAD = os.urandom(100_000)
FILES = {"aa-4/BlaBro09xxF.tar.gz": PAYLOAD, "aa-1/crcns-aa1.zip": PAYLOAD[:5000]}
OSF = {"gdwyd": PAYLOAD[:70_000]}
LOGIN_HTML = (b"<html><body><h1>Log in</h1><FORM method='post' action='login_form'>"
              b"<input name='__ac_name'/><input type='PASSWORD' name='__ac_password'/></form></body></html>")
MISSING = ("CRCNS credentials missing: set CRCNS_USERNAME and CRCNS_PASSWORD "
           "(free account at https://crcns.org/register)")


class State:
    def __init__(self):
        self.requests: list[dict] = []
        self.drop_after: int | None = None  # close the socket after N body bytes (once)
        self.ignore_range = False
        self.failed_login_cookie = False  # Plone sets a statusmessages cookie on failure
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    @property
    def state(self) -> State:
        return self.server.state

    def _record(self, body: bytes = b"") -> dict:
        rec = {"method": self.command, "path": self.path, "headers": dict(self.headers),
               "form": {k: v[0] for k, v in parse_qs(body.decode()).items()} if body else {}}
        with self.state.lock:
            self.state.requests.append(rec)
        return rec

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve_file(self, data: bytes) -> None:
        st = self.state
        rng = self.headers.get("Range")
        start = 0
        if rng and not st.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st.drop_after is not None:
            n, st.drop_after = st.drop_after, None
            self.wfile.write(body[:n])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        rec = self._record(body)
        form = rec["form"]
        if self.path == "/login_form":
            if form.get("__ac_name") == USER and form.get("__ac_password") == PASSWORD:
                self._send(200, b"<html>Logged in as alice</html>", {"Set-Cookie": f"__ac={TOKEN}; Path=/"})
            else:
                extra = {"Set-Cookie": "statusmessages=bad; Path=/"} if self.state.failed_login_cookie else {}
                self._send(200, LOGIN_HTML, extra)
        elif self.path == "/download/index.php":
            ok = form.get("username") == USER and form.get("password") == PASSWORD and form.get("submit") == "Login"
            if not ok:
                self._send(200, LOGIN_HTML)
            elif form.get("fn") in FILES:
                self._serve_file(FILES[form["fn"]])
            else:
                self._send(404, b"not found")
        else:
            self._send(404, b"not found")

    def do_GET(self):
        self._record()
        if self.path.startswith("/files/"):
            if f"__ac={TOKEN}" not in self.headers.get("Cookie", ""):
                self._send(200, LOGIN_HTML)  # Plone serves the login page to anonymous users
                return
            name = self.path[len("/files/"):]
            if name in FILES:
                self._serve_file(FILES[name])
            else:
                self._send(404, b"not found")
        elif self.path.startswith("/osf/download/") and self.path.endswith("/"):
            guid = self.path[len("/osf/download/"):-1]
            if guid in OSF:
                self._serve_file(OSF[guid])
            else:
                self._send(404, b"not found")
        else:
            self._send(404, b"not found")


def start_server() -> ThreadingHTTPServer:
    """A running server with fresh state; ``.base`` is its URL.  Stop with ``stop_server``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = State()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    return httpd


def stop_server(httpd: ThreadingHTTPServer) -> None:
    httpd.shutdown()
    httpd.server_close()
