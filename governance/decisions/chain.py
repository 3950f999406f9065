"""The delegation chain as Cedar sees it (`context.chain`, schema `Steward::Chain`).

A workload calling with an exchanged Steward access token carries a chain from intent to execution
(`governance.actors.Actor.chain`): a person who delegated, parent agents, the identity itself. The
policies ask three things of it, answered here with at most two small queries per request, and none
for a caller without a chain (a person, a static token):

- `has_human` / `human_related`: the nearest person in the chain owns or backs up the identity asked
  about, or is in its team (an inactive person relates to nothing);
- `has_parent` / `within_parent_scope`: the live grants of every agent above it cover the question
  (a sub-agent inherits at most its parents' scope).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.actors import Actor
from governance.decisions import subjects
from governance.decisions.questions import Ask
from governance.people.models import User
from governance.policy import cedar
from inventory.models import Identity


def facts(
    actor: Actor, asks: list[Ask], rows: list[subjects.IdentityRow], now: datetime
) -> list[dict[str, Any] | None]:
    """One `context.chain` per question (None: the caller has no chain, the neutral default applies)."""
    if actor.identity_id is None:
        return [None] * len(asks)
    links = actor.chain_links
    people = [link for link in links if link.get("kind") == "person"]
    agents = [link for link in links if link.get("kind") == "identity"]
    base = {
        **cedar.NO_CHAIN,
        "exchanged": True,
        "has_human": bool(people),
        "has_parent": len(agents) > 1,
        "depth": len(agents),
    }
    related = _related(people[-1], rows) if people else {}
    ancestors = _ancestor_grants(agents[:-1], now) if len(agents) > 1 else None
    now_ts = now.timestamp()
    result = []
    for ask, row in zip(asks, rows, strict=True):
        chain = dict(base)
        if people:
            chain["human_related"] = related.get(row.pk, False)
        if ancestors is not None:
            # Every agent above it, not only the nearest: C spawned by B spawned by A stays within A.
            chain["within_parent_scope"] = all(
                any(
                    g.live(now_ts) and g.covers(ask.action, ask.resource_kind, ask.resource_name)
                    for g in grants
                )
                for grants in ancestors
            )
        result.append(chain)
    return result


def _related(person: dict[str, Any], rows: list[subjects.IdentityRow]) -> dict[int, bool]:
    user = User.objects.filter(pk=person.get("id"), is_active=True).values("pk", "team_id").first()
    if user is None:
        return {}
    ids = {row.pk for row in rows}
    owned = {row.pk for row in rows if user["pk"] in (row.owner_id, row.backup_owner_id)}
    if user["team_id"] is not None and ids - owned:
        owned |= set(
            Identity.objects.filter(pk__in=ids - owned, team_id=user["team_id"]).values_list("pk", flat=True)
        )
    return {pk: pk in owned for pk in ids}


def _ancestor_grants(agents: list[dict[str, Any]], now: datetime) -> list[tuple[cedar.GrantFact, ...]]:
    """The live grants of each agent above the caller (one lookup query); an agent that is gone or
    not active covers nothing."""
    ids = [agent.get("id") for agent in agents]
    rows = subjects.lookup(ids=[pk for pk in ids if isinstance(pk, int)])
    active = [row for row in rows if row.status == Identity.Status.ACTIVE]
    facts = subjects.subjects_for(active) if active else {}
    return [facts[pk].grants if pk in facts else () for pk in ids]
