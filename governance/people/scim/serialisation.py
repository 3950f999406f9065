"""Steward's people and groups as SCIM resources, and SCIM resources as the plain values the services
write. Every value is checked here against what the columns hold (length, NUL bytes, the username
rule), so that odd input is a SCIM 400 `invalidValue`, never a database error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from scim2_models import InvalidValueException, Meta

from governance.people.models import ScimGroup, User
from governance.people.scim import provider


@dataclass
class UserData:
    username: str
    active: bool
    external_id: str | None = None
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    emails: list[dict[str, Any]] = field(default_factory=list)

    @property
    def email(self) -> str:
        return primary_email(self.emails)


@dataclass
class GroupData:
    display_name: str
    external_id: str = ""
    member_ids: list[str] = field(default_factory=list)


def as_pk(value: Any) -> int | None:
    """A SCIM id as a primary key, or None when it cannot be one (ids are Steward's integer keys)."""
    text = str(value) if value is not None else ""
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def primary_email(emails: list[dict[str, Any]]) -> str:
    """The address Steward uses: the one marked primary, else the first."""
    chosen = next((e for e in emails if e.get("primary")), emails[0] if emails else {})
    return chosen.get("value") or ""


def _text(value: Any, model, field_name: str, attribute: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValueException(detail=f"'{attribute}' must be a string.")
    if required and not value.strip():
        raise InvalidValueException(detail=f"'{attribute}' must not be empty.")
    if "\x00" in value:
        raise InvalidValueException(detail=f"'{attribute}' must not contain NUL characters.")
    limit = model._meta.get_field(field_name).max_length
    if limit and len(value) > limit:
        raise InvalidValueException(detail=f"'{attribute}' is longer than {limit} characters.")
    return value


def _emails(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    emails = []
    for entry in values:
        cleaned = {}
        for key in ("value", "type", "display"):
            if entry.get(key) is not None:
                limit = 254 if key == "value" else 100
                text = _text(entry[key], User, "email", f"emails.{key}")
                if len(text) > limit:
                    raise InvalidValueException(detail=f"'emails.{key}' is longer than {limit} characters.")
                cleaned[key] = text
        if entry.get("primary") is not None:
            cleaned["primary"] = bool(entry["primary"])
        if cleaned:
            emails.append(cleaned)
    if sum(1 for e in emails if e.get("primary")) > 1:
        raise InvalidValueException(detail="At most one of 'emails' may be primary.")
    return emails


def user_data(resource) -> UserData:
    """The values of a validated SCIM User resource (creation, replacement or patched state)."""
    data = resource.model_dump(mode="json")
    username = _text(data.get("userName"), User, "username", "userName", required=True)
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise InvalidValueException(
            detail="'userName' may hold only letters, digits and the characters @ . + - _ (no spaces)."
        )
    name = data.get("name") or {}
    external_id = _text(data.get("externalId"), User, "scim_external_id", "externalId") or None
    return UserData(
        username=username,
        active=data.get("active") is not False,
        external_id=external_id,
        given_name=_text(name.get("givenName"), User, "first_name", "name.givenName"),
        family_name=_text(name.get("familyName"), User, "last_name", "name.familyName"),
        display_name=_text(data.get("displayName"), User, "display_name", "displayName"),
        emails=_emails(data.get("emails") or []),
    )


def group_data(resource) -> GroupData:
    data = resource.model_dump(mode="json")
    members = []
    for member in data.get("members") or []:
        value = member.get("value")
        if not value:
            raise InvalidValueException(detail="Every member needs the 'value' of a User's id.")
        if member.get("type") not in (None, "User"):
            raise InvalidValueException(detail="Steward's groups hold Users only; groups do not nest.")
        members.append(str(value))
    return GroupData(
        display_name=_text(data.get("displayName"), ScimGroup, "display_name", "displayName", required=True),
        external_id=_text(data.get("externalId"), ScimGroup, "external_id", "externalId"),
        member_ids=list(dict.fromkeys(members)),
    )


def _emails_of(user: User) -> list[dict[str, Any]]:
    """What SCIM wrote, while its primary address is still the account's; else the account's address
    (changed in Steward since, or never sent by SCIM)."""
    if user.scim_emails and primary_email(user.scim_emails) == user.email:
        return user.scim_emails
    return [{"value": user.email, "primary": True}] if user.email else []


def user_resource(user: User):
    """The SCIM User of a person. Expects `scim_groups` prefetched (or pays a query)."""
    name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
    groups = [
        {"value": str(group.pk), "$ref": f"Groups/{group.pk}", "display": group.display_name}
        for group in user.scim_groups.all()
    ]
    values = {
        "id": str(user.pk),
        "externalId": user.scim_external_id or None,
        "userName": user.username,
        "name": name or None,
        "displayName": user.display_name or None,
        "active": user.is_active,
        "emails": _emails_of(user) or None,
        "groups": groups or None,
    }
    resource = provider.model("User").model_validate({k: v for k, v in values.items() if v is not None})
    # Steward keeps no modification time for people: only when the account was created.
    resource.meta = Meta(resource_type="User", created=user.date_joined)
    return resource


def group_resource(group: ScimGroup):
    """The SCIM Group. Expects `members` prefetched (or pays a query)."""
    members = [
        {"value": str(user.pk), "$ref": f"Users/{user.pk}", "type": "User"} for user in group.members.all()
    ]
    values = {
        "id": str(group.pk),
        "externalId": group.external_id or None,
        "displayName": group.display_name,
        "members": members or None,
    }
    resource = provider.model("Group").model_validate({k: v for k, v in values.items() if v is not None})
    resource.meta = Meta(resource_type="Group", created=group.created_at, last_modified=group.updated_at)
    return resource
