"""Import refuses values the model cannot hold and absurd times, per row and field (issue 18, item 12)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.models import AuditEvent
from inventory.models import Credential, Grant, Identity
from inventory.validation import parse_time


def row(**overrides):
    item = {
        "source": "aws-iam",
        "external_id": "arn:aws:iam::1:role/ci",
        "name": "ci (AWS)",
        "kind": "workload",
        "owner": "owner",
        "environments": ["dev"],
        "grants": [{"resource_kind": "cloud_account", "resource_name": "aws-1", "actions": ["deploy"]}],
        "credentials": [{"kind": "static_key", "label": "AKIA…1", "issued_at": "2025-03-02T10:00:00Z"}],
    }
    item.update(overrides)
    return item


def post_json(client, rows):
    content = json.dumps({"identities": rows}).encode()
    return client.post(
        "/api/v1/identities/import/",
        {"file": SimpleUploadedFile("estate.json", content)},
        format="multipart",
    )


def nothing_written():
    return not (
        Identity.objects.exists()
        or Grant.objects.exists()
        or Credential.objects.exists()
        or AuditEvent.objects.filter(verb__startswith="identity.").exists()
    )


@pytest.mark.django_db
def test_overlong_values_are_refused_per_row_and_field(api_as, iam, owner):
    rows = [
        row(),
        row(external_id="x" * 300, name="long id"),
        row(external_id="b", source="s" * 100, name="long source"),
        row(
            external_id="c",
            name="long resource",
            grants=[{"resource_kind": "cloud_account", "resource_name": "r" * 5000, "actions": ["deploy"]}],
        ),
    ]
    response = post_json(api_as(iam), rows)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {(2, "external_id"), (3, "source"), (4, "grants")}
    messages = {e["column"]: e["message"] for e in errors}
    assert messages["external_id"] == "At most 200 characters."
    assert messages["source"] == "At most 60 characters."
    assert messages["grants"] == "Grant 1: resource_name has at most 300 characters."
    assert nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides,column",
    [
        ({"last_used_at": "9999-12-31T23:59:59Z"}, "last_used_at"),
        ({"last_used_at": "1800-01-01"}, "last_used_at"),
        # An offset next to datetime's limit must not overflow on the way to UTC.
        ({"last_used_at": "9999-12-31T23:59:59-01:00"}, "last_used_at"),
        ({"credentials": [{"kind": "static_key", "label": "k", "issued_at": "1800-01-01"}]}, "credentials"),
        (
            {
                "grants": [
                    {
                        "resource_kind": "cloud_account",
                        "resource_name": "aws-1",
                        "actions": ["deploy"],
                        "expires_at": "9999-01-01T00:00:00Z",
                    }
                ]
            },
            "grants",
        ),
    ],
    ids=["last-used-9999", "last-used-1800", "offset-at-max", "issued-1800", "grant-expiry-9999"],
)
def test_times_in_9999_or_1800_are_refused(api_as, iam, owner, overrides, column):
    response = post_json(api_as(iam), [row(**overrides)])
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(1, column)], errors
    assert "out of range" in errors[0]["message"]
    assert nothing_written()


@pytest.mark.django_db
def test_csv_with_overlong_external_id_and_far_future_time_names_both(api_as, iam, owner):
    content = (
        "source,external_id,name,kind,owner,environments,last_used_at\n"
        f"okta,{'x' * 300},one,bot,owner,dev,2026-01-01\n"
        "okta,two,two,bot,owner,dev,9999-01-01\n"
    ).encode()
    response = api_as(iam).post(
        "/api/v1/identities/import/",
        {"file": SimpleUploadedFile("estate.csv", content)},
        format="multipart",
    )
    assert response.status_code == 400
    assert {(e["row"], e["column"]) for e in response.json()["errors"]} == {
        (2, "external_id"),
        (3, "last_used_at"),
    }
    assert nothing_written()


def test_parse_time_keeps_sensible_times():
    assert parse_time("2026-05-01T09:00:00Z")[1] is None
    assert parse_time("2100-12-31")[1] is None
    assert parse_time("1970-01-01")[1] is None
    assert "out of range" in parse_time("2101-01-01")[1]
