"""Demo people: one user per role, two where separation of duties needs a second person; and the demo's
request-time policy, whose release-train carve-out leaves an agent's prod merges without JIT."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from governance import audit
from governance.actors import system
from governance.people.models import Role, Team, User
from governance.policy import cedar, cedar_sets
from governance.policy.models import CedarPolicySet

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
    ("auditor", "Ada Auditor", "security", [Role.AUDITOR], False),
]
EXTRA_OWNERS = [
    ("dana", "Dana Data", "data"),
    ("miles", "Miles Mobile", "mobile"),
    ("pat", "Pat Platform", "platform"),
    ("quinn", "Quinn Payments", "payments"),
    ("leaver", "Lee Leaver", "data"),
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
