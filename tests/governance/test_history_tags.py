"""Readable history (issue 22 item 3): governance/templatetags/history.py labels audit changes from the
subject's model, shows enum values as their labels, and links the subject, without touching the database."""

import pytest
from django.template import Context, Template

from governance import audit
from governance.actors import as_actor
from governance.models import AuditEvent
from governance.templatetags.history import (
    change_rows,
    enum_label,
    raw_json,
    subject_type_label,
    subject_url,
    value_label,
)
from tests.factories import IdentityFactory


def test_rows_use_field_verbose_names_and_choice_labels():
    [row] = change_rows("inventory.identity", {"risk_tier": "high"}, {"risk_tier": "critical"})
    assert (row.label, row.before, row.after, row.changed) == ("Risk tier", "High", "Critical", True)
    [status] = change_rows("inventory.identity", {"status": "active"}, {"status": "suspended"})
    assert (status.label, status.before, status.after) == ("Status", "Active", "Suspended")


def test_list_values_show_each_label_and_unknown_keys_read_as_words():
    rows = change_rows(
        "inventory.grant",
        None,
        {
            "actions": ["open_pr", "merge"],
            "resource_kind": "secret_store",
            "final_step": 2,
            "autonomous": True,
        },
    )
    by_field = {row.field: row for row in rows}
    assert by_field["actions"].after == "Open pull requests, Merge"
    assert by_field["resource_kind"].after == "Secret store"
    assert by_field["final_step"].label == "Final step" and by_field["final_step"].after == "2"
    assert by_field["autonomous"].after == "yes"
    assert not any(row.has_before for row in rows)  # a creation: nothing before


def test_fields_present_on_one_side_only_and_non_dict_changes():
    rows = change_rows("inventory.identity", {"owner": "ana"}, {"backup_owner": None})
    assert [(r.field, r.has_before, r.has_after, r.after) for r in rows] == [
        ("owner", True, False, "—"),
        ("backup_owner", False, True, "—"),
    ]
    [plain] = change_rows("no.such_model", "old", "new")
    assert (plain.label, plain.before, plain.after) == ("Value", "old", "new")
    assert change_rows("inventory.identity", None, None) == []


def test_values_read_as_words():
    assert value_label(None) == "—" and value_label([]) == "—" and value_label("") == "—"
    assert value_label(False) == "no"
    assert value_label({"b": 1, "a": [1]}) == '{"a": [1], "b": 1}'
    assert value_label([{"order": 1}]) == '[{"order": 1}]'
    assert enum_label("secret_store", "resource_kind") == "Secret store"
    assert enum_label("open_pr", "action") == "Open pull requests"
    assert enum_label("something_new", "action") == "something_new"
    assert enum_label("prod", "no-such-enum") == "prod"


def test_subjects_are_named_by_their_model_and_linked_by_id():
    assert subject_type_label("governance.reviewitem") == "Review item"
    assert subject_type_label("inventory.identity") == "Identity"
    assert subject_type_label("system.thing_gone") == "Thing gone"
    assert subject_url("inventory.identity", "42") == "/inventory/42/"
    assert subject_url("approvals.intakerequest", 7) == "/intake/7/"
    assert subject_url("governance.reviewitem", "3") == "/reviews/items/3/"
    assert subject_url("inventory.identity", "not-an-id") == ""
    assert subject_url("no.such", "1") == ""
    assert subject_url("governance.policyversion", "3") == ""  # its URL needs more than the id


def test_raw_json_keeps_everything():
    assert '"risk_tier": "critical"' in raw_json({"risk_tier": "high"}, {"risk_tier": "critical"})


def _raise_to_critical(user, identity) -> None:
    """The audit event of `user` raising the identity's risk tier from high to critical."""
    audit.record(
        as_actor(user),
        "identity.updated",
        identity,
        before={"risk_tier": "high"},
        after={"risk_tier": "critical"},
    )


@pytest.mark.django_db
def test_audit_change_renders_rows_and_a_raw_toggle(owner):
    identity = IdentityFactory(owner=owner, name="deploy-bot")
    _raise_to_critical(owner, identity)
    event = AuditEvent.objects.get(verb="identity.updated")
    html = Template(
        "{% load history %}{% audit_change event %}{% subject_link event as s %}{{ s.url }}|{{ s.kind }}"
    ).render(Context({"event": event}))
    assert "<dt>Risk tier</dt>" in html and ">High</del>" in html and ">Critical</ins>" in html
    assert "<summary>Raw JSON</summary>" in html and "{&#x27;risk_tier&#x27;" not in html
    assert f"/inventory/{identity.pk}/|Identity" in html


@pytest.mark.django_db
def test_audit_log_and_identity_timeline_show_labels_not_dicts(client, owner, iam):
    identity = IdentityFactory(owner=owner, name="deploy-bot")
    _raise_to_critical(iam, identity)
    client.force_login(iam)
    for url in ("/audit/", f"/inventory/{identity.pk}/"):
        body = client.get(url).content.decode()
        assert "<dt>Risk tier</dt>" in body, url
        assert "{&#x27;risk_tier&#x27;" not in body and "{'risk_tier'" not in body, url
    audit_page = client.get("/audit/").content.decode()
    assert f'href="/inventory/{identity.pk}/" data-testid="audit-subject">deploy-bot</a>' in audit_page
    assert "inventory.identity" not in audit_page
