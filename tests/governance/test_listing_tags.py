"""`{% filter_select %}`: one filter dropdown for every list page."""

import pytest
from django.template import Context, Template

from governance.exceptions.filters import ExceptionFilter
from inventory.filters import IdentityFilter
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def render(form, snippet: str) -> str:
    return Template("{% load listing %}" + snippet).render(Context({"f": form}))


def test_several_chosen_values_stay_selected_and_any_comes_first():
    form = IdentityFilter(data={"kind": ["ai_agent", "bot"]}).form
    html = render(form, '{% filter_select f.kind "Kind" %}')
    assert '<label class="form-label" for="id_kind">Kind</label>' in html
    assert html.index('<option value="">Any</option>') < html.index('value="ai_agent"')
    assert '<option value="ai_agent" selected>' in html and '<option value="bot" selected>' in html
    assert '<option value="api_key">' in html


def test_a_related_choice_is_chosen_by_its_slug_and_the_blank_keeps_its_own_label():
    TeamFactory(slug="platform", name="Platform")
    TeamFactory(slug="payments", name="Payments")
    html = render(IdentityFilter(data={"team": "payments"}).form, "{% filter_select f.team %}")
    assert '<option value="">Any team</option>' in html
    assert '<option value="payments" selected>Payments</option>' in html
    assert '<option value="platform">Platform</option>' in html


def test_nothing_chosen_selects_nothing():
    html = render(ExceptionFilter(data={}).form, '{% filter_select f.state "State" %}')
    assert "selected" not in html and '<option value="">Any state</option>' in html


def test_a_yes_no_filter_offers_its_own_words():
    from governance.findings.filters import FindingFilter

    form = FindingFilter(data={"overdue": "false"}).form
    html = render(
        form, '{% filter_select f.overdue any_label="Any due date" yes="Overdue" no="Not overdue" %}'
    )
    assert '<option value="">Any due date</option>' in html
    assert '<option value="false" selected>Not overdue</option>' in html and 'value="true">Overdue' in html


def test_a_page_without_a_form_passes_its_choices():
    html = Template(
        '{% load listing %}{% choice_select "kind" "Kind" kinds chosen any_label="any kind" %}'
        '{% choice_select "age" "Age" ages "7" any_label=None %}'
    ).render(Context({"kinds": ["intake", "exception"], "chosen": "exception", "ages": [("7", "a week")]}))
    assert '<label class="form-label" for="f-kind">Kind</label>' in html
    assert '<option value="exception" selected>exception</option>' in html
    assert '<option value="">any kind</option>' in html and '<option value="">Any' not in html
    assert '<option value="7" selected>a week</option>' in html


def test_several_dropdowns_stand_in_columns_in_the_order_given_under_the_pages_labels():
    form = IdentityFilter(data={"status": "active"}).form
    html = render(form, '{% filter_selects f status="Status" risk_tier="Tier" col="col-6 col-md-2" %}')
    assert html.count('<div class="col-6 col-md-2">') == 2
    assert html.index('for="id_status">Status</label>') < html.index('for="id_risk_tier">Tier</label>')
    assert '<option value="active" selected>' in html
