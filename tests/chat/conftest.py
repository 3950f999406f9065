"""A loopback Slack: slack-sdk's base_url points at a stdlib HTTP server that records every Web API
call (chat.postMessage, chat.update) and every post to a click's response_url, and answers as Slack's
API documentation shows. Requests to Steward are signed as Slack signs them (v0 HMAC-SHA256)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest

from tests.approvals.conftest import make_intake  # noqa: F401 - the fixture, for tests/chat
from tests.loopback import serving

SIGNING_SECRET = "test-signing-secret-not-a-real-one"
BOT_TOKEN = "xoxb-test-token-not-a-real-one"
TEAM = "T0STEWARD1"


class SlackCalls:
    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.counter = 0
        self.fail_next = 0  # answer this many Web API calls with Slack's error shape

    def of(self, method: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == method]


def _handler(recorded: SlackCalls):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            if "json" in (self.headers.get("Content-Type") or ""):
                body = json.loads(raw or "{}")
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
            path = self.path
            with recorded.lock:
                if path.startswith("/api/"):
                    method = path.removeprefix("/api/")
                    recorded.calls.append(
                        {"method": method, "body": body, "auth": self.headers.get("Authorization", "")}
                    )
                    answer = self._api(method, body, recorded)
                else:  # a click's response_url
                    recorded.calls.append({"method": "response_url", "path": path, "body": body})
                    answer = None
            if answer is None:
                data, kind = b"ok", "text/plain"
            else:
                data, kind = json.dumps(answer).encode(), "application/json; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        @staticmethod
        def _api(method, body, recorded):
            if recorded.fail_next:
                recorded.fail_next -= 1
                return {"ok": False, "error": "ratelimited"}
            if method == "chat.postMessage":
                recorded.counter += 1
                ts = f"1765000000.{recorded.counter:06d}"
                message = {"type": "message", "subtype": "bot_message", "text": body.get("text", ""),
                           "ts": ts, "bot_id": "B0STEWARD", "blocks": body.get("blocks", [])}  # fmt: skip
                return {"ok": True, "channel": body["channel"], "ts": ts, "message": message}
            if method == "chat.update":
                message = {"text": body.get("text", ""), "blocks": body.get("blocks", [])}
                text = body.get("text", "")
                return {
                    "ok": True,
                    "channel": body["channel"],
                    "ts": body["ts"],
                    "text": text,
                    "message": message,
                }
            return {"ok": False, "error": "unknown_method"}

    return Handler


@contextlib.contextmanager
def loopback_slack(settings):
    """Start the loopback Slack and point Steward's Slack settings at it (usable from any test module)."""
    from approvals import notifications
    from chat.channel import SlackChannel

    if not any(isinstance(c, SlackChannel) for c in notifications.channels()):  # chat's ready() adds it
        notifications.register_channel(SlackChannel())
    recorded = SlackCalls()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorded))
    with serving(server) as base:
        recorded.base = base
        settings.STEWARD_SLACK_BOT_TOKEN = BOT_TOKEN
        settings.STEWARD_SLACK_SIGNING_SECRET = SIGNING_SECRET
        settings.STEWARD_SLACK_API_URL = f"{recorded.base}/api/"
        settings.STEWARD_SLACK_CHANNELS = {
            "team:platform": "C0PLATFORM",
            "tier:critical": "C0SECURITY",
            "default": "C0IAM",
        }
        yield recorded


@pytest.fixture
def slack(settings):
    with loopback_slack(settings) as recorded:
        yield recorded


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict:
    """The headers Slack sends: X-Slack-Request-Timestamp and X-Slack-Signature (v0)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature}


def block_actions(slack_api, message, *, user_id, action_id, value, comment=None, username="someone"):
    """A block_actions payload as Slack sends it for a button click on the request's message."""
    container = {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": message.channel,
        "is_ephemeral": False,
    }
    values = {}
    if comment is not None:
        values = {"steward_reason": {"reason": {"type": "plain_text_input", "value": comment}}}
    button = {"Approve": "steward_approve", "Reject": "steward_reject"}
    label = next((k for k, v in button.items() if v == action_id), "Open in Steward")
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": TEAM},
        "api_app_id": "A0STEWARD",
        "token": "legacy-verification-token-unused",
        "container": container,
        "trigger_id": "1234567890123.1234567890123.abcdef0123456789abcdef0123456789",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "approvals"},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "ts": message.ts,
            "bot_id": "B0STEWARD",
            "text": "Approval",
            "blocks": [],
        },  # fmt: skip
        "state": {"values": values},
        "response_url": f"{slack_api.base}/actions/{TEAM}/1234567890/abcdefghijklmnop",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "steward_decide",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
                "style": "primary" if action_id == "steward_approve" else "danger",
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def form(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})
