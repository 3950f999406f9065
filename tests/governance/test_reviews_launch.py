"""Launching a campaign: scope, frozen population, hash, reviewers, query count."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.actors import system
from governance.errors import NotAllowed
from governance.models import AuditEvent
from governance.people.models import Role
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.population import canonical
from governance.reviews.services import decide, launch_campaign, verify_population
from governance.reviews.services.common import can_decide
from governance.reviews.services.launch import _copy_items, _create_items
from inventory import services as inventory
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory, TeamFactory, UserFactory

DUE = "2099-01-31"


def launch(actor, **scope):
    return launch_campaign(actor, "Q1 review", scope, DUE)


@pytest.mark.django_db
def test_launch_copies_each_in_scope_identity_with_its_owner_grants_and_credentials(iam, owner):
    bot = IdentityFactory(owner=owner, risk_tier="high", name="deploy-bot")
    grant = GrantFactory(identity=bot, resource_name="org/api", actions=["deploy", "read_code"])
    CredentialFactory(
        identity=bot, kind="static_key", label="ci-key", issued_at=timezone.now() - timedelta(days=40)
    )
    IdentityFactory(owner=owner, risk_tier="low")

    campaign = launch(iam, risk_tiers=["high"])

    assert campaign.population_count == 1 and campaign.state == "open"
    item = campaign.items.get()
    assert item.identity == bot and item.reviewer == owner and item.reviewer_source == "owner"
    snap = item.snapshot
    assert snap["owner"] == "owner" and snap["risk_tier"] == "high"
    assert snap["grants"] == [
        {
            "id": grant.pk,
            "resource_kind": "repository",
            "resource_name": "org/api",
            "actions": ["deploy", "read_code"],
            "expires_at": None,
            "last_used_at": None,
            "origin": "manual",
        }
    ]
    assert snap["credentials"][0]["label"] == "ci-key" and snap["credentials"][0]["age_days"] == 40
    assert AuditEvent.objects.filter(verb="review.campaign_launched", subject_id=str(campaign.pk)).exists()


@pytest.mark.django_db
def test_scope_filters_by_kind_team_and_environment(iam, owner, owner2):
    payments = owner2.team
    IdentityFactory(owner=owner, kind="bot", environments=["prod"])
    wanted = IdentityFactory(owner=owner2, kind="bot", environments=["dev", "prod"], team=payments)
    IdentityFactory(owner=owner2, kind="api_key", environments=["prod"], team=payments)
    IdentityFactory(owner=owner2, kind="bot", environments=["dev"], team=payments)

    campaign = launch(iam, kinds=["bot"], teams=[payments.slug], environments=["prod"])

    assert list(campaign.items.values_list("identity_id", flat=True)) == [wanted.pk]


@pytest.mark.django_db
def test_decommissioned_discovered_and_already_under_review_identities_are_left_out(iam, owner):
    IdentityFactory(owner=owner, status="decommissioned")
    IdentityFactory(owner=None, status="discovered")
    suspended = IdentityFactory(owner=owner, status="suspended")
    first = launch(iam)
    assert first.population_count == 1 and first.items.get().identity == suspended
    IdentityFactory(owner=owner)
    second = launch(iam)
    assert second.population_count == 1 and second.skipped_count == 1


@pytest.mark.django_db
def test_frozen_population_does_not_change_when_the_inventory_changes(iam, owner, owner2):
    bot = IdentityFactory(owner=owner, risk_tier="medium")
    grant = GrantFactory(identity=bot, actions=["read_code"])
    campaign = launch(iam)
    frozen = ReviewItem.objects.get(campaign=campaign).snapshot

    inventory.update_identity(iam, bot, {"owner": owner2, "risk_tier": "critical", "purpose": "changed"})
    inventory.end_grants(iam, bot, [grant.pk], reason="no longer needed")
    GrantFactory(identity=bot, actions=["admin"])
    CredentialFactory(identity=bot)

    item = ReviewItem.objects.get(campaign=campaign)
    assert item.snapshot == frozen
    assert item.snapshot["owner"] == "owner" and item.snapshot["risk_tier"] == "medium"
    assert [g["id"] for g in item.snapshot["grants"]] == [grant.pk] and item.snapshot["credentials"] == []
    assert verify_population(campaign)["ok"]


@pytest.mark.django_db
def test_population_hash_is_reproducible_from_the_stored_items(iam, owner):
    for n in range(5):
        bot = IdentityFactory(owner=owner, name=f"bot-{n}")
        GrantFactory(identity=bot)
        CredentialFactory(identity=bot, label=f"key-ü-{n}")
    campaign = launch(iam)
    campaign.refresh_from_db()
    report = verify_population(campaign)
    assert report["ok"] and report["count"] == 5 and report["sha256"] == campaign.population_sha256
    assert len(campaign.population_sha256) == 64


@pytest.mark.django_db
def test_tampering_with_a_stored_snapshot_breaks_the_population_hash(iam, owner):
    IdentityFactory(owner=owner)
    IdentityFactory(owner=owner)
    campaign = launch(iam)
    item = campaign.items.first()
    ReviewItem.objects.filter(pk=item.pk).update(snapshot={**item.snapshot, "grants": []} | {"owner": "x"})
    assert not verify_population(campaign)["ok"]


@pytest.mark.django_db
def test_orphaned_identities_go_to_the_least_loaded_iam_approver(iam, iam2, owner):
    gone = UserFactory(username="gone", roles=[Role.OWNER], is_active=False)
    orphans = [IdentityFactory(owner=None, name=f"orphan-{n}") for n in range(3)]
    departed = IdentityFactory(owner=gone, name="departed")
    campaign = launch(iam)
    reviewers = dict(campaign.items.values_list("identity__name", "reviewer__username"))
    # Deterministic: least open items first, ties by username; counts grow as items are handed out.
    assert [reviewers[o.name] for o in orphans] == ["iam", "iam2", "iam"]
    assert reviewers["departed"] == "iam2"
    assert set(campaign.items.filter(identity=departed).values_list("reviewer_source", flat=True)) == {
        "iam_fallback"
    }


@pytest.mark.django_db
def test_an_auditors_own_token_identity_is_reviewed_by_iam_who_can_decide_it(iam, auditor, owner):
    # issue_api_token registers the auditor's token as an api_key identity the auditor owns; an
    # auditor decides nothing, so the item goes to IAM's queue as an orphan's does.
    token_identity = IdentityFactory(owner=auditor, name="api-token-auditor", kind="api_key")
    owned = IdentityFactory(owner=owner, name="owned")
    campaign = launch(iam)
    item = campaign.items.get(identity=token_identity)
    assert (item.reviewer, item.reviewer_source) == (iam, "iam_fallback")
    assert campaign.items.get(identity=owned).reviewer == owner
    assert not can_decide(auditor, item) and can_decide(iam, item)
    decided = decide(iam, item, "certify")
    assert decided.decision == "certify"
    assert verify_population(campaign)["ok"]


@pytest.mark.django_db
def test_an_iam_approver_who_is_also_an_auditor_gets_no_items(iam, owner):
    both = UserFactory(username="aaa-iam-auditor", roles=[Role.IAM, Role.AUDITOR])
    orphans = [IdentityFactory(owner=None, name=f"orphan-{n}") for n in range(3)]
    campaign = launch(iam)
    assert set(campaign.items.filter(identity__in=orphans).values_list("reviewer", flat=True)) == {iam.pk}
    assert not campaign.items.filter(reviewer=both).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "security", "auditor", "outsider"])
def test_only_iam_launches_campaigns(role_users, username):
    IdentityFactory(owner=role_users["owner"])
    with pytest.raises(NotAllowed):
        launch(role_users[username])
    assert not ReviewCampaign.objects.exists()


@pytest.mark.django_db
def test_system_jobs_may_launch(owner):
    IdentityFactory(owner=owner)
    assert launch(system("test")).population_count == 1


@pytest.mark.django_db
def test_bad_input_is_refused_per_field_without_writes(iam, owner):
    IdentityFactory(owner=owner)
    with pytest.raises(ValidationError) as caught:
        launch_campaign(iam, "", {"risk_tiers": ["extreme"], "colour": []}, "2000-01-01")
    assert set(caught.value.message_dict) == {"name", "scope", "due_at"}
    with pytest.raises(ValidationError) as caught:
        launch_campaign(iam, "x", {"teams": ["nope"]}, "soon")
    assert set(caught.value.message_dict) == {"scope", "due_at"}
    with pytest.raises(ValidationError) as caught:
        launch_campaign(iam, "empty", {"kinds": ["workload"]}, DUE)
    assert "scope" in caught.value.message_dict
    assert not ReviewCampaign.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_launch_runs_a_fixed_number_of_queries_whatever_the_population(iam):
    def measure(count: int) -> int:
        team = TeamFactory(slug=f"t{count}")
        for n in range(count):
            person = UserFactory(username=f"p{count}-{n}", roles=[Role.OWNER], team=team)
            bot = IdentityFactory(owner=person, team=team, name=f"b{count}-{n}")
            GrantFactory(identity=bot)
            GrantFactory(identity=bot, actions=["deploy"], expires_at=timezone.now() + timedelta(days=3))
            CredentialFactory(identity=bot)
        IdentityFactory(owner=None, team=team, name=f"orphan-{count}")
        iam.refresh_from_db()
        with CaptureQueriesContext(connection) as ctx:
            launch_campaign(iam, f"c{count}", {"teams": [team.slug]}, DUE)
        return len(ctx.captured_queries)

    measure(1)  # warm-up: the audit chain head and the actor's role cache are created once
    # 30: within one SQLite INSERT (999 parameters over ReviewItem's columns); PostgreSQL uses COPY.
    few, many = measure(5), measure(30)
    assert few == many
    assert ReviewItem.objects.count() == 2 + 6 + 31


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="COPY is the PostgreSQL path; elsewhere items go in with bulk_create",
)
AWKWARD = 'tab\there, new\nline, back\\slash, "quoted", \\N, ü, 🤖'


def _stored_items(campaign) -> list[dict]:
    fields = [f.attname for f in ReviewItem._meta.concrete_fields if not f.primary_key]
    return list(ReviewItem.objects.filter(campaign=campaign).order_by("identity_id").values(*fields))


def _as_insert_rows(items: list[dict]) -> list[tuple]:
    return [
        (
            i["identity_id"],
            i["risk_tier"],
            i["team_id"],
            canonical(i["snapshot"]),
            i["reviewer_id"],
            i["reviewer_source"],
        )
        for i in items
    ]


@pytest.mark.django_db
@postgresql_only
def test_copy_writes_the_same_items_as_bulk_create(iam, owner):
    gone = UserFactory(username="gone", roles=[Role.OWNER], is_active=False)
    bot = IdentityFactory(owner=owner, name="awkward-bot", purpose=AWKWARD, environments=["prod", "dev"])
    GrantFactory(identity=bot, resource_name="org/ü\tx", actions=["deploy"])
    CredentialFactory(identity=bot, label="key\nü")
    IdentityFactory(owner=None, team=None, name="orphan")
    IdentityFactory(owner=gone, name="departed")

    campaign = launch(iam)  # on PostgreSQL: COPY
    launched = _stored_items(campaign)
    rows = _as_insert_rows(launched)
    ReviewItem.objects.filter(campaign=campaign).delete()
    _create_items(campaign, rows)
    created = _stored_items(campaign)
    ReviewItem.objects.filter(campaign=campaign).delete()
    _copy_items(campaign, rows)

    assert _stored_items(campaign) == created == launched
    assert {i["reviewer_source"] for i in launched} == {"owner", "iam_fallback"}
    assert next(i for i in launched if i["identity_id"] == bot.pk)["snapshot"]["purpose"] == AWKWARD
    assert verify_population(campaign)["ok"]


@pytest.mark.django_db
@postgresql_only
def test_a_copy_over_an_identity_already_under_review_raises_integrity_error(iam, owner):
    IdentityFactory(owner=owner)
    campaign = launch(iam)
    rows = _as_insert_rows(_stored_items(campaign))
    # launch_campaign turns this IntegrityError into a 409; a raw psycopg error would be a 500.
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy_items(campaign, rows)
    assert ReviewItem.objects.filter(campaign=campaign).count() == 1
