"""Signed checkpoints of the audit chain: what someone with write access to the database cannot forge.

The hash chain alone proves the rows agree with each other; anyone who can write to the database can
delete the tail and move the head back, or edit one event and re-hash every later one, and the chain
still agrees with itself. So the head (seq, hash) is signed with the `audit-checkpoint` key, a file
outside the database (governance.signing), at least every STEWARD_AUDIT_CHECKPOINT_MINUTES by the
`audit_checkpoint` job and at every evidence export. `verify_anchored_chain` then checks:

- every checkpoint's signature (a forged or altered row is reported);
- the chain still reaches each checkpoint's seq, and the head has not moved below it (truncation);
- the event at each checkpoint's seq still has the signed hash (rewriting at or before that seq);
- the newest checkpoint is younger than two intervals, so deleting the newest checkpoints together
  with the chain's tail is caught too. With no checkpoint at all, the chain must be younger than two
  intervals and the checkpoint key too (its file time is outside the database).

What it cannot catch (README): changes after the newest checkpoint, within the interval; anyone who
holds both the database and the key file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from governance import signing
from governance.audit import GENESIS_HASH, ChainReport, verify_chain
from governance.audit_models import AuditChainHead, AuditCheckpoint, AuditEvent

PURPOSE = "audit-checkpoint"


def interval() -> timedelta:
    return timedelta(minutes=settings.STEWARD_AUDIT_CHECKPOINT_MINUTES)


def current_head() -> tuple[int, str]:
    head = AuditChainHead.objects.filter(pk=1).first()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


def sign_checkpoint(
    reason: str, *, seq: int | None = None, head_hash: str | None = None, now: datetime | None = None
) -> AuditCheckpoint:
    """Sign the chain head (or the given seq and hash) now and keep the checkpoint."""
    now = now or timezone.now()
    if seq is None or head_hash is None:
        seq, head_hash = current_head()
    claims = {
        "iss": settings.STEWARD_BASE_URL,
        "iat": int(now.timestamp()),
        "seq": seq,
        "hash": head_hash,
        "reason": reason,
    }
    jws = signing.sign_jwt(PURPOSE, claims)
    kid = signing.signing_key(PURPOSE).kid
    return AuditCheckpoint.objects.create(
        seq=seq, head_hash=head_hash, signed_at=now, reason=reason[:100], kid=kid, jws=jws
    )


def sign_scheduled_checkpoint(now: datetime) -> dict[str, Any]:
    """The `audit_checkpoint` job: sign the head, moved or not (a quiet chain still needs fresh ones)."""
    checkpoint = sign_checkpoint("scheduled", now=now)
    return {"seq": checkpoint.seq, "kid": checkpoint.kid}


@dataclass
class VerifiedCheckpoint:
    id: int
    seq: int
    hash: str
    signed_at: datetime
    reason: str


@dataclass
class AnchorReport:
    chain: ChainReport
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: int = 0
    newest: VerifiedCheckpoint | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_checkpoints(jwks: dict, problems: list[str]) -> list[VerifiedCheckpoint]:
    found = []
    for row in AuditCheckpoint.objects.order_by("id").iterator(chunk_size=2000):
        try:
            _header, claims = signing.verify_jwt(row.jws, jwks, PURPOSE)
            seq, head_hash, iat = int(claims["seq"]), str(claims["hash"]), int(claims["iat"])
        except signing.SignatureInvalid as exc:
            problems.append(f"checkpoint row {row.pk} (says #{row.seq}) is not genuine: {exc}")
            continue
        except (KeyError, TypeError, ValueError, OverflowError):
            problems.append(f"checkpoint row {row.pk} is signed but does not hold seq, hash and iat")
            continue
        signed_at = datetime.fromtimestamp(iat, tz=UTC)
        if (row.seq, row.head_hash) != (seq, head_hash):
            problems.append(
                f"checkpoint row {row.pk} was altered: it shows #{row.seq}, its signature says #{seq} "
                f"with hash {head_hash}"
            )
        found.append(VerifiedCheckpoint(row.pk, seq, head_hash, signed_at, str(claims.get("reason", ""))))
    return found


def _stored_hashes(seqs: list[int]) -> dict[int, str]:
    stored: dict[int, str] = {}
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        stored.update(AuditEvent.objects.filter(seq__in=chunk).values_list("seq", "hash"))
    return stored


def verify_anchored_chain(*, jwks: dict | None = None, now: datetime | None = None) -> AnchorReport:
    """The chain's own links, then every signed checkpoint against it, then the newest one's age."""
    now = now or timezone.now()
    report = AnchorReport(chain=verify_chain())
    keys = jwks if jwks is not None else signing.local_jwks()
    checkpoints = _read_checkpoints(keys, report.problems)
    report.checkpoints = len(checkpoints)
    head_seq, _head_hash = current_head()
    last_event = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    stored = _stored_hashes(sorted({c.seq for c in checkpoints if c.seq > 0}))
    truncated = rewritten = None
    for checkpoint in sorted(checkpoints, key=lambda c: (c.seq, c.signed_at)):
        expected = GENESIS_HASH if checkpoint.seq == 0 else stored.get(checkpoint.seq)
        if checkpoint.seq > min(head_seq, last_event) or expected is None:
            truncated = truncated or checkpoint
        elif expected != checkpoint.hash and rewritten is None:
            rewritten = checkpoint
    if truncated is not None:
        report.problems.append(
            f"truncated: the checkpoint signed {_when(truncated.signed_at)} says the chain reached "
            f"#{truncated.seq}, but the chain now ends at #{last_event} and its head says #{head_seq}"
        )
    if rewritten is not None:
        report.problems.append(
            f"rewritten: event #{rewritten.seq} no longer has the hash signed {_when(rewritten.signed_at)} "
            f"({rewritten.hash}); events at or before #{rewritten.seq} were changed and re-hashed"
        )

    limit = 2 * interval()
    if checkpoints:
        newest = max(checkpoints, key=lambda c: (c.signed_at, c.seq))
        report.newest = newest
        if newest.signed_at < now - limit:
            report.problems.append(
                f"stale: the newest signed checkpoint (#{newest.seq}, {_when(newest.signed_at)}) is older "
                f"than two intervals ({_minutes(limit)}): checkpoints are not being signed (is the beat "
                "running?), or the newest ones were deleted together with the chain's tail"
            )
        elif newest.seq < head_seq:
            report.notes.append(
                f"events #{newest.seq + 1}..#{head_seq} came after the newest checkpoint "
                f"({_when(newest.signed_at)}); the next one will cover them"
            )
    else:
        first_at = AuditEvent.objects.order_by("seq").values_list("at", flat=True).first()
        key_since = signing.key_files_since(PURPOSE)
        if first_at is not None and first_at < now - limit:
            report.problems.append(
                f"no signed checkpoint, though the chain has events since {_when(first_at)}: the chain is "
                "not anchored (run `python manage.py run_governance_jobs --job audit_checkpoint`; if "
                "checkpoints were signed before, they were deleted)"
            )
        elif key_since is not None and key_since < now - limit:
            report.problems.append(
                f"no signed checkpoint, though the checkpoint key has existed since {_when(key_since)}: "
                "checkpoints were deleted (or are not being signed)"
            )
        elif head_seq:
            report.notes.append("no checkpoint yet: the chain is younger than two intervals")
    return report


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
