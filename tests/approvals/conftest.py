"""Helpers for approval tests: intake answers per tier and a one-call submitted request."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.services import intake as intake_services

TIER_ANSWERS = {
    # dev, read-only code, internal data -> low
    "low": {"environments": ["dev"], "grants": [("repository", "org/docs", ["read_code"])]},
    # staging + open_pr -> medium
    "medium": {"environments": ["staging"], "grants": [("repository", "org/app", ["read_code", "open_pr"])]},
    # prod + merge -> high
    "high": {"environments": ["prod"], "grants": [("repository", "org/app", ["open_pr", "merge"])]},
    # prod + deploy + restricted data + autonomous agent -> critical
    "critical": {
        "environments": ["prod"],
        "grants": [("ci_pipeline", "deploy/prod", ["deploy", "run_ci"])],
        "kind": "ai_agent",
        "data_classification": "restricted",
        "autonomous": True,
    },
    # sandbox, read-only, allowed vendor -> auto-approved by policy
    "auto": {"environments": ["sandbox"], "grants": [("documentation", "wiki/space", ["read_data"])]},
}


_names = itertools.count(1)


def answers(tier="high", **overrides):
    spec = dict(TIER_ANSWERS[tier])
    grants = [
        {"resource_kind": kind, "resource_name": name, "actions": actions, "expires_at": None}
        for kind, name, actions in spec.pop("grants")
    ]
    data = {
        "name": f"assistant-{tier}-{next(_names)}",
        "kind": "ai_assistant",
        "vendor": "Anthropic",
        "product": "Claude Code",
        "model_name": "",
        "purpose": "Helps the platform team review and write code faster.",
        "credential_kind": "oidc_federation",
        "data_classification": "internal",
        "autonomous": False,
        "grants": grants,
        **spec,
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_intake(team):
    def make(requester, tier="high", submit=True, **overrides):
        data = answers(tier, **overrides)
        data.setdefault("team", team)
        intake = intake_services.create_draft(requester, data)
        if submit:
            intake = intake_services.submit(requester, intake)
        return intake

    return make


def future(days=30):
    return (timezone.now() + timedelta(days=days)).isoformat()
