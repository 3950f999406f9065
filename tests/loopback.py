"""Loopback servers for the tests: a stand-in for GitHub, Slack, an identity provider or a webhook."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(server, poll_interval: float = 0.5) -> Iterator[str]:
    """Serve `server` (an http.server or werkzeug server) from a daemon thread for the block; yields
    its base URL, http://127.0.0.1:port. Shut down and closed afterwards."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
