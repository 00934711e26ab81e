"""Tests of the cold-start harness's timing relay (aws_timer.py), against a stand-in server that,
like moto's, closes every connection after one answer. Run by scripts/test:
`python3 -m unittest discover -s scripts/coldstart`."""

from __future__ import annotations

import http.client
import http.server
import socket
import sys
import threading
import time
import unittest

import aws_timer
from aws_timer import AwsTimer


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Echoes the request body upper-cased; closes the connection after each answer. /chunked
    answers in chunks, /eof with neither length nor chunks (read to the close), /slow after 50 ms."""

    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).upper()
        if self.path == "/slow":
            time.sleep(0.05)
        self.send_response(200)
        self.send_header("Connection", "close")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:3], body[3:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/eof":
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = True

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def log_message(self, *_args) -> None:
        pass


class AwsTimerTest(unittest.TestCase):
    def setUp(self) -> None:
        _Upstream.connections = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.timer = AwsTimer(self.server.server_address[1]).__enter__()

    def tearDown(self) -> None:
        self.timer.__exit__(None, None, None)
        self.server.shutdown()
        self.server.server_close()

    def test_one_client_connection_carries_every_call_whatever_the_upstream_framing(self) -> None:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.timer.port)
        answers = []
        for path in ("/", "/chunked", "/eof", "/"):
            conn.request("POST", path, body=b"pulso " + path.encode())
            response = conn.getresponse()
            answers.append(response.read())
            self.assertEqual(response.status, 200)
            self.assertNotEqual((response.getheader("Connection") or "").lower(), "close")
        conn.request("HEAD", "/")
        head = conn.getresponse()
        self.assertEqual(head.getheader("Content-Length"), "1234")
        self.assertEqual(head.read(), b"")
        sock = conn.sock
        conn.request("POST", "/", body=b"last")
        self.assertEqual(conn.getresponse().read(), b"LAST")
        self.assertIs(conn.sock, sock, "the client's connection was kept")
        conn.close()

        self.assertEqual(answers, [b"PULSO /", b"PULSO /CHUNKED", b"PULSO /EOF", b"PULSO /"])
        self.assertEqual(_Upstream.connections, 6, "one upstream connection per call")
        self.assertEqual(len(self.calls_since(start, 6)), 6)

    def test_the_call_log_names_each_operation_and_its_connection(self) -> None:
        start = time.perf_counter()
        scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/{}/aws4_request, SignedHeaders=host"
        first = http.client.HTTPConnection("127.0.0.1", self.timer.port)
        first.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"})
        first.getresponse().read()
        first.request("PUT", "/bucket/reports/a.json?x-id=PutObject", body=b"{}",
                      headers={"Authorization": scope.format("s3")})
        first.getresponse().read()
        second = http.client.HTTPConnection("127.0.0.1", self.timer.port)
        second.request("POST", "/v2/email/outbound-emails", body=b"{}", headers={"Authorization": scope.format("ses")})
        second.getresponse().read()
        first.close()
        second.close()
        log = self.calls_since(start, 3)
        self.assertEqual([(conn, op) for _a, _b, conn, op in log],
                         [(1, "dynamodb GetItem"), (1, "s3 PUT"), (2, "ses POST /v2/email/outbound-emails")])
        self.assertTrue(all(a <= b for a, b, _c, _op in log))
        self.assertEqual(len(log), self.timer.calls(start, time.perf_counter()))

    def calls_since(self, start: float, expected: int) -> list:
        """The call log since `start`, once it holds `expected` calls or after 5 s. The relay records
        a call just after handing its answer over, so a client can read the answer first."""
        deadline = time.monotonic() + 5
        while len(self.timer.call_log(start, time.perf_counter())) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.timer.call_log(start, time.perf_counter())

    def test_the_upstreams_time_is_counted_once_per_call(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.timer.port)
        start = time.perf_counter()
        for _ in range(3):
            conn.request("POST", "/slow", body=b"x")
            conn.getresponse().read()
            time.sleep(0.05)  # the client's own time, between calls
        end = time.perf_counter()
        conn.close()
        busy = self.timer.busy(start, end)
        self.assertGreaterEqual(busy, 0.15)
        self.assertLess(busy, end - start - 0.1, "the client's pauses are not the upstream's time")


class ReaderTest(unittest.TestCase):
    @unittest.skipUnless(sys.platform == "linux", "kernel receive timestamps as Linux gives them")
    def test_a_request_counts_from_when_it_came_not_from_when_it_was_read(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as server:
            server.setsockopt(socket.SOL_SOCKET, aws_timer.SO_TIMESTAMPNS, 1)
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
            with client, accepted:
                # The kernel starts stamping a moment after the first socket asks: wait for it.
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    client.sendall(b"x")
                    _data, ancillary, _f, _a = accepted.recvmsg(1, socket.CMSG_SPACE(16))
                    if ancillary:
                        break
                    time.sleep(0.01)
                sent_at = time.perf_counter()
                client.sendall(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
                time.sleep(0.2)  # the relay's thread is late to read it
                reader = aws_timer._Reader(accepted)
                head = reader.until(b"\r\n\r\n")
                read_at = time.perf_counter()
        self.assertTrue(head.startswith(b"POST / "))
        # The two clocks are read one after the other: a few microseconds apart.
        self.assertGreaterEqual(reader.first_byte_at, sent_at - 0.005)
        self.assertLess(reader.first_byte_at - sent_at, 0.05, "counted from its arrival")
        self.assertGreaterEqual(read_at - reader.first_byte_at, 0.19)

    def test_without_a_timestamp_a_request_counts_from_its_read(self) -> None:
        self.assertEqual(aws_timer._waited([], time.time_ns()), 0.0)

    def test_a_timestamp_the_clocks_setting_spoilt_is_ignored(self) -> None:
        now = time.time_ns()

        def stamped(at_ns: int) -> list[tuple[int, int, bytes]]:
            sec, nsec = divmod(at_ns, 1_000_000_000)
            return [(socket.SOL_SOCKET, aws_timer.SCM_TIMESTAMPNS, aws_timer._TIMESPEC.pack(sec, nsec))]

        self.assertAlmostEqual(aws_timer._waited(stamped(now - 20_000_000), now), 0.02)
        self.assertEqual(aws_timer._waited(stamped(now + 5_000_000), now), 0.0, "after the read")
        self.assertEqual(aws_timer._waited(stamped(now - 3_000_000_000), now), 0.0, "three seconds unread")


if __name__ == "__main__":
    unittest.main()
