"""The Lambda Runtime API (2018-06-01) for one function process, on a loopback port.

The bootstrap long-polls `invocation/next`, then posts `response` or `error` for that request id;
`init/error` reports a failed start. This is the contract every custom runtime (and the Rust
`lambda_runtime` crate) speaks to Lambda's own runtime, so a function runs here unchanged.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
_INVOCATION = re.compile(rf"^{PREFIX}/invocation/([^/]+)/(response|error)$")


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    function_arn: str
    trace_id: str
    deadline_ms: int


@dataclass
class Outcome:
    payload: bytes
    is_error: bool


def error_payload(error_type: str, message: str) -> bytes:
    """A failure as Lambda reports it: what Step Functions' Retry/Catch read `errorType` from."""
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class RuntimeApi:
    """Hands invocations to the process and collects their outcomes."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._pending: dict[str, Future[Outcome]] = {}
        self._lock = threading.Lock()
        self.polled = threading.Event()
        self.init_error: bytes | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)  # releases a poller still waiting in `next`
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()

    def submit(self, invocation: Invocation) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            self._pending[invocation.request_id] = future
        self._queue.put(invocation)
        return future

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    # Called from the HTTP handler threads.

    def next_invocation(self) -> Invocation | None:
        self.polled.set()
        invocation = self._queue.get()
        if invocation is None:
            self._queue.put(None)  # for any other poller
        return invocation

    def complete(self, request_id: str, outcome: Outcome) -> bool:
        with self._lock:
            future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return False
        future.set_result(outcome)
        return True


def _handler(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                return self._reply(404, error_payload("NotFound", self.path))
            invocation = api.next_invocation()
            if invocation is None:
                return self._reply(503, error_payload("ServiceStopped", "runtime API stopped"))
            self._reply(
                200,
                invocation.payload,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                },
            )

        def do_POST(self) -> None:
            body = self._body()
            if self.path == f"{PREFIX}/init/error":
                api.init_error = _with_error_type(body, self.headers)
                return self._reply(202, b'{"status":"OK"}')
            match = _INVOCATION.match(self.path)
            if not match:
                return self._reply(404, error_payload("NotFound", self.path))
            request_id, kind = match.groups()
            if kind == "error":
                body = _with_error_type(body, self.headers)
            if not api.complete(request_id, Outcome(body, is_error=kind == "error")):
                return self._reply(400, error_payload("InvalidRequestID", request_id))
            self._reply(202, b'{"status":"OK"}')

    return Handler


def _with_error_type(body: bytes, headers) -> bytes:
    """Runtimes may put the type only in the Lambda-Runtime-Function-Error-Type header."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {"errorMessage": body.decode(errors="replace")}
    if not isinstance(parsed, dict):
        parsed = {"errorMessage": str(parsed)}
    if not parsed.get("errorType"):
        parsed["errorType"] = headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled"
    return json.dumps(parsed).encode()
