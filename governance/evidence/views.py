from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from governance.access import READERS, is_htmx, role_required
from governance.actors import as_actor
from governance.csv_safety import safe_row
from governance.evidence.catalogue import CONTROLS_BY_CODE, ensure_loaded
from governance.evidence.models import EvidenceExport
from governance.evidence.sampling import SAMPLE_COLUMNS, SAMPLE_KINDS, draw_sample, sample_csv_rows
from governance.evidence.services import clean_period, default_period, refuse_changed_pack, request_export
from governance.evidence.status import control_statuses
from governance.evidence.verifier import verify_pack

MAX_UPLOAD = 512 * 1024 * 1024


def open_pack(export: EvidenceExport) -> HttpResponse:
    """Serve the pack only if it is still the file that was built: the handle that was hashed is the
    one served, so a file swapped on disk is refused, not sent (issue 19 item 4)."""
    path = Path(settings.MEDIA_ROOT) / export.file_path
    if not export.file_path or not path.is_file():
        raise Http404("The pack file is no longer on disk.")
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    if digest.hexdigest() != export.sha256 or handle.tell() != export.size:
        handle.close()
        refuse_changed_pack(export, digest.hexdigest(), path.stat().st_size)
        return HttpResponse(
            "This pack's file changed on disk since it was built: its SHA-256 no longer matches the one "
            "recorded, so it is not served. Request a new pack; Security has the details in the audit log.",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=export.filename, content_type="application/zip")


def _exports_page(request):
    queryset = EvidenceExport.objects.select_related("requested_by").order_by("-created_at", "-id")
    return Paginator(queryset, 20).get_page(request.GET.get("page"))


@role_required(*READERS)
@require_http_methods(["GET", "POST"])
def evidence_home(request):
    start, end = default_period()
    form = {"period_start": start.isoformat(), "period_end": end.isoformat()}
    errors: dict = {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in ("period_start", "period_end")}
        try:
            export = request_export(as_actor(request.user), form["period_start"], form["period_end"])
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, f"Evidence pack #{export.pk} requested; it will be ready shortly.")
            return redirect("evidence")
    sample = None
    sample_args = {
        "kind": request.GET.get("sample_kind", ""),
        "size": request.GET.get("size", "10"),
        "seed": request.GET.get("seed", ""),
        "period_start": request.GET.get("sample_start", form["period_start"]),
        "period_end": request.GET.get("sample_end", form["period_end"]),
    }
    sample_errors: dict = {}
    if sample_args["kind"]:
        try:
            s_start, s_end = clean_period(sample_args["period_start"], sample_args["period_end"])
            sample = draw_sample(
                sample_args["kind"],
                s_start,
                s_end,
                sample_args["size"],
                sample_args["seed"],
                actor=as_actor(request.user),
            )
            sample_args["seed"] = sample.seed
        except ValidationError as exc:
            sample_errors = exc.message_dict
        else:
            if request.GET.get("format") == "csv":
                return _sample_csv(sample, sample_args)
    context = {
        "page": _exports_page(request),
        "form": form,
        "errors": errors,
        "sample": sample,
        "sample_args": sample_args,
        "sample_errors": sample_errors,
        "sample_kinds": SAMPLE_KINDS,
    }
    return render(request, "governance/evidence/evidence_home.html", context, status=400 if errors else 200)


def _sample_csv(sample, args) -> HttpResponse:
    """The drawn sample as CSV: kind, id, rank, key (the SHA-256 it was ordered by), label, link."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SAMPLE_COLUMNS)
    for row in sample_csv_rows(sample):
        writer.writerow(safe_row(row))
    name = f"sample-{sample.kind}-{args['period_start']}-{args['period_end']}-{sample.seed}.csv"
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@role_required(*READERS)
def export_row(request, pk: int):
    """One pack's row: polled by htmx every 2 s while the pack is pending."""
    export = get_object_or_404(EvidenceExport.objects.select_related("requested_by"), pk=pk)
    return render(request, "governance/evidence/_export_row.html", {"export": export, "polled": True})


@role_required(*READERS)
def export_download(request, pk: int):
    export = get_object_or_404(EvidenceExport, pk=pk, state=EvidenceExport.State.READY)
    return open_pack(export)


@role_required(*READERS)
def control_list(request):
    statuses = control_statuses()
    controls = [(control, statuses.get(control.code)) for control in ensure_loaded()]
    for control, _status in controls:  # each mapping's one-line why, from the catalogue
        info = CONTROLS_BY_CODE.get(control.code)
        control.mappings = [
            (framework, refs, info.rationale.get(framework, "") if info else "")
            for framework, refs in control.references.items()
        ]
    return render(request, "governance/evidence/control_list.html", {"controls": controls})


@role_required(*READERS)
@require_http_methods(["GET", "POST"])
def verify_upload(request):
    """Upload a pack; Steward checks it against its manifest and the live audit chain. Changes nothing."""
    result = None
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("pack")
        if upload is None:
            error = "Choose a pack (.zip) to verify."
        elif upload.size > MAX_UPLOAD:
            error = "That file is larger than any pack Steward makes."
        else:
            result = verify_pack(upload)
    template = "governance/evidence/verify.html"
    if is_htmx(request):
        template += "#outcome"
    return render(request, template, {"result": result, "error": error}, status=400 if error else 200)
