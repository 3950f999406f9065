"""One filter dropdown for every list page: `{% filter_select form.field "Label" %}` renders the label
and a small <select> of the field's choices, "Any" first, with what the request chose selected (one
value or several). It replaces the same dozen lines written out per field and per page."""

from __future__ import annotations

from django import template

register = template.Library()

BLANK_LABELS = {"", "---------"}


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _chosen(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple)):
        return {_text(v) for v in value}
    return {_text(value)}


@register.inclusion_tag("governance/_filter_select.html")
def filter_select(field, label: str = "", any_label: str = "Any", yes: str = "Yes", no: str = "No"):
    """A yes/no filter (no choices of its own) offers `yes` and `no`."""
    chosen = _chosen(field.value())
    options = []
    choices = getattr(field.field, "choices", None)
    if choices is None:
        choices = [("true", yes), ("false", no)]
    for value, text in choices:
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


@register.inclusion_tag("governance/_filter_columns.html")
def filter_selects(form, col: str, **labels: str):
    """Filter dropdowns side by side, each in a column of class `col`, in the order given:
    `{% filter_selects f kind="Kind" status="Status" col="col-6 col-md-2" %}` (field name = label)."""
    return {"col": col, "selects": [filter_select(form[name], label) for name, label in labels.items()]}


@register.inclusion_tag("governance/_filter_select.html")
def choice_select(name: str, label: str, choices, chosen, any_label: str | None = "Any"):
    """The same dropdown for a page that filters without a form: `choices` are (value, label) pairs
    or bare values, `chosen` the request's value. `any_label=None` offers no blank choice."""
    pairs = [choice if isinstance(choice, (list, tuple)) else (choice, choice) for choice in choices]
    wanted = _chosen(chosen)
    return {
        "name": name,
        "id": f"f-{name}",
        "label": label,
        "any_label": any_label,
        "options": [(str(value), text, str(value) in wanted) for value, text in pairs],
    }
