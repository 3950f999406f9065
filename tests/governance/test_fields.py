"""governance.fields: the references the models share."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance.fields import optional_link, person_on_record


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
