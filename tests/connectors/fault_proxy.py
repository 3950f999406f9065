"""A small fault-injecting HTTP proxy in front of moto: moto never throttles, AWS does.

The first `fail_first` requests are answered with a fault (alternately 503 Service Unavailable and
IAM's 400 Throttling error); every later request is forwarded to moto unchanged. `fail_all` makes
every request fail. Counts what it did, so a test can prove botocore retried.
"""

from __future__ import annotations

import http.client
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.loopback import serving

THROTTLING = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


SERVICE_UNAVAILABLE = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Receiver</Type>'
    b"<Code>ServiceUnavailable</Code><Message>Service is unavailable</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000001</RequestId></ErrorResponse>"
)


class FaultProxy:
    def __init__(self, upstream: str, fail_first: int = 0):
        self.upstream = urlsplit(upstream)
        self.fail_first = fail_first
        self.fail_all = False
        self.faults = 0
        self.forwarded = 0
        self._lock = threading.Lock()

    def _should_fail(self) -> bool:
        with self._lock:
            if self.fail_all or self.faults < self.fail_first:
                self.faults += 1
                return True
            self.forwarded += 1
            return False

    def handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._should_fail():
                    if proxy.faults % 2:
                        self.send_response(503)
                        payload = SERVICE_UNAVAILABLE
                    else:
                        self.send_response(400)
                        payload = THROTTLING
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            do_GET = do_POST = _relay

        return Handler


@contextmanager
def fault_proxy(upstream: str, fail_first: int = 0):
    proxy = FaultProxy(upstream, fail_first)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    with serving(server) as url:
        proxy.url = url
        yield proxy
