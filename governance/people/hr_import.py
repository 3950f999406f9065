"""The HR leavers import: a CSV of people who left, each deactivated as `system:hr_import`.

Columns: `username` or `email` (either names the person; when both are given they must agree) and
`left_on` (YYYY-MM-DD, not in the future). The header is row 1, so the first person is row 2, as a
spreadsheet shows it. Every problem is reported with its row before anything is written; the
deactivations then run in one transaction through `deactivate_user`, which triggers the departure
handling (backup promoted or identity orphaned) for each — all of them or none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from governance.actors import system
from governance.people.models import User
from governance.people.services import deactivate_user

ACTOR = system("hr_import")
MAX_ROWS = 10_000


class LeaversRejected(Exception):
    """The file cannot be imported; `errors` lists one message per problem, each naming its row."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Leaver:
    row: int
    user: User
    left_on: date


def _rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {(name or "").strip().lower() for name in reader.fieldnames or []}
    if "left_on" not in header or not header & {"username", "email"}:
        raise LeaversRejected(["row 1: the header needs a username or email column and left_on."])
    rows = []
    try:
        for raw in reader:
            clean = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not any(clean.values()):
                continue  # a blank line
            rows.append((reader.line_num, clean))
            if len(rows) > MAX_ROWS:
                raise LeaversRejected([f"more than {MAX_ROWS} rows; split the file."])
    except csv.Error as exc:
        raise LeaversRejected([f"row {reader.line_num}: not valid CSV: {exc}"]) from exc
    return rows


def parse_leavers(text: str, *, today: date | None = None) -> list[Leaver]:
    """Check the whole file and name the people in it (two queries); raise LeaversRejected on any error."""
    today = today or timezone.localdate()
    rows = _rows(text)
    usernames = {r["username"] for _, r in rows if r.get("username")}
    emails = {r["email"].lower() for _, r in rows if r.get("email")}
    by_username = {u.username: u for u in User.objects.filter(username__in=usernames)}
    by_email: dict[str, list[User]] = {}
    for user in User.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=emails):
        by_email.setdefault(user.email_lower, []).append(user)

    errors: list[str] = []
    leavers: dict[int, Leaver] = {}
    for number, row in rows:
        username, email = row.get("username", ""), row.get("email", "").lower()
        try:
            left_on = date.fromisoformat(row.get("left_on", ""))
        except ValueError:
            errors.append(f"row {number}: left_on '{row.get('left_on', '')}' is not a date (YYYY-MM-DD).")
            continue
        if left_on > today:
            errors.append(
                f"row {number}: left_on {left_on} is in the future; import it on or after that day."
            )
            continue
        if not username and not email:
            errors.append(f"row {number}: give a username or an email.")
            continue
        user = by_username.get(username) if username else None
        if username and user is None:
            errors.append(f"row {number}: no user with username '{username}'.")
            continue
        if email:
            matches = by_email.get(email, [])
            if user is None and len(matches) != 1:
                what = "no user" if not matches else f"{len(matches)} users"
                errors.append(f"row {number}: {what} with email '{email}'; give the username.")
                continue
            if user is None:
                user = matches[0]
            elif user not in matches:
                errors.append(
                    f"row {number}: username '{username}' and email '{email}' name different people."
                )
                continue
        leavers.setdefault(user.pk, Leaver(row=number, user=user, left_on=left_on))
    if errors:
        raise LeaversRejected(errors)
    return list(leavers.values())


@transaction.atomic
def import_leavers(text: str, *, source: str = "", today: date | None = None) -> dict[str, list[str]]:
    """Deactivate everyone the file names; people already inactive are left as they are."""
    leavers = parse_leavers(text, today=today)
    result: dict[str, list[str]] = {"deactivated": [], "already_inactive": []}
    suffix = f" ({source})" if source else ""
    for leaver in leavers:
        changed = deactivate_user(
            ACTOR, leaver.user, reason=f"left on {leaver.left_on}, per HR import{suffix}"
        )
        result["deactivated" if changed else "already_inactive"].append(leaver.user.username)
    return result
