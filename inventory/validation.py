"""Input validation shared by the inventory services, the API and the importer.

Each function raises Django's ValidationError keyed by field, so every caller can show per-field
messages (HTTP 400) before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from inventory.models import (
    RESOURCE_NAME_LENGTH,
    TEXT_LENGTHS,
    Action,
    Credential,
    DataClassification,
    Environment,
    Identity,
    ResourceKind,
)
from inventory.secrets_guard import SECRET_MESSAGE, looks_like_secret

# Times outside these years are typing mistakes (9999, 1800), not credentials or grants; refusing
# them also keeps every time far from datetime's limits, where a zone offset would overflow.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100


def _choices_error(value: Any, choices: Iterable[str], label: str) -> str | None:
    allowed = list(choices)
    if value not in allowed:
        return f"'{value}' is not a valid {label}. Choose one of: {', '.join(allowed)}."
    return None


def validate_grants(grants: list[dict[str, Any]], field: str = "grants") -> list[dict[str, Any]]:
    """Check grant dicts (resource_kind, resource_name, actions, expires_at); return cleaned copies."""
    errors: list[str] = []
    cleaned = []
    if not isinstance(grants, list):
        raise ValidationError({field: "Give a list of grants."})
    for index, grant in enumerate(grants, start=1):
        if not isinstance(grant, dict):
            errors.append(f"Grant {index}: must be an object.")
            continue
        kind = grant.get("resource_kind")
        name = (grant.get("resource_name") or "").strip()
        actions = grant.get("actions") or []
        if err := _choices_error(kind, ResourceKind.values, "resource kind"):
            errors.append(f"Grant {index}: {err}")
        if not name:
            errors.append(f"Grant {index}: resource_name is required.")
        elif len(name) > RESOURCE_NAME_LENGTH:
            errors.append(f"Grant {index}: resource_name has at most {RESOURCE_NAME_LENGTH} characters.")
        if not isinstance(actions, list) or not actions:
            errors.append(f"Grant {index}: give at least one action.")
            actions = []
        for action in actions:
            if err := _choices_error(action, Action.values, "action"):
                errors.append(f"Grant {index}: {err}")
        expires_at, err = parse_time(grant.get("expires_at"))
        if err:
            errors.append(f"Grant {index}: expires_at {err}")
        elif expires_at and expires_at <= timezone.now():
            errors.append(f"Grant {index}: expires_at must be in the future.")
        cleaned.append(
            {
                "resource_kind": kind,
                "resource_name": name,
                "actions": sorted(set(actions)),
                "expires_at": expires_at or None,
            }
        )
    if errors:
        raise ValidationError({field: errors})
    return cleaned


CREDENTIAL_FIELDS = ("kind", "label", "storage", "issued_at", "expires_at", "last_rotated_at")
CREDENTIAL_TIME_FIELDS = ("issued_at", "expires_at", "last_rotated_at")


def parse_time(value: Any) -> tuple[datetime | None, str | None]:
    """An ISO 8601 time (string or datetime) -> aware datetime; (None, message) when malformed.

    A bare date (YYYY-MM-DD) means midnight UTC; a time without a zone is taken as UTC. Years outside
    EARLIEST_YEAR..LATEST_YEAR are refused.
    """
    if value in (None, ""):
        return None, None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, datetime.min.time())
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text) or (
                datetime.combine(parse_date(text), datetime.min.time()) if parse_date(text) else None
            )
        except ValueError:
            parsed = None
        if parsed is None:
            return None, f"'{value}' is not an ISO 8601 time (e.g. 2026-05-01T09:00:00Z)."
    else:
        return None, f"'{value}' is not an ISO 8601 time (e.g. 2026-05-01T09:00:00Z)."
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        return None, f"'{value}' is out of range: give a time between {EARLIEST_YEAR} and {LATEST_YEAR}."
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed, None


def _check_credential(cred: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """One credential's metadata -> (cleaned copy, [(field or None, message)])."""
    problems: list[tuple[str | None, str]] = []
    if err := _choices_error(cred.get("kind"), Credential.Kind.values, "credential kind"):
        problems.append(("kind", err))
    for key in ("label", "storage"):
        value = cred.get(key)
        if value is not None and not isinstance(value, str):
            problems.append((key, "must be text."))
        elif looks_like_secret(value):
            problems.append((key, SECRET_MESSAGE))
        elif value and len(value) > 200:
            problems.append((key, "at most 200 characters."))
    extra = set(cred) - set(CREDENTIAL_FIELDS)
    if extra:
        problems.append(
            (
                None,
                f"unknown fields {', '.join(sorted(extra))}; "
                "secret values are never accepted, only metadata.",
            )
        )
    item: dict[str, Any] = {
        "kind": cred.get("kind"),
        "label": (cred.get("label") or "").strip() if isinstance(cred.get("label"), str) else "",
        "storage": (cred.get("storage") or "").strip() if isinstance(cred.get("storage"), str) else "",
    }
    for key in CREDENTIAL_TIME_FIELDS:
        item[key], err = parse_time(cred.get(key))
        if err:
            problems.append((key, err))
    return item, problems


def validate_credentials(credentials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check credential metadata; refuse anything that looks like a secret value."""
    errors: list[str] = []
    cleaned = []
    if not isinstance(credentials, list):
        raise ValidationError({"credentials": "Give a list of credentials."})
    for index, cred in enumerate(credentials, start=1):
        if not isinstance(cred, dict):
            errors.append(f"Credential {index}: must be an object.")
            continue
        item, problems = _check_credential(cred)
        for key, message in problems:
            where = f"Credential {index}" if key in (None, "kind") else f"Credential {index} {key}"
            errors.append(f"{where}: {message}")
        cleaned.append(item)
    if errors:
        raise ValidationError({"credentials": errors})
    return cleaned


def validate_credential(cred: dict[str, Any]) -> dict[str, Any]:
    """One credential's metadata, with errors keyed by field (a form or a single API call)."""
    if not isinstance(cred, dict):
        raise ValidationError({"detail": "Give the credential as an object."})
    item, problems = _check_credential(cred)
    if problems:
        errors: dict[str, list[str]] = {}
        for key, message in problems:
            errors.setdefault(key or "detail", []).append(message[:1].upper() + message[1:])
        raise ValidationError(errors)
    return item


def validate_identity_fields(data: dict[str, Any], *, status: str) -> None:
    errors: dict[str, list[str]] = {}
    if "kind" in data and (err := _choices_error(data["kind"], Identity.Kind.values, "kind")):
        errors.setdefault("kind", []).append(err)
    if "environments" in data:
        envs = data["environments"]
        if not isinstance(envs, list):
            errors.setdefault("environments", []).append("Give a list of environments.")
        else:
            for env in envs:
                if err := _choices_error(env, Environment.values, "environment"):
                    errors.setdefault("environments", []).append(err)
    if "data_classification" in data and (
        err := _choices_error(data["data_classification"], DataClassification.values, "data classification")
    ):
        errors.setdefault("data_classification", []).append(err)
    if "risk_tier" in data and (
        err := _choices_error(data["risk_tier"], Identity.RiskTier.values, "risk tier")
    ):
        errors.setdefault("risk_tier", []).append(err)
    owner, backup = data.get("owner"), data.get("backup_owner")
    if owner is not None and backup is not None and owner == backup:
        errors.setdefault("backup_owner", []).append(
            "The backup owner must be a different person from the owner."
        )
    if status == Identity.Status.ACTIVE and owner is None:
        errors.setdefault("owner", []).append("An active identity must have an owner.")
    for key in ("name", "purpose", "vendor", "product", "model_name", "source", "external_id"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            errors.setdefault(key, []).append("Must be text.")
        elif key not in ("source", "external_id") and looks_like_secret(value):
            # External ids are often UUIDs or ARNs: high-entropy, yet not secrets.
            errors.setdefault(key, []).append(SECRET_MESSAGE)
        elif value and key in TEXT_LENGTHS and len(value) > TEXT_LENGTHS[key]:
            errors.setdefault(key, []).append(f"At most {TEXT_LENGTHS[key]} characters.")
    if "name" in data and not (data.get("name") or "").strip():
        errors.setdefault("name", []).append("A name is required.")
    if "autonomous" in data and not isinstance(data["autonomous"], bool):
        errors.setdefault("autonomous", []).append("Must be true or false.")
    if errors:
        raise ValidationError(errors)
