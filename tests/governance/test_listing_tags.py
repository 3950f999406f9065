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
