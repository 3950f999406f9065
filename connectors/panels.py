"""The identity page's "At the source" section, for identities a connector found."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from connectors.models import SourceRecord
from inventory import extensions


def _records(identity):
    return list(SourceRecord.objects.filter(identity=identity).select_related("connector").order_by("pk"))


def register() -> None:
    extensions.register_panel(
        extensions.Panel(
            key="source",
            title=_("At the source"),
            template="connectors/_identity_panel.html",
            items=_records,
            empty=_("No connector reports this identity."),
            help_text=_("What the last connector sync saw: credentials, entitlements, trust, last use."),
            order=25,
        )
    )
