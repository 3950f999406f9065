"""Demo people: one user per role, two where separation of duties needs a second person; the demo's
request-time policy, whose release-train carve-out leaves an agent's prod merges without JIT; and
work in flight that exercises every feature (issue 22 item 8): a critical exception two Security
admins approved that expires in days, an approval request overdue and escalated, and a review
campaign whose busiest reviewer has more items than the rubber-stamp threshold."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from approvals.models import ApprovalRequest, IntakeRequest
from approvals.services import intake as intake_services
from governance import audit
from governance.actors import system
from governance.exceptions import services as exceptions
from governance.exceptions.models import PolicyException
from governance.jobs.reminders import run_reminders
from governance.people.models import Role, Team, User
from governance.policy import cedar, cedar_sets
from governance.policy.models import CedarPolicySet
from governance.policy.services import current_policy
from governance.reviews.models import RUBBER_STAMP_COUNT, ReviewCampaign
from governance.reviews.services import launch_campaign
from inventory.models import Identity

DEMO_PASSWORD = "steward-demo"

TEAMS = [
    ("platform", "Platform Engineering"),
    ("payments", "Payments"),
    ("data", "Data & ML"),
    ("security", "Security"),
    ("iam", "Identity & Access"),
    ("mobile", "Mobile"),
]

DEMO_USERS = [
    # username, display name, team, roles, is_staff
    ("owner", "Olivia Owner", "platform", [Role.OWNER], False),
    ("owner2", "Oscar Owner", "payments", [Role.OWNER], False),
    ("iam", "Ines IAM", "iam", [Role.IAM, Role.OWNER], False),
    ("iam2", "Ivan IAM", "iam", [Role.IAM, Role.OWNER], False),
    ("security", "Sam Security", "security", [Role.SECURITY, Role.OWNER], True),
    # Critical exceptions and policy changes take two Security admins.
    ("security2", "Sacha Security", "security", [Role.SECURITY, Role.OWNER], False),
    ("auditor", "Ada Auditor", "security", [Role.AUDITOR], False),
]
EXTRA_OWNERS = [
    ("dana", "Dana Data", "data"),
    ("miles", "Miles Mobile", "mobile"),
    ("pat", "Pat Platform", "platform"),
    ("quinn", "Quinn Payments", "payments"),
    ("leaver", "Lee Leaver", "data"),
    ("hana", "Hana Head of IAM", "iam"),  # the IAM approvers' manager: overdue decisions escalate to her
]


@transaction.atomic
def seed_people(password: str = DEMO_PASSWORD) -> dict[str, User]:
    teams = {}
    for slug, name in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
    groups = {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}
    users: dict[str, User] = {}
    specs = [*DEMO_USERS, *[(u, n, t, [Role.OWNER], False) for u, n, t in EXTRA_OWNERS]]
    for username, display, team, roles, staff in specs:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                display_name=display,
                email=f"{username}@example.com",
                team=teams[team],
                is_staff=staff,
                is_superuser=False,
            )
            user.set_password(password)
            user.save()
            user.groups.set([groups[r] for r in roles])
            audit.record(
                system("seed_demo"),
                "user.created",
                user,
                after={"username": username, "roles": [str(r) for r in roles], "team": team},
            )
        users[username] = user
    # Managers, for escalations.
    managers = {
        "owner": "iam",
        "owner2": "iam",
        "dana": "iam2",
        "miles": "iam2",
        "pat": "iam",
        "quinn": "iam2",
        "leaver": "iam",
        "iam": "hana",
        "iam2": "hana",
    }
    for username, manager in managers.items():
        if users[username].manager_id is None:
            User.objects.filter(pk=users[username].pk).update(manager=users[manager])
    return users


# The demo's story for agent threat profiles (issue 25): Security once let the release train merge to
# release/* repositories in prod without just-in-time access. The "release-train agent" (autonomous,
# merge on release/*) therefore shows ASI02 Tool Misuse uncontrolled and an agent_threat_uncontrolled
# finding; saving and activating the shipped policies again (JIT for every prod merge) closes it at
# the next sweep. No saved test case names release/*, so the carve-out passes them all.
RELEASE_TRAIN_NOTE = (
    "Release train: merges to release/* repositories in prod run without just-in-time access."
)
_JIT_UNLESS = 'context.jit_grant || principal.exceptions.contains("prod_privileged_needs_jit")'
_RELEASE_TRAIN_UNLESS = (
    _JIT_UNLESS + '\n  || (action == Steward::Action::"merge" && resource.name like "release/*")'
)


def release_train_policy_text() -> str:
    text = cedar.default_policy_text()
    assert _JIT_UNLESS in text, "the shipped JIT policy changed; update the demo's carve-out"
    return text.replace(_JIT_UNLESS, _RELEASE_TRAIN_UNLESS, 1)


@transaction.atomic
def seed_release_train_policy() -> CedarPolicySet | None:
    """Save and activate the carve-out once (idempotent); None when it already exists."""
    if CedarPolicySet.objects.filter(note=RELEASE_TRAIN_NOTE).exists():
        return None
    cedar_sets.ensure_defaults()
    actor = system("seed_demo")
    saved = cedar_sets.save_version(
        actor, text=release_train_policy_text(), schema=cedar.default_schema_text(), note=RELEASE_TRAIN_NOTE
    )
    return cedar_sets.activate(actor, saved, reason=RELEASE_TRAIN_NOTE)


# ---------------------------------------------------------------- work in flight (issue 22 item 8)

EXPIRING_EXCEPTION = {
    "identity": "vault-approle-payments",
    "rule": "credential_rotation_overdue",
    "requested_by": "quinn",
    "approvers": ("security", "security2"),  # critical: two different Security admins
    "days_left": 5,
    "justification": (
        "The payments AppRole secret id rotates with the Vault 1.17 migration at the end of the month; "
        "rotating it by hand now would break the ledger jobs mid-quarter."
    ),
    "controls": "Secret id response-wrapped and bound to the ledger CIDR; every use alerts #sec-payments.",
}
OVERDUE_REQUEST = {
    "name": "Claude Code reviewer (platform staging)",
    "requester": "owner",
    "team": "platform",
    "days_waiting": 5,
}
REVIEW_CAMPAIGN = {"name": "Platform access review (demo)", "teams": ["platform"], "due_in_days": 10}


def _expiring_exception(users) -> str | None:
    spec = EXPIRING_EXCEPTION
    identity = Identity.objects.filter(name=spec["identity"]).first()
    if identity is None or PolicyException.objects.filter(identity=identity, rule=spec["rule"]).exists():
        return None
    exc = exceptions.request_exception(
        users[spec["requested_by"]],
        identity=identity,
        rule=spec["rule"],
        justification=spec["justification"],
        compensating_controls=spec["controls"],
        expires_at=timezone.now() + timedelta(days=spec["days_left"]),
    )
    for approver in spec["approvers"]:
        exceptions.approve(users[approver], exc, comment="Compensating controls checked.")
    return f"exception on {identity.name} ({exc.rule}) expires in {spec['days_left']} days"


def _overdue_request(users) -> str | None:
    spec = OVERDUE_REQUEST
    if IntakeRequest.objects.filter(name=spec["name"]).exists():
        return None
    requester = users[spec["requester"]]
    data = {
        "name": spec["name"],
        "kind": "ai_assistant",
        "vendor": "Anthropic",
        "product": "Claude Code",
        "model_name": "claude-sonnet-4-5",
        "purpose": "Reviews pull requests on the platform repositories in staging.",
        "credential_kind": "oidc_federation",
        "data_classification": "internal",
        "autonomous": False,
        "environments": ["staging"],
        "grants": [
            {
                "resource_kind": "repository",
                "resource_name": "platform/*",
                "actions": ["read_code", "open_pr"],
                "expires_at": None,
            }
        ],
        "team": requester.team,
    }
    intake = intake_services.submit(requester, intake_services.create_draft(requester, data))
    # Nobody has decided it for days: its decision is past due, so the reminders escalate it.
    waited = timezone.now() - timedelta(days=spec["days_waiting"])
    reminder_days = int(current_policy().get("request_reminder_days", 3))
    ApprovalRequest.objects.filter(pk=intake.approval.pk).update(
        last_activity_at=waited, due_at=waited + timedelta(days=reminder_days)
    )
    return f"request '{intake.name}' waits {spec['days_waiting']} days for IAM"


def _review_campaign(users) -> str | None:
    spec = REVIEW_CAMPAIGN
    if ReviewCampaign.objects.filter(name=spec["name"]).exists():
        return None
    campaign = launch_campaign(
        users["iam"],
        spec["name"],
        {"teams": spec["teams"]},
        timezone.now() + timedelta(days=spec["due_in_days"]),
    )
    busiest = (
        campaign.items.values("reviewer__username")
        .annotate(n=Count("id"))
        .order_by("-n", "reviewer__username")
        .first()
    )
    return (
        f"review campaign '{campaign.name}': {busiest['reviewer__username']} reviews {busiest['n']} items "
        f"(rubber-stamp threshold {RUBBER_STAMP_COUNT})"
    )


def seed_activity(users) -> list[str]:
    """Work in flight, each piece once (idempotent: skipped when already there). Returns what it made."""
    made = []
    for step in (_expiring_exception, _overdue_request, _review_campaign):
        with transaction.atomic():
            line = step(users)
        if line:
            made.append(line)
    return made


def run_first_reminders(now=None) -> dict:
    """The day's reminders, once, so the overdue request is escalated in the demo (to the IAM
    approvers' manager) and its page shows it. Without a mail server (EMAIL_HOST) the digests are
    recorded but not printed: the console would drown the start-up lines."""
    connection = (
        None if settings.EMAIL_HOST else get_connection("django.core.mail.backends.dummy.EmailBackend")
    )
    return run_reminders(now or timezone.now(), connection=connection)
