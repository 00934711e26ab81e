"""A stand-in for the Lambda Runtime API, on loopback, for one cold start at a time.

Owns the protocol a function's runtime speaks (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
  GET  /2018-06-01/runtime/invocation/next            the first call gets the event, with the
       Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn and -Trace-Id headers;
       later calls wait (as Lambda does between invocations) until the server stops
  POST /2018-06-01/runtime/invocation/{id}/response   the answer
  POST /2018-06-01/runtime/invocation/{id}/error      a handler error
  POST /2018-06-01/runtime/init/error                 a failure before the first `next`
and records, on the harness's clock (time.perf_counter), when the first `next` arrived (the end of
init) and when the answer or error arrived.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Invocation:
    """One event offered to one process, and what happened to it."""

    def __init__(self, event: dict, function_arn: str, timeout_s: float):
        self.event = json.dumps(event).encode()
        self.request_id = str(uuid.uuid4())
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.next_at: float | None = None
        self.done_at: float | None = None
        self.outcome: str | None = None  # "response" | "error" | "init-error"
        self.body: bytes = b""
        self.done = threading.Event()
        self.stopping = threading.Event()
        self._served = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        """True once: whether this `next` call gets the event."""
        with self._lock:
            if self._served:
                return False
            self._served = True
            self.next_at = time.perf_counter()
            return True

    def finish(self, outcome: str, body: bytes) -> None:
        with self._lock:
            if self.done_at is None:
                self.done_at = time.perf_counter()
                self.outcome = outcome
                self.body = body
        self.done.set()


def _handler(invocation: Invocation):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):  # quiet
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self._reply(404)
            if invocation.take():
                deadline_ms = int((time.time() + invocation.timeout_s) * 1000)
                return self._reply(
                    200,
                    invocation.event,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                    },
                )
            # Between invocations Lambda freezes the process; here the call just waits (bounded).
            invocation.stopping.wait(timeout=invocation.timeout_s)
            return self._reply(503)

        def do_POST(self):
            body = self._body()
            if self.path == f"{PREFIX}/invocation/{invocation.request_id}/response":
                invocation.finish("response", body)
                return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
            if self.path == f"{PREFIX}/invocation/{invocation.request_id}/error":
                invocation.finish("error", body)
                return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
            if self.path == f"{PREFIX}/init/error":
                invocation.finish("init-error", body)
                return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
            return self._reply(404)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed function drops its waiting `next` call: expected, not worth a traceback.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class RuntimeApi:
    """`with RuntimeApi(invocation) as api:` serves one invocation on 127.0.0.1:api.port."""

    def __init__(self, invocation: Invocation):
        self.invocation = invocation
        self.server = _QuietServer(("127.0.0.1", 0), _handler(invocation))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "RuntimeApi":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.invocation.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
