"""A loopback stand-in for the App Service managed identity endpoint, for what the emulator's cannot answer.

The emulator's identity endpoint (``emulator/identity.py``) only issues tokens or refuses a wrong header (401)
or a bad request (400). An outage (5xx, a hang), an unknown client id (400 "Unable to load the proper Managed
Identity.", Azure/azure-sdk-for-net#43691) and a token ARM does not know are answered here instead, on the
same protocol (``GET ?resource=..&api-version=2019-08-01[&client_id=..]``, header ``X-IDENTITY-HEADER``).
ARM itself is always the emulator.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict (JSON) or str (raw)
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0


@dataclass
class IdentityStub:
    url: str = ""
    answer: Answer = field(default_factory=Answer)
    requests: list[str] = field(default_factory=list)


@contextmanager
def identity_stub() -> Iterator[IdentityStub]:
    stub = IdentityStub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            stub.requests.append(self.path)
            answer = stub.answer
            if answer.delay:
                time.sleep(answer.delay)
            body = answer.body
            if body is None:
                body = {
                    "access_token": "not-issued-by-the-emulator",
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": "https://management.azure.com",
                    "token_type": "Bearer",
                }
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
