"""The inventory list's rows are built in Python (inventory/views/rows.py, issue 23): every value is
escaped, each shown column has its cell under its own header, and a row says what the template said."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.lists import services as lists
from inventory.views.identities import INVENTORY_LIST
from inventory.views.rows import CELLS
from tests.factories import IdentityFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
HOSTILE = '<script>alert("x")</script>'
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ALL_COLUMNS = [key for key, _label in INVENTORY_LIST.columns]


def table(body: str) -> tuple[list[str], list[list[str]]]:
    """The table's header keys and each row's cells (their opening tags cut off)."""
    thead, tbody = re.search(r"<thead>(.*?)</thead>.*?<tbody>(.*?)</tbody>", body, re.S).groups()
    header = re.findall(r'<th scope="col"(?: data-column="([a-z_]*)")?', thead)
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S)
    ]
    return header, rows


def test_there_is_a_cell_for_every_column_but_the_name_in_the_lists_order():
    assert list(CELLS) == [key for key in ALL_COLUMNS if key != "name"]


@pytest.mark.parametrize("reader", ["iam", "auditor"])
def test_every_value_is_escaped_and_sits_under_its_header(client, request, reader):
    user = request.getfixturevalue(reader)
    lists.set_columns(user, INVENTORY_LIST, ALL_COLUMNS)
    owner = UserFactory(username="mallory", display_name=HOSTILE)
    IdentityFactory(
        name=f"bot {HOSTILE}",
        vendor=HOSTILE,
        product=HOSTILE,
        model_name=HOSTILE,
        source=HOSTILE,
        external_id=HOSTILE,
        owner=owner,
        backup_owner=UserFactory(display_name=HOSTILE),
        team=TeamFactory(name=HOSTILE),
        environments=["prod", "dev"],
        last_used_at=NOW - timedelta(days=3),
        next_review_due=timezone.localdate() - timedelta(days=1),
    )
    client.force_login(user)
    with time_machine.travel(NOW, tick=False), timezone.override("Europe/Paris"):  # the viewer's zone
        body = client.get("/inventory/?search=bot").content.decode()
    assert "<script>" not in body.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 9
    header, rows = table(body)
    selectable = reader == "iam"  # IAM may reassign owners: a checkbox column first
    assert header == ([""] if selectable else []) + ALL_COLUMNS
    (cells,) = rows
    assert len(cells) == len(header)
    by_column = dict(zip(header, cells, strict=True))
    assert "review overdue" in by_column["name"]
    assert "3\xa0days ago</time>" in by_column["last_used_at"]
    assert 'datetime="2026-12-04T13:00:00+01:00" title="Dec. 4, 2026, 1 p.m."' in by_column["last_used_at"]
    assert 'text-bg-dark me-1">prod<' in by_column["environments"]
    assert by_column["next_review_due"] != "—" and by_column["data_classification"]
    if selectable:
        assert 'name="identities"' in by_column[""]


def test_empty_values_show_a_dash_and_a_missing_owner_says_so(client, iam):
    lists.set_columns(iam, INVENTORY_LIST, ALL_COLUMNS)
    IdentityFactory(name="bare", owner=None, team=None, source="", external_id="", model_name="")
    client.force_login(iam)
    header, (cells,) = table(client.get("/inventory/?search=bare").content.decode())
    by_column = dict(zip(header, cells, strict=True))
    assert by_column["owner"] == '<span class="badge text-bg-danger">no owner</span>'
    assert by_column["team"] == by_column["source"] == by_column["external_id"] == "—"
    assert '<span class="text-secondary">never</span>' in by_column["last_used_at"]
    assert by_column["vendor"] == "Anthropic · Claude Code"


def test_a_decommissioned_identity_is_never_overdue_and_cannot_be_ticked(client, iam):
    past = timezone.localdate() - timedelta(days=30)
    IdentityFactory(name="gone", status="decommissioned", next_review_due=past)
    IdentityFactory(name="late", next_review_due=past)
    client.force_login(iam)
    header, rows = table(client.get("/inventory/?search=&ordering=name").content.decode())
    cells = {re.sub("<[^>]+>", "", row[1]).split(" ")[0]: row for row in rows}
    assert cells["gone"][0] == "" and "review overdue" not in cells["gone"][1]
    assert 'name="identities"' in cells["late"][0] and "review overdue" in cells["late"][1]
