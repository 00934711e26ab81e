"""A loopback TCP relay in front of the AWS stand-in (moto) that records how long the stand-in took.

Owns one measurement: for every request a function sends through it, the interval from the relay
receiving the request (for a connection's first request: accepting the connection, which the
function writes to at once) to the relay handing the response's last chunk to the function, on
the harness's clock (time.perf_counter). That is the service time of the AWS side: in a real account
it is DynamoDB's, SES's or Secrets Manager's (and differs from moto's), and it is not the
function's own work. The harness subtracts the union of these intervals from a cold start to give
the function's own time, and shows both.

HTTP/1.1 on a connection is request, response, request, response (the SDK does not pipeline), so
the relay needs no HTTP parsing: a connection alternates between a client phase and a server
phase, and each server phase is one service interval. The relay's forwarding falls inside the
interval (it is part of the stand-in); what is left to the function is its own work, including
opening connections and writing its requests.
"""

from __future__ import annotations

import socket
import threading
import time


class AwsTimer:
    """`with AwsTimer(upstream_port) as t:` relays 127.0.0.1:t.port to upstream; `t.busy(a, b)` is
    the time in seconds the upstream spent answering within [a, b]."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        self._intervals: list[list[float]] = []
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

    # --- relaying ---------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            # A function writes its first request as soon as it has connected: from here on the
            # time is the stand-in's (its thread start and upstream connect included).
            accepted = time.perf_counter()
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state: dict = {"sent": None, "cur": None, "accepted": accepted}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client:
                    # A new request: the previous response (if any) is complete. The relay's own
                    # forwarding counts as AWS time, not the function's.
                    state["cur"] = None
                    state["sent"] = state.pop("accepted", None) or time.perf_counter()
                    dst.sendall(data)
                else:
                    dst.sendall(data)
                    now = time.perf_counter()
                    with self._lock:
                        if state["cur"] is None:
                            self._intervals.append([state["sent"] or now, now])
                            state["cur"] = len(self._intervals) - 1
                        else:
                            self._intervals[state["cur"]][1] = now
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
