"""One filter dropdown for every list page: `{% filter_select form.field "Label" %}` renders the label
and a small <select> of the field's choices, "Any" first, with what the request chose selected (one
value or several). It replaces the same dozen lines written out per field and per page."""

from __future__ import annotations

from django import template

register = template.Library()

BLANK_LABELS = {"", "---------"}


def _chosen(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple)):
        return {str(v) for v in value}
    return {str(value)}


@register.inclusion_tag("governance/_filter_select.html")
def filter_select(field, label: str = "", any_label: str = "Any"):
    chosen = _chosen(field.value())
    options = []
    for value, text in field.field.choices:
        value = "" if value is None else str(value)
        if value == "":  # the blank choice comes first, under its own label when it has one
            any_label = any_label if str(text) in BLANK_LABELS else text
            continue
        options.append((value, text, value in chosen))
    return {
        "name": field.html_name,
        "id": field.id_for_label or f"id_{field.html_name}",
        "label": label or field.label,
        "any_label": any_label,
        "options": options,
    }
