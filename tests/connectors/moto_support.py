"""moto's IAM emulation in server mode (a real HTTP server on loopback) for the connector tests.

The estate is built with boto3 against the server, exactly as the connector reads it: no stubs.
`MOTO_IAM_LOAD_MANAGED_POLICIES=true` loads AWS's managed policies (AdministratorAccess, ...).
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from contextlib import contextmanager

ACCOUNT = "123456789012"
FAKE_CREDENTIALS = {
    # moto accepts any credentials; these are placeholders for boto3's default chain, not secrets.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server():
    """A ThreadedMotoServer on 127.0.0.1 and a free port; yields its URL."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def reset(url: str) -> None:
    """Forget every resource (moto's own reset endpoint)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=30).read()


def iam_client(url: str):
    import boto3

    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
