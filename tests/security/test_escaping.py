"""Markup typed into free-text fields is shown as text, never run as HTML."""

import pytest
from django.db import transaction

from governance import audit
from governance.actors import as_actor
from governance.people.models import Role
from tests.factories import IdentityFactory, TeamFactory, UserFactory

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
RAW_TAGS = ["<script>alert(1)", "<img src=x", "onerror=alert(1)>"]


@pytest.fixture
def marked_up(db):
    team = TeamFactory(slug="xss-team", name=PAYLOADS[1])
    user = UserFactory(username="mallory", display_name=PAYLOADS[0], roles=[Role.IAM, Role.OWNER], team=team)
    identity = IdentityFactory(owner=user, name=f"bot {PAYLOADS[1]}", team=team)
    with transaction.atomic():
        for payload in PAYLOADS:
            audit.record(
                as_actor(user),
                "identity.updated",
                identity,
                before={"purpose": payload},
                after={"purpose": payload[::-1]},
                reason=payload,
            )
    return user


@pytest.mark.parametrize("path", ["/", "/audit/", "/audit/?verb=identity.updated"])
def test_markup_in_names_and_reasons_is_escaped(client, marked_up, path):
    client.force_login(marked_up)
    html = client.get(path).content.decode()
    for raw in RAW_TAGS:
        assert raw not in html, f"{raw!r} reached {path} unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text (display name or reason)
    if path.startswith("/audit/"):
        assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # name, reason, before
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_markup_is_escaped_in_the_htmx_fragment(client, marked_up):
    client.force_login(marked_up)
    html = client.get("/audit/?verb=identity.updated", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html
    for raw in RAW_TAGS:
        assert raw not in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
