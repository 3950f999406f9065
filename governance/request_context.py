"""The id of the request being served, for audit events to carry (set by `RequestIdMiddleware`).

Its own module so that the audit log, which every layer calls, does not import the middleware (which
imports SSO, which records audit events)."""

import contextvars

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("steward_request_id", default=None)


def current_request_id() -> str | None:
    return request_id.get()
