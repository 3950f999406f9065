"""The list tools' three forms: choose columns, save the current filter by name, delete a saved one.
Plain POSTs that lead back to the list (no JavaScript needed); a refusal is a message on the list."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from governance.links import link
from governance.lists import services


def _spec(request, list_key: str) -> services.ListSpec:
    try:
        spec = services.spec_for(list_key)
    except LookupError:
        raise Http404("No such list.") from None
    if not services.may_shape(request.user, spec):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Your role does not give access to this list.")
    return spec


def _back(spec: services.ListSpec, query: str) -> HttpResponseRedirect:
    url = link(spec.url_name)
    query = services.clean_saved_query(query)
    return HttpResponseRedirect(f"{url}?{query}" if query else url)


def _errors(exc: ValidationError) -> list[str]:
    return (
        [m for messages_ in exc.message_dict.values() for m in messages_]
        if hasattr(exc, "error_dict")
        else exc.messages
    )


@require_http_methods(["GET", "POST"])
def list_columns(request, list_key: str):
    """A small page of checkboxes (kept off the list itself, whose filters have the same labels)."""
    spec = _spec(request, list_key)
    if request.method == "GET":
        query = services.clean_saved_query(request.GET.get("query", ""))
        tools = services.tools(request.user, spec, query)
        back = link(spec.url_name) + (f"?{query}" if query else "")
        return render(request, "governance/list_columns.html", {"spec": spec, "tools": tools, "back": back})
    chosen = [] if request.POST.get("reset") else request.POST.getlist("columns")
    try:
        services.set_columns(request.user, spec, chosen)
    except ValidationError as exc:
        for text in _errors(exc):
            messages.error(request, text)
    else:
        messages.success(request, "Columns saved.")
    return _back(spec, request.POST.get("query", ""))


@require_POST
def saved_view_create(request, list_key: str):
    spec = _spec(request, list_key)
    query = request.POST.get("query", "")
    try:
        view = services.save_view(request.user, spec, request.POST.get("name", ""), query)
    except ValidationError as exc:
        for text in _errors(exc):
            messages.error(request, f"Filter not saved: {text}")
    else:
        messages.success(request, f"Filter “{view['name']}” saved.")
    return _back(spec, query)


@require_POST
def saved_view_delete(request, list_key: str):
    spec = _spec(request, list_key)
    name = request.POST.get("name", "")
    if services.delete_view(request.user, spec, name):
        messages.success(request, f"Filter “{name}” deleted.")
    else:
        messages.error(request, f"No saved filter named “{name}”.")
    return _back(spec, request.POST.get("query", ""))
