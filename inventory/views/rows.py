"""The inventory list's rows, their cells built once per row in Python.

Django's template engine resolves every `{{ }}` and `{% if %}` through a chain of lookups, filters
and localisation; a row of the inventory page held about fifty of them, and fifty rows were 18 ms of
a 55 ms page at 100,000 identities (bench/README.md, issue 23, seventh pass). As Django's admin builds
its change list's cells (`admin_list.items_for_result`), each optional column's cell is built here
with `format_html`, which escapes every value as the template did; the page's markup is unchanged
(the table's shell and header stay in `inventory/identity_list.html`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date

from django.utils import timezone
from django.utils.formats import date_format, localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.timezone import template_localtime

from governance.links import id_links
from inventory.models import Identity

NONE = "—"


def _vendor(i: Identity) -> SafeString:
    return format_html(
        '<td class="small">{}{}{}</td>',
        i.vendor,
        format_html(" · {}", i.product) if i.product else "",
        format_html(' <span class="text-secondary mono">{}</span>', i.model_name) if i.model_name else "",
    )


def _owner(i: Identity) -> SafeString:
    return format_html(
        '<td class="small">{}{}</td>',
        i.owner if i.owner else mark_safe('<span class="badge text-bg-danger">no owner</span>'),
        format_html('<div class="text-secondary">backup {}</div>', i.backup_owner) if i.backup_owner else "",
    )


def _last_used(i: Identity) -> SafeString:
    if not i.last_used_at:
        return mark_safe('<td class="small text-nowrap"><span class="text-secondary">never</span></td>')
    at = template_localtime(i.last_used_at)  # the viewer's time, as the template shows it
    return format_html(
        '<td class="small text-nowrap"><time datetime="{}" title="{}">{} ago</time></td>',
        date_format(at, "c"),
        localize(at),
        i.last_used_ago,
    )


def _environments(i: Identity) -> SafeString:
    badges = format_html_join(
        "",
        '<span class="badge {} me-1">{}</span>',
        (("text-bg-dark" if env == "prod" else "text-bg-light border", env) for env in i.environments),
    )
    return format_html("<td>{}</td>", badges)


def _text(css: str, value: Callable[[Identity], object]) -> Callable[[Identity], SafeString]:
    """A cell of one value, a dash when it is empty (the template's `default:"—"`)."""

    def cell(i: Identity) -> SafeString:
        shown = value(i)
        return format_html('<td class="{}">{}</td>', css, localize(shown) if shown else NONE)

    return cell


# In the page's column order (inventory.views.identities.INVENTORY_LIST), the name excepted.
CELLS: dict[str, Callable[[Identity], SafeString]] = {
    "kind": lambda i: format_html('<td class="small">{}</td>', i.kind_label),
    "vendor": _vendor,
    "status": lambda i: format_html(
        '<td><span class="badge badge-status-{}">{}</span></td>', i.status, i.status_label
    ),
    "risk_tier": lambda i: format_html(
        '<td><span class="badge badge-tier-{}">{}</span></td>', i.risk_tier, i.risk_tier_label
    ),
    "owner": _owner,
    "team": _text("small", lambda i: i.team.name if i.team else ""),
    "last_used_at": _last_used,
    "environments": _environments,
    "next_review_due": _text("small text-nowrap", lambda i: i.next_review_due),
    "data_classification": _text("small", lambda i: i.get_data_classification_display()),
    "source": _text("small", lambda i: i.source),
    "external_id": _text("small mono", lambda i: i.external_id),
}


def _select(i: Identity, selected: Collection[str]) -> SafeString:
    """The bulk reassignment's checkbox; a decommissioned identity keeps its owner."""
    if i.status == Identity.Status.DECOMMISSIONED:
        return mark_safe("<td></td>")
    return format_html(
        '<td><input class="form-check-input" type="checkbox" name="identities" value="{}" '
        'form="bulk-reassign" aria-labelledby="identity-name-{}"{}></td>',
        i.pk,
        i.pk,
        mark_safe(" checked") if str(i.pk) in selected else "",
    )


def _name(i: Identity, today: date) -> SafeString:
    overdue = i.next_review_due and i.next_review_due < today and i.status != Identity.Status.DECOMMISSIONED
    return format_html(
        '<td><a href="{}" class="fw-semibold" id="identity-name-{}">{}</a>{}</td>',
        i.url,
        i.pk,
        i.name,
        format_html(
            ' <span class="badge text-bg-danger" title="Review was due {}">review overdue</span>',
            localize(i.next_review_due),
        )
        if overdue
        else "",
    )


ROW_LABELS = ("kind", "status", "risk_tier")


def _with_labels(identities: Iterable[Identity]) -> None:
    """What the cells show besides the fields, worked out once per page rather than once per cell:
    Django's get_FOO_display rebuilds the choices dict and translates every label on each call."""
    labels = {
        name: {value: str(label) for value, label in Identity._meta.get_field(name).flatchoices}
        for name in ROW_LABELS
    }
    now = timezone.now()
    page = id_links("inventory:detail")  # the same link as get_absolute_url, reversed once
    for identity in identities:
        identity.url = page(identity.pk)
        for name in ROW_LABELS:
            value = getattr(identity, name)
            setattr(identity, f"{name}_label", labels[name].get(value, value))
        identity.last_used_ago = timesince(identity.last_used_at, now) if identity.last_used_at else ""


def with_cells(
    identities: list[Identity], shown: Iterable[str], *, today: date, selected: Collection[str] | None
) -> None:
    """Give each identity `cells`: its row's cells in the page's column order, after a checkbox
    where the reader may reassign owners (`selected`: the ids ticked before, as posted)."""
    _with_labels(identities)
    builders = [build for key, build in CELLS.items() if key in shown]
    for identity in identities:
        first = "" if selected is None else _select(identity, selected)
        identity.cells = mark_safe(
            first + _name(identity, today) + "".join(build(identity) for build in builders)
        )
