"""{% load history %}: audit history people can read (issue 22 item 3).

An audit event stores its change as two JSON objects (`before`, `after`) keyed by field name, with the
values as stored (`{"risk_tier": "critical"}`, `{"actions": ["open_pr"]}`). These tags turn that into
rows a person reads: the field's verbose name from the subject's model, enum values as the labels of
the model's choices, before → after per field, and the subject as a named, linked page. Nothing here
touches the database: labels come from model metadata, links from the subject's type and id, so a
page of events costs no extra query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from django import template
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.text import capfirst
from django.utils.translation import get_language

from inventory.models import Action, DataClassification, Environment, ResourceKind, RiskTier

register = template.Library()

# Enum value lists whose field names are the same on every model (and in events about rows that are
# not models, like approval steps): a field of the subject's model with its own choices wins.
ENUMS: dict[str, type[models.TextChoices]] = {
    "action": Action,
    "actions": Action,
    "resource_kind": ResourceKind,
    "environment": Environment,
    "environments": Environment,
    "risk_tier": RiskTier,
    "tier": RiskTier,
    "tier_floor": RiskTier,
    "data_classification": DataClassification,
}
# Keys that are not model fields but appear in many events.
KEY_LABELS = {
    "step": "Step",
    "next": "Next step",
    "final_step": "Final step",
    "steps": "Steps",
    "identity": "Identity",
    "scope_change": "Scope change",
    "reactivation_request": "Reactivation request",
}
EMPTY = "—"


@dataclass(frozen=True)
class ChangeRow:
    field: str
    label: str
    before: str
    after: str
    changed: bool
    has_before: bool
    has_after: bool


def model_for(subject_type: str | None) -> type[models.Model] | None:
    """The model named by an audit subject type ("inventory.identity"), or None."""
    if not subject_type or "." not in subject_type:
        return None
    try:
        return apps.get_model(subject_type)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None


# A page of the audit log labels the same few fields of the same models fifty times; each label and
# choice list is worked out once per model, field and language (translating every choice of a field
# for each row was a fifth of the page).
def field_label(model: type[models.Model] | None, name: str) -> str:
    """The field's verbose name ("Risk tier"), else a readable form of the key."""
    return _field_label(model, name, get_language())


@lru_cache(maxsize=2048)
def _field_label(model: type[models.Model] | None, name: str, language: str | None) -> str:
    field = _field(model, name)
    if field is not None and field.verbose_name:
        return capfirst(str(field.verbose_name))
    if name in KEY_LABELS:
        return KEY_LABELS[name]
    return capfirst(name.replace("_", " "))


def _choices_for(model: type[models.Model] | None, name: str) -> Mapping[str, str]:
    return _choices_in(model, name, get_language())


@lru_cache(maxsize=2048)
def _choices_in(model: type[models.Model] | None, name: str, language: str | None) -> Mapping[str, str]:
    """Read only (a view of the dict): every caller shares the cached one."""
    field = _field(model, name)
    if field is not None:
        base = getattr(field, "base_field", None)  # an ArrayField's items
        for candidate in (field, base):
            if candidate is not None and candidate.choices:
                return MappingProxyType({str(value): str(label) for value, label in candidate.flatchoices})
    enum = ENUMS.get(name)
    return MappingProxyType({value: str(label) for value, label in enum.choices} if enum else {})


def value_label(value: Any, choices: Mapping[str, str] | None = None) -> str:
    """One stored value as a person reads it: choice labels, yes/no, lists joined, "—" for nothing."""
    choices = choices or {}
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return ", ".join(value_label(item, choices) for item in value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = str(value)
    return capfirst(choices[text]) if text in choices else text


def change_rows(subject_type: str | None, before: Any, after: Any) -> list[ChangeRow]:
    """Before → after per field, labelled from the subject's model; fields in the order first seen."""
    model = model_for(subject_type)
    before = before if isinstance(before, dict) else ({} if before in (None, "") else {"value": before})
    after = after if isinstance(after, dict) else ({} if after in (None, "") else {"value": after})
    rows = []
    for name in list(dict.fromkeys([*before, *after])):
        choices = _choices_for(model, name)
        old, new = before.get(name), after.get(name)
        rows.append(
            ChangeRow(
                field=name,
                label=field_label(model, name),
                before=value_label(old, choices),
                after=value_label(new, choices),
                changed=name in before and name in after and old != new,
                has_before=name in before,
                has_after=name in after,
            )
        )
    return rows


def subject_type_label(subject_type: str | None) -> str:
    """ "governance.reviewitem" → "Review item" (the model's verbose name)."""
    model = model_for(subject_type)
    if model is None:
        return capfirst((subject_type or "").rpartition(".")[2].replace("_", " "))
    return capfirst(str(model._meta.verbose_name))


def subject_url(subject_type: str | None, subject_id: Any) -> str:
    """The subject's page, when its URL needs only its id ('' otherwise: no query to find out)."""
    model = model_for(subject_type)
    if model is None or not hasattr(model, "get_absolute_url") or not str(subject_id or "").isdigit():
        return ""
    try:
        url = model(pk=int(subject_id)).get_absolute_url()
    except (AttributeError, TypeError, ValueError, NoReverseMatch, FieldDoesNotExist, LookupError):
        return ""
    except models.ObjectDoesNotExist:
        return ""
    return url if url and "None" not in url else ""


def raw_json(before: Any, after: Any) -> str:
    return json.dumps(
        {"before": before, "after": after}, indent=2, ensure_ascii=False, sort_keys=True, default=str
    )


# ---------------------------------------------------------------- template API


@register.inclusion_tag("governance/_change.html")
def audit_change(event, raw: bool = True):
    """{% audit_change event %}: the event's before → after rows and the raw JSON toggle."""
    return {
        "rows": change_rows(event.subject_type, event.before, event.after),
        "raw": raw_json(event.before, event.after) if raw and (event.before or event.after) else "",
        "event_id": getattr(event, "pk", None) or "",
    }


@register.inclusion_tag("governance/_change.html")
def field_changes(subject_type: str, changes: dict, action: str = "update"):
    """{% field_changes "inventory.identity" row.changes row.action %}: an import preview's
    {field: {from, to}}; a row to create has no "before"."""
    before = {} if action == "create" else {name: change.get("from") for name, change in changes.items()}
    after = {name: change.get("to") for name, change in changes.items()}
    return {"rows": change_rows(subject_type, before, after), "raw": "", "event_id": ""}


@register.simple_tag
def subject_link(event) -> dict[str, str]:
    """{% subject_link event as subject %}: {label, kind, url} for the event's subject."""
    return {
        "label": event.subject_label or f"#{event.subject_id}",
        "kind": subject_type_label(event.subject_type),
        "url": subject_url(event.subject_type, event.subject_id),
    }


@register.filter
def enum_label(value: Any, enum: str) -> str:
    """{{ a|enum_label:"action" }} → "Open pull requests"; unknown values pass through."""
    choices = {v: str(label) for v, label in ENUMS[enum].choices} if enum in ENUMS else {}
    return value_label(value, choices)


@register.filter
def model_label(subject_type: str) -> str:
    return subject_type_label(subject_type)
