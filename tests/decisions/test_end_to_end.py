"""The journey through the API: step up, just-in-time approval, allow, window over, step up again."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.decisions.models import AccessRequest, DecisionRecord
from governance.models import AuditEvent
from tests.decisions.conftest import question

pytestmark = pytest.mark.django_db


def test_agent_steps_up_gets_jit_access_approved_by_iam_and_loses_it_after_the_window(
    agent, owner, iam, bearer, api_as
):
    agent_client = bearer(owner)  # the agent's gateway holds its owner's token
    ask = question(agent, action="merge", name="platform/api", environment="prod", task_ref="JIRA-7")

    first = agent_client.post("/api/v1/decisions/", ask, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["decision"] == "step_up"
    assert any("prod_privileged_needs_jit" in r for r in first.json()["reasons"])
    assert first.json()["policy_version"] == 1

    created = agent_client.post(
        "/api/v1/access-requests/",
        {
            "identity": agent.pk,
            "action": "merge",
            "resource": {"kind": "repository", "name": "platform/api"},
            "environment": "prod",
            "duration_minutes": 30,
            "reason": "Merge the release PR for JIRA-7",
            "task_ref": "JIRA-7",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert created.json()["state"] == "pending"

    approved = api_as(iam).post(
        f"/api/v1/access-requests/{request_id}/approve/", {"comment": "ok"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["state"] == "approved" and body["grant"]
    assert body["decided_by"] == "iam"

    second = agent_client.post("/api/v1/decisions/", ask, format="json")
    assert second.json()["decision"] == "allow", second.json()
    assert str(body["grant"]) in second.json()["grants"]
    assert second.json()["attestation"].count(".") == 2

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        third = agent_client.post("/api/v1/decisions/", ask, format="json")
        assert third.json()["decision"] == "step_up", third.json()

    assert list(
        DecisionRecord.objects.filter(identity=agent).order_by("at").values_list("decision", flat=True)
    ) == ["step_up", "allow", "step_up"]
    verbs = list(AuditEvent.objects.order_by("seq").values_list("verb", flat=True))
    journey = [
        "decision.step_up",
        "access_request.created",
        "approval.opened",
        "approval.approved",
        "access_request.approved",
        "grant.created",
        "decision.allow",
        "decision.step_up",
    ]
    assert [v for v in verbs if v in journey] == journey, verbs
    assert AccessRequest.objects.get(pk=request_id).grant.origin == "jit"
