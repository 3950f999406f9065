"""Who did something: a person, an API token acting for a person, or a scheduled job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance.people.models import User


@dataclass(frozen=True)
class Actor:
    label: str
    kind: str  # "person" | "token" | "system"
    user: User | None = None
    on_behalf_of: str = ""
    token_id: int | None = None
    # A workload calling with a Steward access token (issue 21): the identity it is, and who is
    # behind the call, from intent to execution (each link a sorted tuple of its items).
    identity_id: int | None = None
    chain: tuple = ()
    # Where the person acted when it was not the browser or the API, e.g. "slack" (issue 28): every
    # audit event this actor writes names it (`after.channel`).
    channel: str = ""

    @property
    def chain_links(self) -> list[dict]:
        return [dict(link) for link in self.chain]

    @property
    def with_chain(self) -> str:
        """The label, and for a workload who is behind it: "workload:12:coder (via alice → planner)"."""
        if self.identity_id is not None and self.on_behalf_of:
            return f"{self.label} (via {self.on_behalf_of})"
        return self.label

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def __str__(self) -> str:
        return self.label


def system(job: str) -> Actor:
    return Actor(label=f"system:{job}", kind="system")


def as_actor(value: Any) -> Actor:
    """Accept an Actor, a User, or a 'system:<job>' string."""
    if isinstance(value, Actor):
        return value
    if isinstance(value, str):
        if not value.startswith("system:"):
            raise ValueError("A string actor must be 'system:<job>'.")
        return Actor(label=value, kind="system")
    if value is None:
        raise ValueError("Every change needs an actor.")
    return Actor(label=value.get_username(), kind="person", user=value)


def from_request(request) -> Actor:
    """The actor behind an HTTP request: the token when one authenticated it, else the person."""
    token = getattr(request, "auth", None)
    user = request.user
    if token is not None and hasattr(token, "actor"):
        return token.actor(user)  # a workload's access token names its own actor and chain
    if token is not None and hasattr(token, "key_prefix"):
        return Actor(
            label=f"token:{token.key_prefix}",
            kind="token",
            user=user,
            on_behalf_of=user.get_username(),
            token_id=token.pk,
        )
    return as_actor(user)
