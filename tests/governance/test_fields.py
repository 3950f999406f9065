"""governance.fields: the references and the transition table the models share."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import models

from governance.fields import optional_link, person_on_record, transitions
from inventory.models import Identity


class Light(models.TextChoices):
    RED = "red"
    GREEN = "green"
    BROKEN = "broken"


def test_states_the_moves_do_not_name_are_final():
    table = transitions(Light, {Light.RED: {Light.GREEN}, Light.GREEN: {Light.RED, Light.BROKEN}})
    assert table == {"red": {"green"}, "green": {"red", "broken"}, "broken": set()}
    assert list(table) == list(Light)  # every state, in the enum's order


def test_a_move_out_of_an_unknown_state_is_a_programming_error():
    with pytest.raises(ValueError, match="not states of Light"):
        transitions(Light, {"amber": {Light.RED}})


def test_every_model_table_names_each_of_its_states():
    table = Identity.TRANSITIONS
    assert set(table) == set(Identity.Status.values)
    assert table[Identity.Status.DECOMMISSIONED] == set()


def test_the_references_deconstruct_as_written_by_hand():
    """Migrations compare deconstructed fields: the helpers must give exactly Django's own arguments."""
    by_hand = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assert person_on_record().deconstruct() == by_hand.deconstruct()
    one = optional_link("inventory.Identity", on_delete=models.SET_NULL, related_name="x", one_to_one=True)
    assert (
        one.deconstruct()
        == models.OneToOneField(
            "inventory.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="x"
        ).deconstruct()
    )
