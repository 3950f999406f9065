"""Security Event Tokens (RFC 8417) with CAEP events, pushed to receivers (RFC 8935) from an outbox.

When a workload's sessions end (workload.drift), one SET per identity and active receiver is signed
(`typ: secevent+jwt`, ES256, key in /.well-known/jwks.json) and written to `SetDelivery` in the same
transaction as the revocation. After commit a worker POSTs it with `Content-Type:
application/secevent+jwt`; the receiver acknowledges with 202 (RFC 8935 §2.2). Anything else is
retried with backoff (30 s doubling, at most an hour apart) until `MAX_ATTEMPTS`, then marked failed
for Security to see. Each delivery is claimed by compare-and-set, so two workers never send one twice.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import safe_json, signing
from governance.queueing import send_by_name
from workload import tokens
from workload.models import SetDelivery, SetReceiver

logger = logging.getLogger(__name__)

PURPOSE = "security-event"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
DELIVER_TASK = "workload.tasks.deliver_security_events"
MAX_ATTEMPTS = 12
TIMEOUT = 5.0
CLAIM_LEASE = timedelta(minutes=2)
BATCH = 100
_broker_down_until = 0.0


def build(
    receiver: SetReceiver,
    identity_id: int,
    identity_name: str,
    *,
    cause: str,
    reason: str,
    revoked: list[str],
    credential_change: bool,
    now: datetime,
) -> tuple[str, str, list[str]]:
    jti = uuid.uuid4().hex
    event_time = int(now.timestamp())
    events: dict[str, Any] = {
        SESSION_REVOKED: {
            "event_timestamp": event_time,
            "initiating_entity": "policy",
            "reason_admin": {"en": reason[:300]},
            "steward_cause": cause,
            "steward_revoked_tokens": revoked,
        }
    }
    if credential_change:
        events[CREDENTIAL_CHANGE] = {
            "event_timestamp": event_time,
            "initiating_entity": "policy",
            "credential_type": "workload-federation",
            "change_type": "revoke",
            "friendly_name": identity_name[:200],
            "reason_admin": {"en": reason[:300]},
        }
    claims = {
        "iss": tokens.issuer_url(),
        "jti": jti,
        "iat": event_time,
        "aud": receiver.audience,
        "sub_id": {"format": "opaque", "id": f"identity:{identity_id}"},
        "events": events,
    }
    return jti, signing.sign_jwt(PURPOSE, claims), sorted(events)


def enqueue_for(
    identity_rows: list[tuple[int, str]],
    *,
    cause: str,
    reason: str,
    revoked: dict[int, list[str]],
    credential_change: bool,
    now: datetime,
) -> int:
    """Write one delivery per identity and active receiver (inside the caller's transaction)."""
    receivers = list(SetReceiver.objects.filter(active=True))
    if not receivers:
        return 0
    rows = []
    for receiver in receivers:
        for identity_id, name in identity_rows:
            jti, value, types = build(
                receiver,
                identity_id,
                name,
                cause=cause,
                reason=reason,
                revoked=revoked.get(identity_id, []),
                credential_change=credential_change,
                now=now,
            )
            rows.append(
                SetDelivery(
                    receiver=receiver,
                    jti=jti,
                    event_types=types,
                    identity_id=identity_id,
                    token=value,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    SetDelivery.objects.bulk_create(rows)
    transaction.on_commit(enqueue)
    return len(rows)


def enqueue() -> bool:
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    if not send_by_name(DELIVER_TASK):
        _broker_down_until = time.monotonic() + 30
        logger.warning("broker unreachable: security events wait in the outbox")
        return False
    return True


def _post(receiver: SetReceiver, token: str) -> tuple[bool, str]:
    request = urllib.request.Request(
        receiver.endpoint,
        data=token.encode("ascii"),
        method="POST",
        headers={"Content-Type": "application/secevent+jwt", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - a registered https URL
            status = response.status
            body = response.read(4096)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(4096)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # A receiver answering garbage is that receiver's failure, retried like any other: it must
        # not stop the deliveries behind it.
        return False, f"unreachable: {exc!r}"[:500]
    if status in (200, 202):
        return True, ""
    detail = ""
    try:
        parsed = safe_json.loads(body or b"{}")
        detail = (
            f"{parsed.get('err', '')}: {parsed.get('description', '')}" if isinstance(parsed, dict) else ""
        )
    except ValueError:
        pass
    return False, f"HTTP {status} {detail}".strip()[:500]


def deliver_due(now: datetime | None = None) -> dict[str, int]:
    """Send every due delivery once (a job and a task). Returns counts."""
    now = now or timezone.now()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    due = list(
        SetDelivery.objects.filter(state=SetDelivery.State.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for pk in due:
        claimed = SetDelivery.objects.filter(
            Q(next_attempt_at__lte=now), pk=pk, state=SetDelivery.State.PENDING
        ).update(next_attempt_at=now + CLAIM_LEASE, attempts=F("attempts") + 1)
        if not claimed:
            continue  # another worker has it
        row = SetDelivery.objects.select_related("receiver").get(pk=pk)
        ok, error = _post(row.receiver, row.token)
        if ok:
            SetDelivery.objects.filter(pk=pk).update(
                state=SetDelivery.State.DELIVERED, delivered_at=timezone.now(), last_error=""
            )
            counts["delivered"] += 1
            continue
        if row.attempts >= MAX_ATTEMPTS:
            SetDelivery.objects.filter(pk=pk).update(state=SetDelivery.State.FAILED, last_error=error)
            logger.warning("security event %s to %s failed for good: %s", row.jti, row.receiver.name, error)
            counts["failed"] += 1
            continue
        backoff = min(timedelta(seconds=30 * 2 ** (row.attempts - 1)), timedelta(hours=1))
        SetDelivery.objects.filter(pk=pk).update(next_attempt_at=timezone.now() + backoff, last_error=error)
        counts["retrying"] += 1
    return counts
