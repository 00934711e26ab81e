"""A loopback TCP relay in front of the AWS stand-in (moto) that records how long the stand-in took.

Owns one measurement: for every request a function sends through it, the interval from the request
reaching the relay's socket (the kernel's receive timestamp of its first bytes, SO_TIMESTAMPNS) to
the relay handing the response's last chunk to the function, on the harness's clock
(time.perf_counter). The start is the kernel's, not the moment the relay's thread got round to
reading: on a loaded machine that thread wakes tens of microseconds to milliseconds after the
request came, a wait that is neither the function's work nor the service's (where the kernel gives
no timestamp, the read's own time is used). That is the service time of the AWS side: in a real
account it is DynamoDB's, SES's or Secrets Manager's (and differs from moto's), and it is not the
function's own work. The harness subtracts the union of these intervals from a cold start to give
the function's own time, and shows both.

Connections are kept alive towards the function, as AWS endpoints keep them: the function sends
each request on its pooled connection, and the relay opens a fresh connection to moto for it
(moto's server closes every connection after one answer, which on its own would make each call
reconnect, a cost a function in AWS pays only on its first call to each service). So the relay
reads HTTP/1.1 messages: a request's head and body (Content-Length or chunked), and moto's answer
to the end, which it passes on with a Content-Length and without moto's "Connection: close". The
relay's forwarding falls inside the interval (it is part of the stand-in); what is left to the
function is its own work, including opening its first connection and writing its requests.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time

# Linux's values (socket.py does not export them): each received message carries the time its
# data reached the socket, as a struct timespec on CLOCK_REALTIME.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")


class AwsTimer:
    """`with AwsTimer(upstream_port) as t:` relays 127.0.0.1:t.port to upstream; `t.busy(a, b)` is
    the time in seconds the upstream spent answering within [a, b]."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sys.platform == "linux":
            # Set on the listening socket, which lives as long as the relay, so that the kernel
            # keeps stamping received data throughout (it starts a moment after the first socket
            # asks, and stops once none does); accepted connections inherit it.
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        self._intervals: list[list[float]] = []
        # (start, end, connection number, what the call was), in the order calls ended.
        self._calls: list[tuple[float, float, int, str]] = []
        self._connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "AwsTimer":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass

    def busy(self, start: float, end: float) -> float:
        """Seconds within [start, end] covered by at least one service interval (their union, so
        calls made concurrently count once)."""
        with self._lock:
            spans = sorted((max(a, start), min(b, end)) for a, b in self._intervals if b > start and a < end)
        total, cur_a, cur_b = 0.0, None, None
        for a, b in spans:
            if cur_b is None or a > cur_b:
                if cur_b is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b is not None:
            total += cur_b - cur_a
        return total

    def calls(self, start: float, end: float) -> int:
        """How many responses ended within [start, end]."""
        with self._lock:
            return sum(1 for _a, b in self._intervals if start <= b <= end)

    def call_log(self, start: float, end: float) -> list[tuple[float, float, int, str]]:
        """The calls that ended within [start, end], by start: (start, end, connection, operation),
        the connection numbered in the order the relay accepted it, the operation as AWS names it
        (`dynamodb GetItem`, `s3 PUT`, `ses POST /v2/email/outbound-emails`)."""
        with self._lock:
            return sorted(c for c in self._calls if start <= c[1] <= end)

    # --- relaying ---------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections += 1
                number = self._connections
            threading.Thread(target=self._serve, args=(client, number), daemon=True).start()

    def _serve(self, client: socket.socket, number: int) -> None:
        reader = _Reader(client)
        answered = float("-inf")
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                # When the request came, whenever this thread (started after the accept, for a
                # connection's first request) read it; never before the answer to the one before
                # (the functions' HTTP/1.1 client sends a connection's requests one at a time).
                start = max(reader.first_byte_at, answered)
                method = head.split(b" ", 1)[0].upper()
                headers = _headers(head)
                if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                    body = reader.chunked()
                else:
                    body = reader.exactly(int(headers.get(b"content-length", b"0")))
                if body is None:
                    return
                client.sendall(_answer(self.upstream, head + body, method))
                now = answered = time.perf_counter()
                with self._lock:
                    self._intervals.append([start, now])
                    self._calls.append((start, now, number, _operation(head, headers)))
        except OSError:
            pass
        finally:
            try:
                client.close()
            except OSError:
                pass


class _Reader:
    """Buffered reads from a socket; `first_byte_at` is when the current message's first bytes came
    (on time.perf_counter's clock): the kernel's receive timestamp where the socket has them
    (SO_TIMESTAMPNS), else when they were read."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf, self.first_byte_at = sock, b"", 0.0

    def _fill(self) -> bool:
        data, ancillary, _flags, _addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(_TIMESPEC.size))
        if data and not self.buf:
            read_at, read_at_ns = time.perf_counter(), time.time_ns()
            self.first_byte_at = read_at - _waited(ancillary, read_at_ns)
        self.buf += data
        return bool(data)

    def until(self, marker: bytes) -> bytes | None:
        while marker not in self.buf:
            if not self._fill():
                return None
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunked(self) -> bytes | None:
        """A chunked body as sent (chunk sizes, data, trailer), to be passed on unchanged."""
        out = b""
        while True:
            line = self.until(b"\r\n")
            if line is None:
                return None
            out += line
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                trailer = self.until(b"\r\n")  # no trailers from the SDK: the closing CRLF
                return None if trailer is None else out + trailer
            data = self.exactly(size + 2)
            if data is None:
                return None
            out += data


# A request does not wait this long unread on loopback: a longer "wait" is the wall clock having
# been set between the kernel's timestamp and the read, and is ignored.
_MAX_WAIT_NS = 1_000_000_000


def _waited(ancillary: list[tuple[int, int, bytes]], read_at_ns: int) -> float:
    """Seconds between the data's kernel receive timestamp in `ancillary` and `read_at_ns` (both on
    CLOCK_REALTIME); 0 without a timestamp, or with one that the clock's setting made negative or
    implausibly old. For TCP the kernel gives the last segment's time of those read, so a request
    written in two parts counts from its second: never earlier than it came."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            waited = read_at_ns - (sec * 1_000_000_000 + nsec)
            return waited / 1e9 if 0 <= waited <= _MAX_WAIT_NS else 0.0
    return 0.0


def _operation(head: bytes, headers: dict[bytes, bytes]) -> str:
    """What a request asks AWS for: the JSON protocols' `X-Amz-Target` (`DynamoDB_20120810.GetItem`
    -> `dynamodb GetItem`), else the service of its signature's scope and its method (S3: `s3 PUT`)
    or, for SES's REST paths, method and path."""
    target = headers.get(b"x-amz-target", b"").decode("latin-1")
    if target:
        service, _, op = target.partition(".")
        return f"{service.split('_')[0].lower()} {op}"
    scope = headers.get(b"authorization", b"").decode("latin-1").partition("Credential=")[2].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    method, path = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
    if service == "s3":
        return f"s3 {method}"
    return f"{service} {method} {path.split('?')[0]}"


def _headers(head: bytes) -> dict[bytes, bytes]:
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _answer(upstream: tuple[str, int], request: bytes, method: bytes) -> bytes:
    """Sends `request` to moto on a new connection and returns its answer, read to the end, framed
    for a kept-alive connection."""
    with socket.create_connection(upstream) as server:
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.sendall(request)
        # Nothing more will come: moto's server (werkzeug) would otherwise wait ~10 ms for more
        # request bytes before closing the connection that ends its answer.
        server.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := server.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = _headers(head)
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        body = _dechunk(body)
    keep = [ln for ln in lines[1:] if ln.split(b":", 1)[0].strip().lower()
            not in (b"connection", b"transfer-encoding", b"content-length")]
    status = lines[0].split(b" ")
    code = int(status[1]) if len(status) > 1 else 200
    if method == b"HEAD" or code in (204, 304) or 100 <= code < 200:
        # No body; the original Content-Length (of the object, for HEAD) stays as moto gave it.
        length = [b"content-length: " + headers[b"content-length"]] if b"content-length" in headers else []
        return b"\r\n".join([lines[0], *keep, *length, b"connection: keep-alive"]) + b"\r\n\r\n"
    framing = [b"content-length: " + str(len(body)).encode(), b"connection: keep-alive"]
    return b"\r\n".join([lines[0], *keep, *framing]) + b"\r\n\r\n" + body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        line, _, rest = body.partition(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out
