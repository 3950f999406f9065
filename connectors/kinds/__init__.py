"""The connector kinds: one class per kind, registered by name.

A kind reads its source and reports what it found as `FoundIdentity` pages; with enforcement on it
also disables an identity (`disable`) or takes entitlements away (`revoke`) at the source. The sync
(connectors.sync) does everything else the same way for every kind: reconciliation with the
inventory, progress, resumption, findings. A new kind is a module here with

    @register
    class GithubOrg(BaseConnector):
        kind = "github_org"
        settings = {"base_url": Setting(str, ...), ...}
        def discover(self, cursor): ...
        def disable(self, record): ...
        def revoke(self, record, entitlements): ...

imported from `ConnectorsConfig.ready()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class ConnectorError(Exception):
    """The source refused or could not be reached; the message is safe to show and store."""


@dataclass(frozen=True)
class Entitlement:
    """What the source lets an identity do, in the grants' words, and which source object gives it."""

    resource_kind: str
    resource_name: str
    actions: tuple[str, ...]
    via: str  # a readable name: the policy, group or role that gives it
    ref: str  # how the kind finds it again to revoke it (e.g. "managed:<arn>", "inline:<name>")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["actions"] = sorted(self.actions)
        return data


@dataclass
class FoundCredential:
    kind: str  # an inventory Credential.Kind
    label: str  # the source's id for it (an AWS access key id): never a secret value
    storage: str = ""
    issued_at: datetime | None = None
    active: bool = True
    expires_at: datetime | None = None  # None: never expires (feeds credential_no_expiry)
    last_used_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _credential_dict(credential: FoundCredential) -> dict[str, Any]:
    data = asdict(credential)
    if data["expires_at"] is None:
        del data["expires_at"]  # as before expiry was reported: unchanged fingerprints stay unchanged
    return data


@dataclass
class FoundIdentity:
    external_id: str  # the source's stable id (an ARN for aws_iam)
    object_type: str  # e.g. "user", "role"
    name: str
    kind: str  # an inventory Identity.Kind
    credentials: list[FoundCredential] = field(default_factory=list)
    entitlements: list[Entitlement] = field(default_factory=list)
    last_used_at: datetime | None = None
    disabled: bool = False  # as the source stands: no way left to authenticate or act
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # parts the source would not show

    def fingerprint(self) -> str:
        """Equal for two syncs that saw the same thing: a changed fingerprint is a change."""
        payload = {
            "name": self.name,
            "kind": self.kind,
            "credentials": sorted(
                (_credential_dict(c) for c in self.credentials), key=lambda c: (c["kind"], c["label"])
            ),
            "entitlements": sorted(
                (e.as_dict() for e in self.entitlements), key=lambda e: (e["ref"], e["via"])
            ),
            "last_used_at": self.last_used_at,
            "disabled": self.disabled,
            "details": self.details,
        }
        text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Page:
    """One page of the source: its identities, and where to continue (None: discovery is complete)."""

    identities: list[FoundIdentity]
    next_cursor: dict[str, Any] | None
    progress: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # parts of the page the source would not show


@dataclass(frozen=True)
class Setting:
    """One configuration key a kind accepts: its type, default, help, and an extra check."""

    type: type
    default: Any = None
    help: str = ""
    check: Callable[[Any], str | None] | None = None
    required: bool = False


@dataclass(frozen=True)
class WorkerCredential:
    """The credential the worker used to reach the source (from its environment), as metadata."""

    kind: str
    label: str
    storage: str


class BaseConnector:
    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    settings: ClassVar[dict[str, Setting]] = {}
    # The least-privilege permissions this kind needs (shown on the connector page and in the README).
    permissions: ClassVar[str] = ""
    # An enforced identity gone from the source (a revoked grant, a deleted key) counts as confirmed.
    gone_confirms_enforcement: ClassVar[bool] = False

    def __init__(self, connector):
        self.connector = connector
        self.config = {key: connector.config.get(key, s.default) for key, s in self.settings.items()}

    def discover(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Yield the source's identities page by page, from `cursor` ({} at the start)."""
        raise NotImplementedError

    def disable(self, record) -> dict[str, Any]:
        """Disable the identity of this SourceRecord at the source; return what was changed."""
        raise NotImplementedError

    def revoke(self, record, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
        """Take these entitlements (as stored on the record) away at the source; return what changed."""
        raise NotImplementedError

    def worker_credential(self) -> WorkerCredential | None:
        """Describe the credential the worker's environment supplies, or None when there is none."""
        return None

    @staticmethod
    def confirms_revoke(found: FoundIdentity, removed_refs: list[str]) -> bool:
        return not ({e.ref for e in found.entitlements} & set(removed_refs))


_kinds: dict[str, type[BaseConnector]] = {}


def register(cls: type[BaseConnector]) -> type[BaseConnector]:
    _kinds[cls.kind] = cls
    return cls


def get(kind: str) -> type[BaseConnector]:
    return _kinds[kind]


def available() -> dict[str, type[BaseConnector]]:
    return dict(_kinds)
