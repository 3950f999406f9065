"""Reminders and escalation: one digest per person per day, each item recorded before it is sent.

Provider interface
------------------
A feature adds what its people must act on by registering a *reminder source*::

    from governance.jobs import registry
    registry.register_reminder_source("reviews", due_items)  # in the feature's jobs module

The source is called as ``source(now)`` and returns an iterable of `Due` records. It must use a
fixed number of set-based queries (no query per item). Fields of `Due`:

- ``recipient_id``: the user who must act (an active user; inactive ones are dropped).
- ``subject_type`` / ``subject_id``: what the reminder is about, e.g. ``"approvals.intakerequest"``, 17.
- ``kind``: ``"due_soon"``, ``"overdue"`` or ``"open"`` (see `Reminder.Kind`).
- ``title``, ``why`` (one line each) and ``url`` (a path such as ``/approvals/17/``).
- ``escalate``: for overdue items — also remind the recipient's manager and every IAM approver.
  Escalations cannot be opted out of.
- ``cadence``: ``"day"`` or ``"week"`` — the window in which this reminder is sent at most once.
- ``section``: the digest heading (``"Reviews"``, ``"Approvals"``, ``"Exceptions"``, ``"Findings"``…).

How a run works (safe to repeat and to overlap):

1. every source's items (plus their escalations) are written as `Reminder` rows with
   ``bulk_create(ignore_conflicts=True)`` under a fresh claim token — a row that exists for the same
   recipient, subject, kind and window is left alone, so a rerun records nothing new, and a job that
   was down for three days writes today's window once, not one row per missed day;
2. each recipient's daily digest is claimed the same way (a ``digest`` row per person and day), so
   only one run mails a person on a given day;
3. the digest lists the rows this run created (plus unsent rows left by a crashed run), and the rows
   are marked sent after the mail goes. Mail is Django mail; when ``approvals.notifications`` offers
   ``emit(event, payload)`` the same digest also goes to its webhook channel.

One dedupe window, one style (issue 22 item 9). A person hears about a subject at most once a day,
whichever path tells them: the daily digest, or a person's "Send reminders now" (`send_now`), which
records the same rows and mails them at once in the digest's own subject and layout. An item already
recorded today for that recipient and subject, of any kind and window, is left out of both.

Escalations are audited (`reminder.escalated`, actor ``system:reminders``): which subject, to whom,
overdue with whom and when, so the audit log shows who was escalated to.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from governance import audit, links
from governance.actors import system
from governance.jobs import registry
from governance.jobs.models import Reminder, ReminderOptOut
from governance.people.models import Role, User

log = logging.getLogger(__name__)

Kind = Reminder.Kind
CHUNK = 500
ORPHAN_AFTER = timedelta(hours=1)  # unsent rows older than this were left by a run that died
DIGEST_SECTION_MAX = 100
SECTION_ORDER = ["Escalations", "Approvals", "Reviews", "Exceptions", "Findings", "Credentials"]


@dataclass
class Due:
    recipient_id: int
    subject_type: str
    subject_id: str | int
    kind: str
    title: str
    why: str = ""
    url: str = ""
    escalate: bool = False
    cadence: str = "day"
    section: str = ""


def window_for(cadence: str, day: date) -> str:
    if cadence == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def _collect(now: datetime) -> list[Due]:
    items: list[Due] = []
    for name, source in registry.reminder_sources():
        try:
            items.extend(source(now))
        except Exception:  # one broken source must not stop everyone else's reminders
            log.exception("reminder source %s failed", name)
    return items


def _with_escalations(items: list[Due], people: dict[int, dict], iam_ids: list[int]) -> list[Due]:
    """Add, for each overdue item marked `escalate`, one for the manager and one for each IAM approver."""
    out = list(items)
    # Someone already reminded of the subject directly (e.g. an IAM approver of an overdue request)
    # needs no escalation about it as well.
    direct: dict[tuple, set[int]] = defaultdict(set)
    for item in items:
        direct[(item.subject_type, str(item.subject_id))].add(item.recipient_id)
    for item in items:
        if not item.escalate or item.recipient_id not in people:
            continue
        who = people[item.recipient_id]
        targets = set(iam_ids)
        if who["manager_id"] and who["manager_id"] in people:
            targets.add(who["manager_id"])
        targets -= direct[(item.subject_type, str(item.subject_id))]
        for target in targets:
            out.append(
                Due(
                    recipient_id=target,
                    subject_type=item.subject_type,
                    subject_id=item.subject_id,
                    kind=Kind.ESCALATION,
                    title=item.title,
                    why=f"Overdue with {who['name']}: {item.why}",
                    url=item.url,
                    cadence="week",
                    section="Escalations",
                )
            )
    return out


def _people() -> dict[int, dict]:
    return {
        row["id"]: {**row, "name": row["display_name"] or row["username"]}
        for row in User.objects.filter(is_active=True).values(
            "id", "username", "display_name", "email", "manager_id"
        )
    }


def _start_of_day(now: datetime) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(now), datetime.min.time()))


def _reminded_today(now: datetime) -> set[tuple[int, str, str]]:
    """(recipient, subject type, subject id) already recorded today, on any path, of any kind."""
    return set(
        Reminder.objects.filter(created_at__gte=_start_of_day(now), created_at__lte=now)
        .exclude(kind=Kind.DIGEST)
        .values_list("recipient_id", "subject_type", "subject_id")
    )


def _record(items: list[Due], now: datetime, token: str) -> dict[tuple, Reminder]:
    """Write the items as `Reminder` rows under `token`; returns every item's row, written or not.

    Not written: a row for the same window (the unique constraint), or any row recorded today for
    the same person and subject (another path reminded them already)."""
    day = timezone.localdate(now)
    rows: dict[tuple, Reminder] = {}
    for item in items:
        key = (item.recipient_id, item.subject_type, str(item.subject_id), item.kind)
        rows.setdefault(
            key,
            Reminder(
                recipient_id=item.recipient_id,
                subject_type=item.subject_type,
                subject_id=str(item.subject_id),
                kind=item.kind,
                window=window_for(item.cadence, day),
                title=item.title[:300],
                why=(item.why or "")[:300],
                url=(item.url or "")[:500],
                created_at=now,
                claim=token,
            ),
        )
    today = _reminded_today(now)
    new = [r for r in rows.values() if (r.recipient_id, r.subject_type, r.subject_id) not in today]
    Reminder.objects.bulk_create(new, ignore_conflicts=True, batch_size=CHUNK)
    return rows


def _sections(items: list[Due]) -> dict[tuple[str, str], str]:
    return {(i.subject_type, str(i.subject_id)): i.section for i in items if i.kind != Kind.ESCALATION}


def _audit_escalations(items: list[Due], token: str, people: dict[int, dict], now: datetime) -> int:
    """One audit event per escalated subject that this run recorded: to whom, overdue with whom."""
    recorded = set(
        Reminder.objects.filter(claim=token, kind=Kind.ESCALATION).values_list(
            "recipient_id", "subject_type", "subject_id"
        )
    )
    by_subject: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        key = (item.subject_type, str(item.subject_id))
        if item.kind != Kind.ESCALATION or (item.recipient_id, *key) not in recorded:
            continue
        entry = by_subject.setdefault(key, {"title": item.title, "why": item.why, "to": set()})
        entry["to"].add(people[item.recipient_id]["username"])
    if not by_subject:
        return 0
    with transaction.atomic():
        audit.record_many(
            system("reminders"),
            [
                {
                    "verb": "reminder.escalated",
                    # The subject itself (a request, a campaign), not the reminder's key "17:42".
                    "subject": (subject_type, subject_id.split(":")[0], entry["title"][:255]),
                    "after": {
                        "escalated_to": sorted(entry["to"]),
                        "at": now.isoformat(),
                        "why": entry["why"],
                    },
                    "reason": entry["why"],
                }
                for (subject_type, subject_id), entry in sorted(by_subject.items())
            ],
        )
    return len(by_subject)


def run_reminders(now: datetime, connection=None) -> dict[str, Any]:
    """One run of the daily reminders; `connection` overrides the mail connection (the demo's seed
    records its first digests without printing them)."""
    token = uuid.uuid4().hex
    day = timezone.localdate(now)
    today = window_for("day", day)
    people = _people()
    iam_ids = list(
        User.objects.filter(is_active=True, groups__name=Role.IAM).values_list("id", flat=True).distinct()
    )
    items = [i for i in _with_escalations(_collect(now), people, iam_ids) if i.recipient_id in people]

    # 1. Record before sending; a row recorded today for the same person and subject (on any path,
    #    the digest or "Send reminders now") or for the same window means "already reminded".
    rows = _record(items, now, token)
    sections = _sections(items)
    escalated = _audit_escalations(items, token, people, now)
    # Rows a dead run left unsent are taken over (never rows a live run created a moment ago).
    Reminder.objects.filter(sent_at__isnull=True, created_at__lt=now - ORPHAN_AFTER).exclude(
        kind=Kind.DIGEST
    ).update(claim=token)
    pending = list(
        Reminder.objects.filter(claim=token, sent_at__isnull=True)
        .exclude(kind=Kind.DIGEST)
        .order_by("recipient_id", "kind", "id")
        .values("id", "recipient_id", "subject_type", "subject_id", "kind", "title", "why", "url")
    )

    # 2. Routine items of people who opted out are recorded as such; overdue and escalations still go.
    opted_out = set(ReminderOptOut.objects.values_list("user_id", flat=True))
    muted = [
        p["id"] for p in pending if p["recipient_id"] in opted_out and p["kind"] in (Kind.OPEN, Kind.DUE_SOON)
    ]
    _mark(muted, now, "opted_out")
    muted_set = set(muted)
    by_person: dict[int, list[dict]] = defaultdict(list)
    for p in pending:
        if p["id"] not in muted_set:
            by_person[p["recipient_id"]].append(p)

    # 3. One digest per person per day: whoever inserts today's digest row sends it.
    Reminder.objects.bulk_create(
        [
            Reminder(
                recipient_id=pid,
                subject_type="governance.user",
                subject_id=str(pid),
                kind=Kind.DIGEST,
                window=today,
                title=f"{len(entries)} item(s)",
                created_at=now,
                claim=token,
            )
            for pid, entries in by_person.items()
        ],
        ignore_conflicts=True,
        batch_size=CHUNK,
    )
    mine = set(
        Reminder.objects.filter(kind=Kind.DIGEST, window=today, claim=token).values_list(
            "recipient_id", flat=True
        )
    )
    sent_ids: list[int] = []
    failed: list[int] = []
    connection = connection or get_connection()
    for pid in sorted(mine):
        entries = by_person[pid]
        try:
            _deliver(people[pid], entries, sections, day, connection)
        except Exception:  # noqa: BLE001 - recorded; retried by the next run
            log.exception("reminder digest to user %s failed", pid)
            failed.append(pid)
            continue
        sent_ids.extend(e["id"] for e in entries)
    _mark(sent_ids, now, "sent")
    if failed:  # give today's digest back so a rerun can try again
        Reminder.objects.filter(kind=Kind.DIGEST, window=today, claim=token, recipient_id__in=failed).delete()
    return {
        "recorded": len(rows),
        "pending": len(pending),
        "digests_sent": len(mine) - len(failed),
        "items_sent": len(sent_ids),
        "escalations": sum(1 for i in items if i.kind == Kind.ESCALATION),
        "escalated_subjects": escalated,
        "opted_out": len(muted),
        "failed": len(failed),
    }


def send_now(items: list[Due], now: datetime) -> dict[int, list[dict]]:
    """Someone asked for these reminders now ("Send reminders now"): record them as the digest does,
    then mail them in the digest's style (`deliver_now`, after the caller's commit).

    Returns, per recipient, the entries recorded now; people reminded of a subject today (by the
    digest or by an earlier press) are left out, so nobody hears of the same item twice in a day."""
    token = uuid.uuid4().hex
    people = _people()
    _record([i for i in items if i.recipient_id in people], now, token)
    by_person: dict[int, list[dict]] = defaultdict(list)
    for row in (
        Reminder.objects.filter(claim=token, sent_at__isnull=True)
        .order_by("recipient_id", "kind", "id")
        .values("id", "recipient_id", "subject_type", "subject_id", "kind", "title", "why", "url")
    ):
        by_person[row["recipient_id"]].append(row)
    sections = _sections(items)
    for entries in by_person.values():
        for entry in entries:
            entry["section"] = sections.get((entry["subject_type"], entry["subject_id"]), "")
    return dict(by_person)


def deliver_now(batch: dict[int, list[dict]], now: datetime) -> int:
    """Mail what `send_now` recorded, one message per person in the digest's style; rows are marked
    sent once their mail went. A failed mail leaves its rows for the next digest to take over."""
    people = _people()
    day = timezone.localdate(now)
    connection = get_connection()
    sent: list[int] = []
    for pid, entries in sorted(batch.items()):
        if pid not in people:
            continue
        sections = {(e["subject_type"], e["subject_id"]): e.get("section", "") for e in entries}
        try:
            _deliver(people[pid], entries, sections, day, connection)
        except Exception:  # noqa: BLE001 - the rows stay unsent; the daily digest takes them over
            log.exception("reminders sent now to user %s failed", pid)
            continue
        sent.extend(e["id"] for e in entries)
    _mark(sent, now, "sent")
    return len(sent)


def _mark(ids: list[int], now: datetime, outcome: str) -> None:
    for start in range(0, len(ids), CHUNK):
        Reminder.objects.filter(pk__in=ids[start : start + CHUNK], sent_at__isnull=True).update(
            sent_at=now, claim=outcome
        )


def _digest_sections(entries: list[dict], sections: dict) -> list[dict]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        if entry["kind"] == Kind.ESCALATION:
            name = "Escalations"
        else:
            name = sections.get((entry["subject_type"], entry["subject_id"])) or "Other"
        grouped[name].append({**entry, "link": links.absolute(entry["url"]) if entry["url"] else ""})
    order = {name: i for i, name in enumerate(SECTION_ORDER)}
    return [
        {
            "name": name,
            "items": items[:DIGEST_SECTION_MAX],
            "more": max(0, len(items) - DIGEST_SECTION_MAX),
        }
        for name, items in sorted(grouped.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]


def _deliver(person: dict, entries: list[dict], sections: dict, day: date, connection) -> None:
    digest = _digest_sections(entries, sections)
    escalations = sum(1 for e in entries if e["kind"] == Kind.ESCALATION)
    overdue = sum(1 for e in entries if e["kind"] == Kind.OVERDUE)
    subject = f"Steward: {len(entries)} item(s) need your attention"
    if overdue or escalations:
        subject += f" ({overdue + escalations} overdue)"
    context = {
        "person": person,
        "sections": digest,
        "day": day,
        "base_url": settings.STEWARD_BASE_URL,
        "count": len(entries),
    }
    if person["email"]:
        message = EmailMultiAlternatives(
            subject,
            render_to_string("governance/email/reminder_digest.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [person["email"]],
            connection=connection,
        )
        message.attach_alternative(
            render_to_string("governance/email/reminder_digest.html", context), "text/html"
        )
        message.send()
