"""A question put to Steward ("may this identity do this, here, now?") and the answer it gave.

Their own module so that the decision service and what it calls back (attestations) can both use
them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.policy import cedar


@dataclass
class Ask:
    index: int
    action: str
    resource_kind: str
    resource_name: str
    environment: str
    task_ref: str = ""
    identity_id: int | None = None
    source: str = ""
    external_id: str = ""

    def question(self) -> cedar.Question:
        return cedar.Question(
            self.action, self.resource_kind, self.resource_name, self.environment, self.task_ref
        )


@dataclass
class Answer:
    ask: Ask
    identity_id: int
    identity_name: str
    verdict: cedar.Verdict
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity_id,
            "identity_name": self.identity_name,
            "action": self.ask.action,
            "resource": {"kind": self.ask.resource_kind, "name": self.ask.resource_name},
            "environment": self.ask.environment,
            "task_ref": self.ask.task_ref,
            **self.verdict.as_dict(),
            **self.extra,
        }
