"""identity_origins.csv: how every identity created or activated in the period came to be (issue 19 item 6).

One row per coming-to-be in the period: an identity `created` (its record appeared), `activated`
(discovered or proposed → active) or `reactivated` (suspended → active). Each row names its origin and
the approval record behind it:

- `intake`: an intake request (its id) and the approval request that decided it, with its approvers;
- `activation`: an activation request (origin import, triage or registered directly) and its approval;
- `reactivation`: a reactivation request and its approval;
- `api_token` / `scim_token`: the token identity issued by `issue_api_token`/`issue_scim_token`, and
  who issued it (the `api_token.issued` audit event);
- `registered`, `import`, `triage`, `reactivated_directly`: an IAM approver or Security admin acting
  directly where the tier's route is that one decision (the audit event and who);
- `discovered`: found by a connector or an import without an owner (`source` names it); it waits for
  triage, whose own `activated` row carries the approval;
- `system` / `unknown`: made by a job with no approval, or with no record at all.

`approval_status` is `approved` (an approval request approved, a token issuance, or a person's
recorded single-step decision), `awaiting` (the identity is not active: nothing to approve yet) or
`missing`; `unapproved` is `yes` for every `missing` row. Everything is read with a fixed number of
queries, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast

from governance.evidence.rows import CHUNK, Section, iso
from governance.models import AuditEvent

ORIGIN_HEADER = [
    "identity", "identity_name", "event", "at", "actor", "audit_seq", "origin", "origin_ref", "source",
    "approval_request", "approval_state", "approved_by", "approved_at", "approval_record",
    "approval_status", "unapproved",
]  # fmt: skip
COMING_TO_BE = ("identity.created", "identity.activated", "identity.reactivated")
IDENTITY_SUBJECT = "inventory.identity"
TOKEN_SUBJECT = "governance.apitoken"


@dataclass
class Event:
    identity: int
    verb: str
    at: datetime
    actor: str
    actor_kind: str
    seq: int | None
    after: dict


def _events(start: datetime, end: datetime) -> list[Event]:
    found = []
    rows = AuditEvent.objects.filter(
        at__gte=start, at__lt=end, subject_type=IDENTITY_SUBJECT, verb__in=COMING_TO_BE
    ).values_list("subject_id", "verb", "at", "actor", "actor_kind", "seq", "after")
    for subject_id, verb, at, actor, actor_kind, seq, after in rows.order_by("seq"):
        if subject_id.isdigit():
            found.append(Event(int(subject_id), verb, at, actor, actor_kind, seq, after or {}))
    return found


def _approval_requests(model, object_ids) -> dict[int, Any]:
    """object id -> its ApprovalRequest (steps prefetched), one query for the requests and one for steps."""
    from approvals.models import ApprovalRequest

    if not object_ids:
        return {}
    requests = ApprovalRequest.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id__in=object_ids
    ).prefetch_related("steps__decided_by")
    return {r.object_id: r for r in requests}


def _applied_requests(model, ids: set[int]) -> tuple[dict[int, list], dict[int, Any]]:
    """The applied requests of this kind per identity, oldest decision first, and object id -> the
    approval request that decided each (two queries and one for steps)."""
    by_identity: dict[int, list] = {}
    for request in model.objects.filter(identity_id__in=ids, state=model.State.APPLIED).order_by(
        "decided_at", "pk"
    ):
        by_identity.setdefault(request.identity_id, []).append(request)
    return by_identity, _approval_requests(model, [r.pk for rows in by_identity.values() for r in rows])


def _approvers(request) -> str:
    steps = [s for s in request.current_steps() if s.state == "approved"]
    return "; ".join(f"{s.role}:{s.decider_label}" for s in steps)


def origin_rows(start: datetime, end: datetime) -> Iterator[list[Any]]:
    from inventory.models import Identity

    events = _events(start, end)
    created_with_event = {e.identity for e in events if e.verb == "identity.created"}
    # Identities whose record appeared in the period without an identity.created event (API and SCIM
    # token identities, and anything written outside the services): a row each, from the row itself.
    for pk, created_at in Identity.objects.filter(created_at__gte=start, created_at__lt=end).values_list(
        "pk", "created_at"
    ):
        if pk not in created_with_event:
            events.append(Event(pk, "identity.created", created_at, "", "", None, {}))
    events.sort(key=lambda e: (e.at, e.identity, e.verb))
    # In batches: a first pack after a 100,000-identity import must not bind 100,000 parameters.
    for first in range(0, len(events), CHUNK):
        batch = events[first : first + CHUNK]
        yield from _batch_rows(batch, _Lookups({e.identity for e in batch}))


class _Lookups:
    """Everything a batch of events needs, a fixed number of queries for the batch."""

    def __init__(self, ids: set[int]):
        from approvals.models import IntakeRequest
        from governance.people.models import ApiToken
        from inventory.models import ActivationRequest, Identity, ReactivationRequest

        self.identities = {
            pk: (name, source, status)
            for pk, name, source, status in Identity.objects.filter(pk__in=ids).values_list(
                "pk", "name", "source", "status"
            )
        }
        self.intakes = {
            i.identity_id: i
            for i in IntakeRequest.objects.filter(identity_id__in=ids).only(
                "pk", "identity_id", "approval_id"
            )
        }
        self.intake_approvals = _approval_requests(IntakeRequest, [i.pk for i in self.intakes.values()])
        self.activations, self.activation_approvals = _applied_requests(ActivationRequest, ids)
        self.reactivations, self.reactivation_approvals = _applied_requests(ReactivationRequest, ids)
        self.tokens = {
            t.identity_id: t
            for t in ApiToken.objects.filter(identity_id__in=ids).only("pk", "identity_id", "scope")
        }
        self.issued = {
            int(subject_id): (actor, seq)
            for subject_id, actor, seq in AuditEvent.objects.filter(
                verb="api_token.issued",
                subject_type=TOKEN_SUBJECT,
                subject_id__in=[str(t.pk) for t in self.tokens.values()],
            ).values_list("subject_id", "actor", "seq")
        }


def _batch_rows(events: list[Event], found: _Lookups) -> Iterator[list[Any]]:
    identities, intakes, intake_approvals = found.identities, found.intakes, found.intake_approvals
    activations, activation_approvals = found.activations, found.activation_approvals
    reactivations, reactivation_approvals = found.reactivations, found.reactivation_approvals
    tokens, issued = found.tokens, found.issued
    for event in events:
        name, source, status_now = identities.get(event.identity, ("", "", ""))
        row = {
            "origin": "unknown", "origin_ref": "", "approval_request": "", "approval_state": "",
            "approved_by": "", "approved_at": "", "approval_record": "", "status": "missing",
        }  # fmt: skip

        if event.verb == "identity.created":
            created_status = event.after.get("status", "")
            if event.identity in intakes:
                intake = intakes[event.identity]
                _by_request(row, intake_approvals.get(intake.pk), "intake", f"intake #{intake.pk}")
            elif event.identity in tokens:
                token = tokens[event.identity]
                actor, seq = issued.get(token.pk, ("", None))
                row.update(
                    origin="scim_token" if token.scope == "scim" else "api_token",
                    origin_ref=f"token #{token.pk} ({token.scope})",
                )
                if seq is not None:
                    event.actor, event.seq = actor, seq
                    row.update(
                        approved_by=actor,
                        approved_at=iso(event.at),
                        approval_record=f"audit event #{seq} (api_token.issued by {actor})",
                        status="approved",
                    )
            elif created_status in ("discovered", "proposed"):
                row.update(
                    origin="discovered" if created_status == "discovered" else "proposed",
                    origin_ref=f"created {created_status}",
                    status="awaiting",
                )
                if event.actor_kind == "system":
                    row["origin_ref"] += f" by {event.actor}"
            elif created_status in ("active", ""):
                _by_person(row, event, "import" if "changes" in event.after else "registered")
        elif event.verb == "identity.activated":
            _by_latest_request(row, event, activations, activation_approvals, "activation", directly="triage")
        else:
            _by_latest_request(
                row,
                event,
                reactivations,
                reactivation_approvals,
                "reactivation",
                directly="reactivated_directly",
            )
        if (
            row["status"] == "missing"
            and event.verb == "identity.created"
            and status_now in ("discovered", "proposed")
        ):
            row["status"] = "awaiting"
        yield [
            event.identity, name, event.verb.removeprefix("identity."), iso(event.at), event.actor,
            event.seq or "", row["origin"], row["origin_ref"], source, row["approval_request"],
            row["approval_state"], row["approved_by"], row["approved_at"], row["approval_record"],
            row["status"], "yes" if row["status"] == "missing" else "no",
        ]  # fmt: skip


def _by_request(row: dict, request, origin: str, ref: str) -> None:
    """The origin is a request decided through the approval engine."""
    row.update(origin=origin, origin_ref=ref)
    if request is None:
        return
    approved = request.state == "approved"
    row.update(
        approval_request=request.pk,
        approval_state=request.state,
        approved_by=_approvers(request) if approved else "",
        approved_at=iso(request.decided_at) if approved else "",
        approval_record=f"approval request #{request.pk}",
        status="approved" if approved else row["status"],
    )


def _by_person(row: dict, event: Event, origin: str) -> None:
    """An IAM approver or Security admin decided directly (the tier's route is that one step); a
    system actor with no request behind it is no approval."""
    row.update(origin=origin)
    if event.actor_kind == "person" and event.seq is not None:
        row.update(
            approved_by=event.actor,
            approved_at=iso(event.at),
            approval_record=f"audit event #{event.seq} ({event.verb} by {event.actor}, single-step route)",
            status="approved",
        )
    elif event.actor:
        row.update(origin="system", origin_ref=event.actor)


def _by_latest_request(row: dict, event: Event, requests, approvals, kind: str, *, directly: str) -> None:
    """The identity's latest request of this kind (activation, reactivation) made the event through the
    approval engine; with none, a person did it directly (`directly` is then the origin)."""
    match = _latest_before(requests.get(event.identity, []), event.at)
    if match is None:
        _by_person(row, event, directly)
        return
    ref = f"{kind} request #{match.pk}"
    if kind == "activation":  # where it came from: import, triage or registered directly
        ref += f" ({match.origin})"
    _by_request(row, approvals.get(match.pk), kind, ref)


def _latest_before(requests: list, at: datetime):
    """The applied request whose decision made this event: the last decided at or before it."""
    found = None
    for request in requests:
        if request.decided_at is None or request.decided_at <= at:
            found = request
    return found or (requests[0] if requests else None)


def origins_section(start: datetime, end: datetime) -> Section:
    return Section(
        "identity_origins.csv",
        ORIGIN_HEADER,
        "One row per identity created, activated or reactivated in the period, with how it came to be: "
        "the intake, activation or reactivation request and its approval request (approvers, when), the "
        "token issuance and who issued it, or the audit event of the IAM/Security person who decided "
        "directly; discovered and proposed identities are `awaiting` until activated. `unapproved` is "
        "`yes` where no approval record exists.",
        lambda: origin_rows(start, end),
    )


# ---------------------------------------------------------------- STW-01


def approval_record_exists() -> Q:
    """An identity with a real approval record: an approved intake, an applied activation or
    reactivation request, an issued token, or a person's recorded direct decision (registering
    active, activating or reactivating). A filled `approved_at` alone does not count."""
    from approvals.models import IntakeRequest
    from governance.people.models import ApiToken
    from inventory.models import ActivationRequest, ReactivationRequest

    pk_text = Cast(OuterRef("pk"), CharField())
    person_events = AuditEvent.objects.filter(
        subject_type=IDENTITY_SUBJECT, subject_id=pk_text, actor_kind="person"
    ).filter(
        Q(verb__in=["identity.activated", "identity.reactivated"])
        | Q(verb="identity.created", after__status="active")
    )
    # The small tables first, as hashed IN lists (one pass each); the audit log is probed by index
    # only for identities none of them covers (an OR stops at its first match).
    return (
        Q(
            pk__in=IntakeRequest.objects.filter(approval__state="approved", identity__isnull=False).values(
                "identity_id"
            )
        )
        | Q(pk__in=ActivationRequest.objects.filter(state="applied").values("identity_id"))
        | Q(pk__in=ReactivationRequest.objects.filter(state="applied").values("identity_id"))
        | Q(pk__in=ApiToken.objects.filter(identity__isnull=False).values("identity_id"))
        | Q(Exists(person_events))
    )
