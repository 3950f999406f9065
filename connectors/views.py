"""Connector pages: the list (with registration), one page per connector with its runs, the run row
htmx polls while a run is going, and IAM's confirmation of a vanished identity."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors import kinds, services
from connectors.models import Connector, ConnectorRun
from governance.access import GOVERNORS, READERS, is_htmx, role_required
from governance.actors import as_actor
from governance.errors import IllegalTransition
from governance.links import link
from inventory.models import Identity

RUNS_PER_PAGE = 20


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"form": exc.messages}


def _settings_from_form(kind: str, post) -> dict:
    """The kind's settings as typed in the form (empty fields left out: their defaults apply)."""
    try:
        cls = kinds.get(kind)
    except KeyError:
        return {}
    config = {}
    for key, setting in cls.settings.items():
        raw = (post.get(f"config_{key}") or "").strip()
        if not raw:
            continue
        if setting.type is int:
            config[key] = int(raw) if raw.isascii() and raw.isdigit() else raw
        elif setting.type is bool:
            words = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}
            config[key] = words.get(raw.lower(), raw)
        else:
            config[key] = raw
    return config


@role_required(*READERS)
@require_http_methods(["GET", "POST"])
def connector_list(request):
    errors: dict[str, list[str]] = {}
    form = {"kind": "aws_iam", "schedule": Connector.Schedule.DAILY}
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        form = {key: request.POST.get(key, "") for key in ("name", "kind", "schedule")}
        form.update({f"config_{k}": v for k, v in request.POST.items() if k.startswith("config_")})
        try:
            connector = services.create_connector(
                as_actor(request.user),
                {
                    "name": request.POST.get("name", "").strip(),
                    "kind": kind,
                    "schedule": request.POST.get("schedule", Connector.Schedule.DAILY),
                    "enforce": request.POST.get("enforce") == "on",
                    "config": _settings_from_form(kind, request.POST),
                },
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(
                request, f"Connector {connector.name} registered. Run a dry run to see what it finds."
            )
            return redirect(connector.get_absolute_url())
    connectors = list(Connector.objects.select_related("identity").order_by("name"))
    latest = {}
    for run in ConnectorRun.objects.filter(connector__in=connectors).order_by(
        "connector_id", "-started_at", "-id"
    ):
        latest.setdefault(run.connector_id, run)
    rows = [(c, latest.get(c.pk)) for c in connectors]
    context = {
        "rows": rows,
        "errors": errors,
        "form": form,
        "kinds": [(k, cls.label) for k, cls in kinds.available().items()],
        # Each kind's settings in a fieldset of its own (a kind without settings has none).
        "kind_settings": [
            (k, cls.label, cls.settings) for k, cls in kinds.available().items() if cls.settings
        ],
        "schedules": Connector.Schedule.choices,
        "may_change": request.user.has_role(*GOVERNORS),
    }
    return render(request, "connectors/connector_list.html", context, status=400 if errors else 200)


@role_required(*READERS)
@require_http_methods(["GET", "POST"])
def connector_detail(request, pk: int):
    connector = get_object_or_404(Connector.objects.select_related("identity", "created_by"), pk=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":  # the settings form
        try:
            services.update_connector(
                as_actor(request.user),
                connector,
                {
                    "schedule": request.POST.get("schedule", connector.schedule),
                    "enforce": request.POST.get("enforce") == "on",
                    "config": _settings_from_form(connector.kind, request.POST),
                },
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, f"Saved the settings of {connector.name}.")
            return redirect(connector.get_absolute_url())
    runs = Paginator(connector.runs.order_by("-started_at", "-id"), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    impl = kinds.available().get(connector.kind)
    context = {
        "connector": connector,
        "page": runs,
        "errors": errors,
        "settings_spec": impl.settings if impl else {},
        "permissions": impl.permissions if impl else "",
        # Endpoints post to this kind (tools/steward-scan): the page shows where, not a sync button.
        "pushed": bool(getattr(impl, "pushed", False)),
        "reports_url": request.build_absolute_uri(link("api:connector-reports", connector.pk)),
        "config_json": json.dumps(connector.config, indent=2, sort_keys=True),
        "schedules": Connector.Schedule.choices,
        "may_change": request.user.has_role(*GOVERNORS),
        "running": connector.runs.filter(state=ConnectorRun.State.RUNNING).exists(),
        "vanished": Identity.objects.filter(source=connector.name, vanished=True).order_by("name")[:50],
    }
    return render(request, "connectors/connector_detail.html", context, status=400 if errors else 200)


@require_POST
@role_required(*GOVERNORS)
def connector_sync(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    dry_run = request.POST.get("dry_run") == "1"
    try:
        run = services.start_run(as_actor(request.user), connector, dry_run=dry_run, trigger="page")
    except IllegalTransition as exc:
        messages.error(request, exc.message)
        return redirect(connector.get_absolute_url())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(connector.get_absolute_url())
    what = "Dry run" if dry_run else "Sync"
    messages.success(request, f"{what} started (run {run.pk}); this page follows its progress.")
    return redirect(connector.get_absolute_url())


@require_GET
@role_required(*READERS)
def run_row(request, pk: int):
    """One run's row: polled by htmx every 2 s while the run is going."""
    run = get_object_or_404(ConnectorRun.objects.select_related("connector"), pk=pk)
    if not is_htmx(request):
        return redirect(run.get_absolute_url())
    return render(request, "connectors/_run_row.html", {"run": run, "polled": True})


@require_POST
@role_required(*GOVERNORS)
def confirm_vanished(request, pk: int, identity_pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    identity = get_object_or_404(Identity, pk=identity_pk)
    try:
        services.confirm_vanished(as_actor(request.user), connector, identity, request.POST.get("reason", ""))
    except IllegalTransition as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{identity.name} is decommissioned: gone from {connector.name}, confirmed."
        )
    return redirect(identity.get_absolute_url())
