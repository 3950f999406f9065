"""Lists like NetBox's (issue 22 item 6): columns and saved filters per user and list, and each list's
CSV export of exactly its current filter, formula-safe."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError

from governance import audit
from governance.actors import system
from governance.errors import NotAllowed
from governance.findings.models import Finding, Rule
from governance.links import link
from governance.lists import services
from governance.lists.models import ListPreference
from governance.models import AuditEvent
from inventory.views.identities import INVENTORY_LIST
from tests.factories import CredentialFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# ---------------------------------------------------------------- columns


def test_columns_are_per_user_and_default_until_chosen(iam, security):
    assert services.shown_columns(INVENTORY_LIST, None) == list(INVENTORY_LIST.default)
    shown = services.set_columns(iam, INVENTORY_LIST, ["kind", "source"])
    assert shown == ["name", "kind", "source"]  # the name always shows
    assert services.shown_columns(INVENTORY_LIST, services.preference(iam, INVENTORY_LIST)) == shown
    assert services.preference(security, INVENTORY_LIST) is None


def test_choosing_the_default_or_nothing_resets(iam):
    services.set_columns(iam, INVENTORY_LIST, ["kind"])
    services.set_columns(iam, INVENTORY_LIST, [])
    assert ListPreference.objects.get(user=iam).columns == []
    services.set_columns(iam, INVENTORY_LIST, list(INVENTORY_LIST.default))
    assert ListPreference.objects.get(user=iam).columns == []


def test_an_unknown_column_is_refused(iam):
    with pytest.raises(ValidationError):
        services.set_columns(iam, INVENTORY_LIST, ["kind", "password"])


def test_the_list_shows_the_chosen_columns(client, iam):
    IdentityFactory(name="col-bot", source="okta")
    client.force_login(iam)
    response = client.post(
        link("list-columns", "inventory"), {"columns": ["kind", "source"], "query": "search=col"}
    )
    assert response.status_code == 302 and response["Location"] == link(
        "inventory:list", query={"search": "col"}
    )
    body = client.get(link("inventory:list")).content.decode()
    assert 'data-column="source"' in body and 'data-column="environments"' not in body
    assert ">okta<" in body


# ---------------------------------------------------------------- saved filters


def test_saving_a_filter_keeps_the_query_without_the_page(iam):
    view = services.save_view(iam, INVENTORY_LIST, "  Prod   tier ", "environment=prod&page=3&status=")
    assert view == {"name": "Prod tier", "query": "environment=prod"}
    tools = services.tools(iam, INVENTORY_LIST, "environment=prod")
    assert tools["saved_views"] == [{"name": "Prod tier", "query": "environment=prod", "current": True}]


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_a_filter_needs_a_short_name(iam, name):
    with pytest.raises(ValidationError):
        services.save_view(iam, INVENTORY_LIST, name, "kind=ai_agent")


def test_a_name_is_used_once_per_person_and_list(iam, security):
    services.save_view(iam, INVENTORY_LIST, "Agents", "kind=ai_agent")
    with pytest.raises(ValidationError, match="already have"):
        services.save_view(iam, INVENTORY_LIST, "agents", "kind=plugin")
    services.save_view(security, INVENTORY_LIST, "Agents", "kind=ai_agent")  # someone else's: fine


def test_the_page_shows_why_a_filter_was_not_saved(client, iam):
    client.force_login(iam)
    client.post(link("saved-view-create", "inventory"), {"name": "Mine", "query": "kind=ai_agent"})
    response = client.post(
        link("saved-view-create", "inventory"), {"name": "mine", "query": "kind=plugin"}, follow=True
    )
    assert "already have a filter named" in response.content.decode()
    response = client.post(link("saved-view-create", "inventory"), {"name": "", "query": ""}, follow=True)
    assert "Give the filter a name." in response.content.decode()


def test_a_saved_filter_is_listed_as_a_link_and_deletable(client, iam):
    client.force_login(iam)
    client.post(link("saved-view-create", "inventory"), {"name": "Agents", "query": "kind=ai_agent"})
    body = client.get(link("inventory:list")).content.decode()
    assert f'href="{link("inventory:list")}?kind=ai_agent"' in body
    client.post(link("saved-view-delete", "inventory"), {"name": "Agents"})
    assert ListPreference.objects.get(user=iam).saved_views == []


def test_the_auditor_shapes_their_own_audit_log_and_nothing_is_audited(client, auditor):
    before = AuditEvent.objects.count()
    client.force_login(auditor)
    response = client.post(link("saved-view-create", "audit"), {"name": "IAM", "query": "actor=iam"})
    assert response.status_code == 302
    assert ListPreference.objects.get(user=auditor, list_key="audit").saved_views[0]["query"] == "actor=iam"
    assert AuditEvent.objects.count() == before


def test_who_cannot_read_a_list_cannot_shape_it(client, owner, outsider):
    client.force_login(owner)  # owners do not read the audit log
    assert client.post(link("list-columns", "audit"), {"columns": ["seq"]}).status_code == 403
    with pytest.raises(NotAllowed):
        services.save_view(owner, services.spec_for("audit"), "x", "")
    client.force_login(outsider)
    assert client.post(link("list-columns", "inventory"), {}).status_code == 403
    assert client.post(link("list-columns", "no-such-list"), {}).status_code in (403, 404)
    assert not ListPreference.objects.exists()


# ---------------------------------------------------------------- exports


def test_the_inventory_export_is_the_current_filter(client, iam):
    IdentityFactory(name="=cmd|calc", kind="ai_agent")
    IdentityFactory(name="plugin-one", kind="plugin")
    client.force_login(iam)
    rows = _csv(client.get(link("inventory:export", query={"kind": "ai_agent"})))
    assert [r["name"] for r in rows] == ["'=cmd|calc"]


def test_the_credentials_export_is_the_current_filter(client, iam):
    bot = IdentityFactory(name="-bot")
    CredentialFactory(identity=bot, label="@key-one")
    CredentialFactory(identity=IdentityFactory(name="other"), label="other-key")
    client.force_login(iam)
    page = client.get(link("credentials", query={"q": "bot"})).content.decode()
    rows = _csv(client.get(link("credentials-export", query={"q": "bot"})))
    assert [(r["identity"], r["label"]) for r in rows] == [("'-bot", "'@key-one")]
    assert f'href="{link("credentials-export")}?q=bot"' in page


def test_the_findings_export_is_the_current_filter(client, iam):
    rule = Rule.values[0]
    Finding.objects.create(rule=rule, identity=IdentityFactory(name="+found"), severity="high")
    Finding.objects.create(rule=rule, identity=IdentityFactory(name="quiet"), severity="low")
    closed = Finding.objects.create(rule=rule, identity=IdentityFactory(name="done"), severity="high")
    Finding.objects.filter(pk=closed.pk).update(status=Finding.Status.RESOLVED)
    client.force_login(iam)
    rows = _csv(client.get(link("findings-export", query={"severity": "high"})))
    assert [r["identity"] for r in rows] == ["'+found"]  # open by default, as on the page
    page = client.get(link("findings", query={"severity": "high"})).content.decode()
    assert "findings/export.csv?severity=high&amp;status=open" in page


def test_the_audit_export_is_the_current_filter(client, auditor, team):
    audit.record(system("t"), "x.one", team, after={"v": "=1+1"})
    audit.record(system("t"), "y.two", team)
    client.force_login(auditor)
    rows = _csv(client.get(link("audit-export", query={"verb": "x."})))
    assert [r["verb"] for r in rows] == ["x.one"]
    assert rows[0]["after"] == '{"v": "=1+1"}'  # JSON text starts with a brace: nothing to neutralise
    invalid = _csv(client.get(link("audit-export", query={"since": "not-a-date"})))
    assert invalid == []  # an invalid filter exports nothing, as the page shows nothing
