"""POST/GET /api/v1/decisions/: answers, batches, validation, who may ask, recording, usage, caching."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.actors import as_actor
from governance.decisions import services
from governance.decisions.models import DecisionRecord
from governance.models import AuditEvent
from inventory import services as inventory
from inventory.models import Identity, UsageEvent
from tests.decisions.conftest import question
from tests.factories import GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/decisions/"


def one(identity, **kw) -> services.Ask:
    return services.parse(question(identity, **kw))[0][0]


def test_one_question_gets_decision_reasons_and_policy_version(agent, owner, api_as):
    response = api_as(owner).post(URL, question(agent, task_ref="JIRA-1"), format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "allow"
    assert body["policy_version"] == 1
    assert body["reasons"][0].startswith("in_scope:")
    assert body["identity"] == agent.pk and body["task_ref"] == "JIRA-1"


def test_identity_can_be_named_by_source_and_external_id(agent, owner, api_as):
    ask = question(agent)
    del ask["identity"]
    response = api_as(owner).post(URL, {**ask, "source": "github", "external_id": "app-42"}, format="json")
    assert response.json()["identity"] == agent.pk


def test_a_batch_answers_in_order(agent, owner, api_as):
    batch = [
        question(agent),
        question(agent, action="write_code"),
        question(agent, action="merge", environment="prod"),
    ]
    response = api_as(owner).post(URL, batch, format="json")
    assert response.status_code == 200
    assert [a["decision"] for a in response.json()] == ["allow", "deny", "step_up"]
    assert DecisionRecord.objects.count() == 3


def test_a_batch_with_bad_entries_names_them_by_index_and_decides_nothing(agent, owner, api_as):
    batch = [question(agent), question(agent, action="fly"), {"identity": agent.pk}, question(agent)]
    response = api_as(owner).post(URL, batch, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "1", "2"}
    assert body["1"] == [
        f"action: 'fly' is not an action. Choose one of: {', '.join(services.Action.values)}."
    ]
    assert any(m.startswith("resource:") for m in body["2"])
    assert DecisionRecord.objects.count() == 0


def test_a_batch_over_100_is_refused(agent, owner, api_as):
    response = api_as(owner).post(URL, [question(agent)] * 101, format="json")
    assert response.status_code == 400
    assert "at most 100" in response.json()["detail"][0]


def test_an_unknown_identity_is_a_400(owner, api_as):
    response = api_as(owner).post(URL, {**question(Identity(pk=999999))}, format="json")
    assert response.status_code == 400
    assert response.json()["identity"] == ["identity: no identity with id 999999."]


@pytest.mark.parametrize(
    "who, status",
    [("owner", 200), ("iam", 200), ("security", 200), ("owner2", 403), ("auditor", 403), ("outsider", 403)],
)
def test_who_may_ask_about_an_identity(agent, role_users, api_as, who, status):
    assert api_as(role_users[who]).post(URL, question(agent), format="json").status_code == status


@pytest.mark.parametrize("who, status", [("iam", 200), ("security", 200), ("auditor", 200), ("owner", 403)])
def test_who_may_read_the_decision_log(agent, role_users, api_as, who, status):
    services.decide(role_users["iam"], [one(agent)])
    response = api_as(role_users[who]).get(URL)
    assert response.status_code == status
    if status == 200:
        assert response.json()["results"][0]["decision"] == "allow"


def test_the_log_filters_by_identity_action_decision_and_environment(agent, owner, iam, api_as):
    other = IdentityFactory(owner=owner, environments=["dev"])
    api_as(owner).post(
        URL,
        [question(agent), question(agent, action="merge", environment="prod"), question(other)],
        format="json",
    )
    client = api_as(iam)
    assert client.get(URL, {"identity": other.pk}).json()["count"] == 1
    assert client.get(URL, {"decision": "step_up"}).json()["results"][0]["action"] == "merge"
    assert client.get(URL, {"environment": "prod", "action": "merge"}).json()["count"] == 1
    assert client.get(URL, {"decision": "nope"}).status_code == 400


def test_a_read_scoped_token_may_ask(agent, owner, bearer):
    assert bearer(owner, scope="read").post(URL, question(agent), format="json").status_code == 200


def test_a_decision_counts_as_use_and_is_recorded_with_the_asker(agent, owner, bearer):
    bearer(owner).post(URL, question(agent, action="write_code"), format="json")
    record = DecisionRecord.objects.get()
    assert record.actor.startswith("token:") and record.on_behalf_of == "owner"
    assert record.out_of_scope and not record.after_revocation
    usage = UsageEvent.objects.get(identity=agent)
    assert usage.out_of_scope and usage.action == "write_code" and usage.environment == "dev"
    agent.refresh_from_db()
    assert agent.last_used_at is not None


def test_a_suspended_identity_is_denied_immediately_after_suspension(agent, owner, iam):
    ask = one(agent)
    assert services.decide(owner, [ask])[0].verdict.decision == "allow"  # facts now cached
    inventory.suspend(iam, agent, reason="leaked token")
    answer = services.decide(owner, [ask])[0].verdict
    assert answer.decision == "deny" and answer.policies[0] == "identity_revoked"
    usage = UsageEvent.objects.filter(identity=agent).latest("pk")
    assert usage.after_revocation and usage.identity_status == "suspended"
    assert DecisionRecord.objects.filter(after_revocation=True).count() == 1


def test_ended_and_new_grants_are_seen_at_once(agent, owner):
    ask = one(agent, name="payments/ledger")
    assert services.decide(owner, [ask])[0].verdict.decision == "deny"
    grant = GrantFactory(identity=agent, resource_name="payments/*", actions=["read_code"])
    assert services.decide(owner, [ask])[0].verdict.decision == "allow"
    type(grant).objects.filter(pk=grant.pk).update(ended_at=timezone.now())
    assert services.decide(owner, [ask])[0].verdict.decision == "deny"


def test_a_cached_decision_costs_one_query(agent, iam):
    asks = [one(agent)]
    iam.roles  # noqa: B018 - the request's authentication loads roles once
    services.decide(iam, asks, record=False)  # warm the cache
    with CaptureQueriesContext(connection) as queries:
        answer = services.decide(iam, asks, record=False)
    assert answer[0].verdict.decision == "allow"
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_a_cached_batch_also_costs_one_query_whatever_its_size(owner, iam):
    identities = [IdentityFactory(owner=owner, environments=["dev"]) for _ in range(20)]
    for identity in identities:
        GrantFactory(identity=identity, resource_name="org/*", actions=["read_code"])
    asks = services.parse([question(i, name="org/x") for i in identities])[0]
    iam.roles  # noqa: B018
    services.decide(iam, asks, is_batch=True, record=False)
    with CaptureQueriesContext(connection) as queries:
        services.decide(iam, asks, is_batch=True, record=False)
    assert len(queries) == 1


def test_recording_a_batch_takes_a_fixed_number_of_writes(agent, owner, iam):
    few = services.parse([question(agent)] * 2)[0]
    many = services.parse([question(agent)] * 40)[0]
    iam.roles  # noqa: B018
    services.decide(iam, few, is_batch=True)  # warm caches and the once-a-minute usage update
    with CaptureQueriesContext(connection) as small:
        services.decide(iam, few, is_batch=True)
    with CaptureQueriesContext(connection) as large:
        services.decide(iam, many, is_batch=True)
    assert len(small) == len(large) <= 6


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement write is PostgreSQL's")
@pytest.mark.django_db(transaction=True)  # as in a request: autocommit, not inside a test's transaction
def test_a_cached_decision_is_recorded_with_one_statement(agent, iam):
    """Cached facts, nothing to audit or aggregate: one query to decide, one to record the answer and
    its usage (a data-modifying CTE, atomic on its own)."""
    asks = [one(agent)]
    iam.roles  # noqa: B018
    services.decide(iam, asks)  # warm the caches and the once-a-minute last-used mark
    with CaptureQueriesContext(connection) as queries:
        services.decide(iam, asks)
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert queries[1]["sql"].startswith("WITH d AS (INSERT INTO")
    assert DecisionRecord.objects.filter(identity=agent).count() == 2
    assert UsageEvent.objects.filter(identity=agent, reported_by__startswith="decision:").count() == 2


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement write is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_minutes_first_decision_moves_last_use_in_the_same_statement(agent, iam):
    """The once-a-minute `last_used_at` goes in the same statement as the row (it had taken a
    transaction of five round trips), and still only forward."""
    ask = one(agent)
    iam.roles  # noqa: B018
    services.decide(iam, [ask])  # the facts cached
    earlier = timezone.now() - timedelta(hours=1)
    Identity.objects.filter(pk=agent.pk).update(last_used_at=earlier)
    cache.clear()  # the once-a-minute mark forgotten: the next answer moves the last use again
    with CaptureQueriesContext(connection) as queries:
        answer = services.decide(iam, [ask])[0]
    assert answer.verdict.decision == "allow"
    written = [q["sql"] for q in queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(written) == 1 and written[0].startswith("WITH d AS (INSERT INTO"), written
    agent.refresh_from_db()
    assert agent.last_used_at > earlier
    later = timezone.now() + timedelta(hours=1)
    Identity.objects.filter(pk=agent.pk).update(last_used_at=later)
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        services.decide(iam, [ask])
    written = [q["sql"] for q in queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(written) == 1 and " t AS (UPDATE" in written[0], written
    agent.refresh_from_db()
    assert agent.last_used_at == later  # never back
    assert DecisionRecord.objects.filter(identity=agent).count() == 3


def test_a_batch_over_the_rate_updates_one_row_per_question(agent, owner, settings):
    """A batch repeating one question above the sampling rate counts into one row, set-based."""
    settings.STEWARD_DECISION_SAMPLE_ABOVE = 2
    now = timezone.now().replace(second=5)
    asks = services.parse([question(agent)] * 30)[0]
    services.decide(owner, asks, is_batch=True, now=now)
    with CaptureQueriesContext(connection) as queries:
        services.decide(owner, asks, is_batch=True, now=now)
    allows = DecisionRecord.objects.filter(decision="allow")
    assert allows.filter(window_start__isnull=True).count() == 2
    assert allows.get(window_start__isnull=False).count == 58
    assert sum(allows.values_list("count", flat=True)) == 60
    assert len(queries) <= 8  # not one UPDATE per answer


def test_allows_above_the_rate_are_aggregated_but_denies_never(agent, owner, settings):
    settings.STEWARD_DECISION_SAMPLE_ABOVE = 3
    allow = one(agent)
    deny = one(agent, action="write_code")
    now = timezone.now().replace(second=10)
    for _ in range(8):
        services.decide(owner, [allow], now=now)
        services.decide(owner, [deny], now=now)
    allows = DecisionRecord.objects.filter(decision="allow")
    assert allows.filter(window_start__isnull=True).count() == 3
    aggregate = allows.get(window_start__isnull=False)
    assert aggregate.count == 5
    assert sum(allows.values_list("count", flat=True)) == 8
    assert DecisionRecord.objects.filter(decision="deny").count() == 8


def test_notable_decisions_are_audited_once_a_minute_per_question(agent, owner):
    deny = one(agent, action="write_code")
    for _ in range(5):
        services.decide(owner, [deny])
    allow = one(agent)
    services.decide(owner, [allow])
    verbs = list(AuditEvent.objects.filter(verb__startswith="decision.").values_list("verb", flat=True))
    assert verbs == ["decision.deny"]


def test_last_used_moves_forward_only(agent, owner):
    later = timezone.now() + timedelta(hours=1)
    Identity.objects.filter(pk=agent.pk).update(last_used_at=later)
    services.decide(owner, [one(agent)])
    agent.refresh_from_db()
    assert agent.last_used_at == later


def test_an_aggregate_bucket_is_one_row_even_when_two_workers_count_it_first(agent, owner, settings):
    """Two workers that both find no aggregate row for a question used to create two (update, then
    create); the bucket is a unique constraint now and a second first write adds to the count."""
    settings.STEWARD_DECISION_SAMPLE_ABOVE = 0
    now = timezone.now().replace(second=20)
    asks = services.parse([question(agent)] * 3)[0]
    answers = services.decide(owner, asks, is_batch=True, now=now, record=False)
    minute = now.replace(second=0, microsecond=0)
    actor = as_actor(owner)
    services._aggregate_all(actor, answers, minute, now)  # worker A
    services._aggregate_all(actor, answers[:2], minute, now)  # worker B, with its own view of "new"
    [row] = DecisionRecord.objects.filter(window_start=minute)
    assert row.count == 5
    with pytest.raises(IntegrityError), transaction.atomic():
        DecisionRecord.objects.create(
            identity=agent, action=row.action, resource_kind=row.resource_kind,
            resource_name=row.resource_name, environment=row.environment, decision=row.decision,
            policy_version=row.policy_version, actor="x", window_start=minute,
        )  # fmt: skip
