"""Usage reports: one event or a batch, all-or-nothing; flags use after revocation."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from inventory import services, usage
from inventory.models import Identity, UsageEvent
from inventory.tokens import issue_token
from tests.factories import GrantFactory, IdentityFactory, UserFactory


def iso(dt):
    return dt.isoformat()


@pytest.fixture
def bot(owner):
    identity = IdentityFactory(name="ci-bot", owner=owner, source="github", external_id="app-42")
    GrantFactory(
        identity=identity,
        resource_kind="repository",
        resource_name="platform/*",
        actions=["read_code", "open_pr"],
    )
    return identity


@pytest.mark.django_db
def test_one_event_updates_last_used_on_identity_and_matching_grant(api_as, iam, bot):
    at = timezone.now() - timedelta(minutes=5)
    response = api_as(iam).post(
        f"/api/v1/identities/{bot.pk}/usage/",
        {
            "at": iso(at),
            "action": "open_pr",
            "resource": {"kind": "repository", "name": "platform/api"},
            "environment": "dev",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["out_of_scope"] is False and response.json()["after_revocation"] is False
    bot.refresh_from_db()
    assert bot.last_used_at == at
    assert bot.grants.get().last_used_at == at


@pytest.mark.django_db
def test_last_used_never_moves_backwards(api_as, iam, bot):
    recent = timezone.now() - timedelta(hours=1)
    client = api_as(iam)
    client.post(f"/api/v1/identities/{bot.pk}/usage/", {"at": iso(recent)}, format="json")
    client.post(f"/api/v1/identities/{bot.pk}/usage/", {"at": iso(recent - timedelta(days=3))}, format="json")
    bot.refresh_from_db()
    assert bot.last_used_at == recent and UsageEvent.objects.count() == 2


@pytest.mark.django_db
def test_use_outside_the_grants_is_marked_out_of_scope(api_as, iam, bot):
    body = (
        api_as(iam)
        .post(
            f"/api/v1/identities/{bot.pk}/usage/",
            {
                "at": iso(timezone.now()),
                "action": "merge",
                "resource_kind": "repository",
                "resource_name": "payments/api",
            },
            format="json",
        )
        .json()
    )
    assert body["out_of_scope"] is True
    assert bot.grants.get().last_used_at is None


@pytest.mark.django_db
def test_single_event_errors_are_keyed_by_field(api_as, iam, bot):
    response = api_as(iam).post(
        f"/api/v1/identities/{bot.pk}/usage/", {"at": "yesterday", "action": "fly"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"at", "action"}


@pytest.mark.django_db
def test_batch_across_identities_by_id_or_source_and_external_id(api_as, iam, bot, owner):
    other = IdentityFactory(owner=owner)
    now = timezone.now()
    events = [
        {"identity": other.pk, "at": iso(now - timedelta(minutes=2))},
        {
            "source": "github",
            "external_id": "app-42",
            "at": iso(now - timedelta(minutes=1)),
            "action": "read_code",
            "resource": {"kind": "repository", "name": "platform/web"},
        },
        {"identity": other.pk, "at": iso(now - timedelta(minutes=1))},
    ]
    response = api_as(iam).post("/api/v1/usage-events/", events, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"accepted": 3, "identities": 2, "after_revocation": 0, "out_of_scope": 0}
    other.refresh_from_db()
    assert other.last_used_at == now - timedelta(minutes=1)


@pytest.mark.django_db
def test_batch_is_all_or_nothing_and_names_the_bad_entries(api_as, iam, bot):
    now = iso(timezone.now())
    events = [
        {"identity": bot.pk, "at": now},
        {"identity": 999999, "at": now},
        {"identity": bot.pk, "at": "not-a-time"},
        {"identity": bot.pk, "at": now, "environment": "mars"},
        {"at": now},
    ]
    response = api_as(iam).post("/api/v1/usage-events/", {"events": events}, format="json")
    assert response.status_code == 400
    messages = response.json()["events"]
    assert [m.split(":")[0] for m in messages] == ["event 1", "event 2", "event 3", "event 4"]
    assert UsageEvent.objects.count() == 0
    bot.refresh_from_db()
    assert bot.last_used_at is None


@pytest.mark.django_db
def test_batch_over_the_limit_is_refused(api_as, iam, bot):
    events = [{"identity": bot.pk, "at": iso(timezone.now())}] * 1001
    response = api_as(iam).post("/api/v1/usage-events/", events, format="json")
    assert response.status_code == 400 and "1,000" in str(response.json())
    assert UsageEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["suspended", "decommissioned"])
def test_use_after_suspension_or_decommission_is_stored_and_flagged(api_as, iam, bot, status):
    if status == "suspended":
        services.suspend(iam, bot, "investigating")
    else:
        services.decommission(iam, bot, "retired")
    response = api_as(iam).post(
        "/api/v1/usage-events/", [{"identity": bot.pk, "at": iso(timezone.now())}], format="json"
    )
    assert response.status_code == 201 and response.json()["after_revocation"] == 1
    event = UsageEvent.objects.get()
    assert event.after_revocation and event.identity_status == status


@pytest.mark.django_db
def test_owner_reports_usage_only_for_their_own_identities(api_as, owner, owner2, bot):
    now = iso(timezone.now())
    assert (
        api_as(owner).post(f"/api/v1/identities/{bot.pk}/usage/", {"at": now}, format="json").status_code
        == 201
    )
    response = api_as(owner2).post("/api/v1/usage-events/", [{"identity": bot.pk, "at": now}], format="json")
    assert response.status_code == 403
    assert UsageEvent.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["auditor", "outsider"])
def test_auditors_and_outsiders_cannot_report_usage(api_as, role_users, bot, username):
    response = api_as(role_users[username]).post(
        "/api/v1/usage-events/", [{"identity": bot.pk, "at": iso(timezone.now())}], format="json"
    )
    assert response.status_code == 403 and UsageEvent.objects.count() == 0


@pytest.mark.django_db
def test_report_token_reports_for_any_identity_but_write_and_read_tokens_cannot(client, bot, iam):
    """A machine reporting for every identity holds a `report` token issued by IAM; a role-less user's
    write token no longer reports for identities it does not own (issue 18, item 5)."""
    gateway = UserFactory(username="agent-gateway", roles=[])
    _, report_value = issue_token(iam, gateway, scope="report")
    _, write_value = issue_token("system:test", gateway, scope="write")
    _, read_value = issue_token("system:test", gateway, scope="read")
    events = [{"identity": bot.pk, "at": iso(timezone.now())}]

    def post(value):
        return client.post(
            "/api/v1/usage-events/",
            events,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {value}",
        )

    ok = post(report_value)
    assert ok.status_code == 201, ok.json()
    assert post(write_value).status_code == 403
    assert post(read_value).status_code == 403
    assert UsageEvent.objects.get().reported_by.startswith("token:")


@pytest.mark.django_db
def test_ingestion_is_set_based(iam, bot, django_assert_max_num_queries, owner):
    identities = [IdentityFactory(owner=owner) for _ in range(20)]
    now = timezone.now()
    events = [{"identity": identities[n % 20].pk, "at": iso(now - timedelta(seconds=n))} for n in range(1000)]
    from inventory.usage import ingest_usage

    # A handful of statements whatever the batch size (SQLite splits the INSERT into ~90-row chunks).
    with django_assert_max_num_queries(30):
        result = ingest_usage(iam, events)
    assert result.accepted == 1000


@pytest.mark.django_db
def test_ingestion_is_set_based_whatever_the_batch_size(iam, owner):
    """Speed is measured in bench/; here: the query count does not grow with the batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory.usage import ingest_usage

    identities = [IdentityFactory(owner=owner) for _ in range(50)]
    now = timezone.now()

    def batch(size, offset):
        return [
            {
                "identity": identities[n % 50].pk,
                "at": iso(now - timedelta(seconds=n + offset)),
                "action": "read_code",
            }
            for n in range(size)
        ]

    ingest_usage(iam, batch(5, 0))  # warm caches (roles, policy)
    with CaptureQueriesContext(connection) as small:
        ingest_usage(iam, batch(10, 10))
    with CaptureQueriesContext(connection) as large:
        ingest_usage(iam, batch(1000, 2000))

    def shape(ctx):
        # The database driver splits one bulk INSERT into chunks (SQLite's variable limit): not a loop.
        return [
            q["sql"][:30]
            for q in ctx.captured_queries
            if not q["sql"].startswith('INSERT INTO "inventory_usageevent"')
        ]

    assert len(shape(large)) == len(shape(small))
    assert UsageEvent.objects.count() == 1015
    assert Identity.objects.filter(last_used_at__isnull=True, pk__in=[i.pk for i in identities]).count() == 0


def test_the_batch_writer_copies_every_column_of_a_usage_event():
    """COPY names its columns: a field added to UsageEvent must be added there too."""
    from inventory.usage import COPY_COLUMNS

    expected = [f.attname for f in UsageEvent._meta.concrete_fields if not f.primary_key]
    assert sorted(COPY_COLUMNS) == sorted(expected)


@pytest.mark.django_db
def test_exact_and_wildcard_grants_both_match_their_events(owner):
    """Names without wildcards compare as text (no pattern compiled), patterns as globs."""
    identity = IdentityFactory(owner=owner)
    exact = GrantFactory(identity=identity, resource_name="org/api", actions=["read_code"])
    glob = GrantFactory(identity=identity, resource_name="org/web-*", actions=["read_code"])
    now = timezone.now().isoformat()
    events = [
        {
            "identity": identity.pk,
            "at": now,
            "action": "read_code",
            "resource": {"kind": "repository", "name": n},
        }
        for n in ("org/api", "org/web-1", "org/api-2", "org/web")
    ]
    assert usage.ingest_usage(owner, events).out_of_scope == 2
    in_order = UsageEvent.objects.filter(identity=identity).order_by("pk")
    assert [e.out_of_scope for e in in_order] == [False, False, True, True]
    stored = UsageEvent.objects.filter(identity=identity).order_by("resource_name")
    assert [(e.resource_name, e.out_of_scope) for e in stored] == [
        ("org/api", False),
        ("org/api-2", True),
        ("org/web", True),
        ("org/web-1", False),
    ]
    exact.refresh_from_db()
    glob.refresh_from_db()
    assert exact.last_used_at is not None and glob.last_used_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["action", "environment", "resource"])
def test_a_list_where_a_choice_belongs_is_refused_not_a_crash(owner, field):
    from inventory.models import ChoiceValues

    identity = IdentityFactory(owner=owner)
    event = {"identity": identity.pk, "at": timezone.now().isoformat(), "action": "read_code"}
    event[field] = {"kind": ["repository"], "name": "x"} if field == "resource" else ["read_code"]
    with pytest.raises(ValidationError):
        usage.ingest_usage(owner, [event])
    assert ["read_code"] not in ChoiceValues(["read_code"])
