"""The import page: upload, preview the diff (a dry run), confirm to apply all-or-nothing.

Between preview and confirm the uploaded file waits in storage under a random name that only this
session knows; confirming re-plans against the database as it is then, inside one transaction.
A preview nobody confirms is deleted after a day by the `import_previews` job (inventory.previews).
"""

from __future__ import annotations

import secrets
import time

from django.contrib import messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.shortcuts import redirect, render

from governance.access import GOVERNORS, role_required
from governance.actors import as_actor
from governance.progress import apply_estimate
from inventory import importers
from inventory.forms import ImportForm
from inventory.previews import preview_path

SESSION_KEY = "inventory_imports"


def _stash(request, content: bytes, filename: str, source: str) -> str:
    token = secrets.token_urlsafe(16)
    default_storage.save(preview_path(token), ContentFile(content))
    pending = request.session.get(SESSION_KEY, {})
    pending[token] = {"filename": filename, "source": source}
    request.session[SESSION_KEY] = pending
    return token


def _unstash(request, token: str) -> tuple[bytes, dict] | None:
    pending = request.session.get(SESSION_KEY, {})
    meta = pending.pop(token, None)
    request.session[SESSION_KEY] = pending
    path = preview_path(token)
    if meta is None or not default_storage.exists(path):
        return None
    with default_storage.open(path, "rb") as handle:
        content = handle.read()
    default_storage.delete(path)
    return content, meta


@role_required(*GOVERNORS)
def import_page(request):
    actor = as_actor(request.user)
    if request.method == "POST" and request.POST.get("confirm"):
        stashed = _unstash(request, request.POST["confirm"])
        if stashed is None:
            messages.error(request, "That preview has expired; upload the file again.")
            return redirect("inventory:import")
        content, meta = stashed
        try:
            plan = importers.import_identities(
                actor, content, filename=meta["filename"], source=meta["source"], dry_run=False
            )
        except importers.ImportRejected as exc:
            return render(
                request, "inventory/import.html", {"form": ImportForm(), "errors": exc.errors}, status=400
            )
        counts = plan.counts
        messages.success(
            request,
            f"Imported {meta['filename']}: {counts['create']} created, {counts['update']} updated, "
            f"{counts['unchanged']} unchanged.",
        )
        return redirect("inventory:list")
    form = ImportForm(request.POST or None, request.FILES or None)
    context = {"form": form}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            content = b""
            source = form.cleaned_data.get("source") or ""
            began = time.monotonic()
            try:
                content = importers.read_upload(upload)
                plan = importers.import_identities(
                    actor, content, filename=upload.name, source=source, dry_run=True
                )
            except importers.ImportRejected as exc:
                context["errors"] = exc.errors
                status = 400
            else:
                context["plan"] = plan
                context["filename"] = upload.name
                # The apply is one transaction and cannot report midway: the page estimates its time
                # from this preview's (issue 22 item 11).
                changing = plan.counts["create"] + plan.counts["update"]
                context["apply_rows"] = changing
                context["apply_seconds"] = apply_estimate(time.monotonic() - began, changing)
                if plan.counts["create"] or plan.counts["update"]:
                    context["token"] = _stash(request, content, upload.name, source)
        else:
            status = 400
    return render(request, "inventory/import.html", context, status=status)
