"""Sessions that end when behaviour drifts from the approved task.

Any of these ends an identity's live Steward access tokens at once — decisions with them answer
`deny`, introspection says `active: false` — and pushes a signed Security Event Token to every
registered receiver (workload.sets):

- the identity suspended or decommissioned, its credentials revoked by a review, a just-in-time grant
  ended or expired (`inventory.enforcement`, whose handler this module registers);
- a trust binding revoked (workload.services);
- the sweep opening an `out_of_scope_use` or `used_after_revocation` finding
  (`on_findings_opened`, registered with the findings registry).

Everything runs in the transaction of the change that caused it; the SETs leave after commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from inventory import enforcement
from inventory.models import Identity
from workload import sets, tokens

CREDENTIAL_CAUSES = {enforcement.CREDENTIALS_REVOKED, "binding_revoked", enforcement.DECOMMISSIONED}
DRIFT_RULES = ("out_of_scope_use", "used_after_revocation")


def end_sessions(actor, identity_ids: Iterable[int], *, cause: str, reason: str = "", binding_ids=()) -> int:
    """Revoke the identities' live access tokens, audit it per identity, queue their SETs."""
    actor = as_actor(actor)
    now = timezone.now()
    ids = sorted({int(pk) for pk in identity_ids})
    if not ids:
        return 0
    revoked = {pk: [] for pk in ids}
    why = reason or cause
    jtis = tokens.revoke_live(ids, why, now=now)
    if jtis:
        from workload.models import IssuedToken

        for jti, identity_id in IssuedToken.objects.filter(jti__in=jtis).values_list("jti", "identity_id"):
            # A sub-agent's token ended with its parent's: that identity's session ends too.
            revoked.setdefault(identity_id, []).append(jti)
    ids = sorted(revoked)
    names = dict(Identity.objects.filter(pk__in=ids).values_list("pk", "name"))
    # Only identities that ever exchanged a token (or are bound) concern receivers.
    from workload.models import IssuedToken, TrustBinding

    federated = set(IssuedToken.objects.filter(identity_id__in=ids).values_list("identity_id", flat=True))
    federated |= set(TrustBinding.objects.filter(identity_id__in=ids).values_list("identity_id", flat=True))
    concerned = [pk for pk in ids if pk in federated]
    if not concerned:
        return 0
    for pk in concerned:
        audit.record(
            actor,
            "workload.sessions_ended",
            ("inventory.identity", pk, names.get(pk, "")),
            after={"cause": cause, "revoked_tokens": len(revoked[pk]), "bindings": list(binding_ids)},
            reason=why[:1000],
        )
    sets.enqueue_for(
        [(pk, names.get(pk, "")) for pk in concerned],
        cause=cause,
        reason=why,
        revoked=revoked,
        credential_change=cause in CREDENTIAL_CAUSES,
        now=now,
    )
    return len(jtis)


def on_revocation(actor, identity_ids, *, cause: str, reason: str = "", grant_ids=()) -> None:
    """inventory.enforcement's hook: a suspension, decommissioning, review revoke or ended JIT grant."""
    end_sessions(actor, identity_ids, cause=cause, reason=reason or cause)


def on_findings_opened(actor, rule: str, identity_ids: list[int]) -> None:
    """The sweep saw an identity act outside its approved scope or after revocation."""
    if rule in DRIFT_RULES:
        end_sessions(actor, identity_ids, cause=rule, reason=f"the sweep found {rule.replace('_', ' ')}")


def open_drift_finding(identity_id: int) -> tuple[int, str] | None:
    """(id, rule) of an open drift finding of the identity, or None. While one is open (and no
    exception suppresses it) the identity gets no new access token: ending its sessions would
    otherwise last one request."""
    from governance.findings.models import Finding

    return (
        Finding.objects.filter(identity_id=identity_id, rule__in=DRIFT_RULES, status=Finding.Status.OPEN)
        .values_list("pk", "rule")
        .first()
    )
