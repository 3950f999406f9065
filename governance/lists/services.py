"""Column choice and saved filters for the list pages.

Who may shape a list: whoever may read it (the spec's roles), auditors included. A preference changes
only its owner's own view of a page, never governed state, so it is not audited and the read-only door
(governance.middleware.ReadOnlyRolesMiddleware) lets an auditor's POST to these routes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict

from governance.errors import NotAllowed
from governance.lists.models import ListPreference

NAME_MAX = 60
QUERY_MAX = 2000
VIEWS_MAX = 30
# Never saved with a filter: the page number, and the controls of the list tools themselves.
NOT_SAVED = ("page", "csrfmiddlewaretoken")


@dataclass(frozen=True)
class ListSpec:
    key: str
    title: str
    url_name: str  # the list page; saved filters and the forms' redirects lead back here
    export_name: str  # its CSV of the current filter
    roles: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (key, label) in the order the table shows them
    default: tuple[str, ...] = field(default=())  # shown until a person chooses; none given: every column
    fixed: tuple[str, ...] = field(default=())  # always shown (the row's link)

    def __post_init__(self):
        if not self.default:
            object.__setattr__(self, "default", tuple(key for key, _ in self.columns))

    def label(self, key: str) -> str:
        return dict(self.columns)[key]


REGISTRY: dict[str, ListSpec] = {}


def register(spec: ListSpec) -> ListSpec:
    REGISTRY[spec.key] = spec
    return spec


def spec_for(key: str) -> ListSpec:
    try:
        return REGISTRY[key]
    except KeyError:
        raise LookupError(key) from None


def may_shape(user, spec: ListSpec) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.has_role(*spec.roles)))


def _check(user, spec: ListSpec) -> None:
    if not may_shape(user, spec):
        raise NotAllowed("You cannot read this list, so you cannot shape it.")


def preference(user, spec: ListSpec) -> ListPreference | None:
    """The person's preference for this list: one query."""
    return ListPreference.objects.filter(user=user, list_key=spec.key).first()


def shown_columns(spec: ListSpec, pref: ListPreference | None) -> list[str]:
    chosen = set(pref.columns) if pref and pref.columns else set(spec.default)
    chosen |= set(spec.fixed)
    return [key for key, _ in spec.columns if key in chosen]


def without_page(params: QueryDict) -> str:
    """A list's query string for its links to other pages: everything but the page number."""
    query = params.copy()
    query.pop("page", None)
    return query.urlencode()


def page_context(user, spec: ListSpec, filterset, page, params: QueryDict) -> dict:
    """What every list page's template reads: its filter, the page of rows, the query its links keep
    (everything but the page number), and its column and saved-filter tools (one query)."""
    query = without_page(params)
    list_tools = tools(user, spec, query)
    return {
        "filter": filterset,
        "page": page,
        "query": query,
        "tools": list_tools,
        "shown": list_tools["shown"],
    }


def without_empty(params: QueryDict) -> QueryDict:
    """A copy of the query without its empty fields (a form submits every select, chosen or not)."""
    params = params.copy()
    for key in list(params):
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            params.setlist(key, values)
        else:
            del params[key]
    return params


def clean_saved_query(query: str) -> str:
    """The query as a filter link keeps it: parsed and written out again, without the page number."""
    params = QueryDict(query or "", mutable=True)
    for key in NOT_SAVED:
        params.pop(key, None)
    return without_empty(params).urlencode()


def tools(user, spec: ListSpec, query: str) -> dict:
    """What a list page needs to draw its columns and its saved filters (one query)."""
    pref = preference(user, spec)
    shown = shown_columns(spec, pref)
    current = clean_saved_query(query)
    saved = [dict(v, current=v["query"] == current) for v in (pref.saved_views if pref else [])]
    return {
        "key": spec.key,
        "url_name": spec.url_name,
        "export_name": spec.export_name,
        "shown": shown,
        "columns": [
            {"key": key, "label": label, "shown": key in shown, "fixed": key in spec.fixed}
            for key, label in spec.columns
        ],
        "saved_views": saved,
        "query": current,
        "custom": bool(pref and pref.columns),
    }


def _locked(user, spec: ListSpec) -> ListPreference:
    ListPreference.objects.get_or_create(user=user, list_key=spec.key)
    return ListPreference.objects.select_for_update().get(user=user, list_key=spec.key)


@transaction.atomic
def set_columns(user, spec: ListSpec, columns: list[str]) -> list[str]:
    """Show these columns (unknown keys are refused; none chosen, or the default, resets)."""
    _check(user, spec)
    known = {key for key, _ in spec.columns}
    unknown = sorted(set(columns) - known)
    if unknown:
        raise ValidationError(f"Unknown column: {', '.join(unknown)}.")
    chosen = [key for key, _ in spec.columns if key in set(columns) | set(spec.fixed)]
    if set(chosen) == set(spec.default) | set(spec.fixed) or not set(chosen) - set(spec.fixed):
        chosen = []  # the default: follows the list's default should it change
    pref = _locked(user, spec)
    pref.columns = chosen
    pref.save(update_fields=["columns", "updated_at"])
    return shown_columns(spec, pref)


@transaction.atomic
def save_view(user, spec: ListSpec, name: str, query: str) -> dict:
    _check(user, spec)
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the filter a name."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"A name has at most {NAME_MAX} characters."})
    query = clean_saved_query(query)
    if len(query) > QUERY_MAX:
        raise ValidationError({"query": "This filter is too long to save."})
    pref = _locked(user, spec)
    if any(v["name"].casefold() == name.casefold() for v in pref.saved_views):
        raise ValidationError({"name": f"You already have a filter named “{name}”."})
    if len(pref.saved_views) >= VIEWS_MAX:
        raise ValidationError({"name": f"You can keep {VIEWS_MAX} saved filters per list; delete one first."})
    view = {"name": name, "query": query}
    pref.saved_views = [*pref.saved_views, view]
    pref.save(update_fields=["saved_views", "updated_at"])
    return view


@transaction.atomic
def delete_view(user, spec: ListSpec, name: str) -> bool:
    _check(user, spec)
    pref = _locked(user, spec)
    kept = [v for v in pref.saved_views if v["name"] != name]
    if len(kept) == len(pref.saved_views):
        return False
    pref.saved_views = kept
    pref.save(update_fields=["saved_views", "updated_at"])
    return True
