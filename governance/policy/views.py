"""The policy page: Cedar versions, diffs, test cases, "try a request", and the governance document.

Readable by IAM, Security and auditors. Security proposes changes (a governance policy version, or
activating a Cedar version — a rollback too); a second person, Security or IAM but never the proposer,
approves or rejects them. The services check all of it again.
"""

from __future__ import annotations

import hashlib
import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from governance import safe_json
from governance.access import GOVERNORS, READERS, is_htmx, role_required
from governance.actors import as_actor
from governance.decisions import services as decisions
from governance.errors import IllegalTransition
from governance.ids import parse_id
from governance.links import link
from governance.people.models import Role
from governance.policy import cedar, cedar_sets
from governance.policy import services as policy_service
from governance.policy.forms import PolicyForm, setting_label
from governance.policy.models import CedarActivation, CedarPolicySet, PolicyTestCase, PolicyVersion
from governance.policy.services import current_policy
from inventory.models import Action, Environment, Identity, ResourceKind

TRY_IDENTITY_LIMIT = 500


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"__all__": exc.messages}


def _labelled(exc: ValidationError, prefix: str = "") -> list[str]:
    """Every message of the error, each after the name of its field."""
    return [f"{prefix}{field}: {message}" for field, msgs in _errors(exc).items() for message in msgs]


def _is_security(user) -> bool:
    return user.has_role(Role.SECURITY) and not user.is_auditor


def _may_decide(user, proposed_by: str) -> bool:
    """A second person: Security or IAM, not an auditor, and not the one who proposed it."""
    second_role = user.has_role(Role.SECURITY, Role.IAM) and not user.is_auditor
    return second_role and user.get_username() != proposed_by


def _version_or_404(model, version: int):
    if version > 2**31 - 1:  # larger than any stored number; the database would not take it
        raise Http404("No such version.")
    return get_object_or_404(model, version=version)


def _proposal_context(user, proposal: PolicyVersion, in_force) -> dict:
    """A version, what it changes against the policy in force, and whether this user may decide it."""
    changes = [
        {**c, "before_json": json.dumps(c["before"]), "after_json": json.dumps(c["after"])}
        for c in policy_service.document_changes(in_force.document, proposal.document)
    ]
    return {
        "proposal": proposal,
        "changes": changes,
        "stale": proposal.state == PolicyVersion.State.PROPOSED
        and proposal.based_on != (in_force.version or None),
        "can_decide": _may_decide(user, proposal.created_by),
        "is_proposer": user.get_username() == proposal.created_by,
    }


def _try_context(request, **extra) -> dict:
    return {
        "identities": Identity.objects.order_by("name").only("pk", "name", "status")[:TRY_IDENTITY_LIMIT],
        "actions": Action.choices,
        "resource_kinds": ResourceKind.choices,
        "environments": Environment.choices,
        "versions": CedarPolicySet.objects.order_by("-version").only("version", "is_active", "note"),
        **extra,
    }


@require_GET
@role_required(*READERS)
def overview(request):
    cedar_sets.ensure_defaults()
    active = cedar_sets.active_row()
    versions = list(
        CedarPolicySet.objects.order_by("-version").only(
            "version",
            "is_active",
            "note",
            "created_by",
            "created_at",
            "validation_errors",
            "test_results",
            "based_on",
        )
    )
    cases = list(PolicyTestCase.objects.order_by("name"))
    compiled = cedar_sets.active_compiled()
    results = {r["case"]: r for r in cedar_sets.run_test_cases(compiled, cases)["results"]}
    document = PolicyVersion.objects.filter(state=PolicyVersion.State.ACTIVE).first()
    policy = current_policy()
    proposals = [
        _proposal_context(request.user, p, policy)
        for p in PolicyVersion.objects.filter(state=PolicyVersion.State.PROPOSED).order_by("-version")
    ]
    activations = [
        {"activation": a, "can_decide": _may_decide(request.user, a.proposed_by)}
        for a in CedarActivation.objects.filter(state=CedarActivation.State.PROPOSED)
        .select_related("policy_set")
        .order_by("-proposed_at")
    ]
    context = _try_context(
        request,
        active=active,
        policy_versions=versions,
        cases=[(c, results.get(c.pk)) for c in cases],
        can_edit=_is_security(request.user),
        document=document,
        proposals=proposals,
        activations=activations,
        document_json=json.dumps(policy.document, indent=2, sort_keys=True),
        document_tiers=[(t, policy.document["tiers"][t]) for t in policy_service.TIERS],
        document_version=policy.version,
        case_example=json.dumps(cedar.default_test_cases()[0]["request"], indent=1),
        expected_choices=PolicyTestCase.Expected.choices,
    )
    return render(request, "governance/policy/overview.html", context)


@require_GET
@role_required(*READERS)
def version_detail(request, version: int):
    policy_set = get_object_or_404(CedarPolicySet, version=version)
    return render(request, "governance/policy/version.html", _version_context(request, policy_set))


def _version_context(request, policy_set, **extra) -> dict:
    active = cedar_sets.active_row()
    pending = cedar_sets.pending_activation(policy_set)
    return {
        "policy_set": policy_set,
        "active": active,
        "can_edit": _is_security(request.user),
        "is_rollback": active is not None and policy_set.version < active.version,
        "pending": pending,
        "pending_stale": pending is not None and pending.from_version != (active.version if active else None),
        "can_decide": pending is not None and _may_decide(request.user, pending.proposed_by),
        "is_proposer": pending is not None and request.user.get_username() == pending.proposed_by,
        "previous": CedarPolicySet.objects.filter(version__lt=policy_set.version)
        .order_by("-version")
        .first(),
        **extra,
    }


@role_required(Role.SECURITY)
def version_new(request):
    """The editor: a new version based on the active one (or ?from=N)."""
    base_version = request.GET.get("from") or request.POST.get("based_on")
    base = (
        CedarPolicySet.objects.filter(version=parse_id(base_version)).first()
        if parse_id(base_version)
        else cedar_sets.active_row()
    )
    form = {
        "text": base.text if base else cedar.default_policy_text(),
        "schema": base.schema if base else cedar.default_schema_text(),
        "note": "",
        "based_on": base.version if base else "",
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in ("text", "schema", "note", "based_on")}
        based_on = parse_id(form["based_on"])
        try:
            saved = cedar_sets.save_version(
                as_actor(request.user),
                text=form["text"],
                schema=form["schema"],
                note=form["note"],
                based_on=based_on,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            if saved.validation_errors:
                messages.warning(
                    request, f"Saved version {saved.version}, but it is not valid; fix it before activating."
                )
            elif saved.failing_tests:
                messages.warning(
                    request,
                    f"Saved version {saved.version}; {len(saved.failing_tests)} test case(s) fail, "
                    "so it cannot be activated yet.",
                )
            else:
                messages.success(
                    request, f"Saved version {saved.version}: valid, and every test case passes."
                )
            return redirect(saved.get_absolute_url())
    status = 400 if errors else 200
    return render(
        request,
        "governance/policy/editor.html",
        {"form": form, "errors": errors, "base": base},
        status=status,
    )


def _activation_refused(request, policy_set: CedarPolicySet, exc: ValidationError):
    """The version's page again (400) with why it cannot be activated."""
    problems = _errors(exc).get("activation") or [m for v in _errors(exc).values() for m in v]
    policy_set.refresh_from_db()
    context = _version_context(request, policy_set, problems=problems)
    return render(request, "governance/policy/version.html", context, status=400)


@require_POST
@role_required(Role.SECURITY)
def version_activate(request, version: int):
    """Propose activating this version (a rollback when it is older); a second person confirms it."""
    policy_set = _version_or_404(CedarPolicySet, version)
    try:
        cedar_sets.propose_activation(
            as_actor(request.user), policy_set, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return _activation_refused(request, policy_set, exc)
    except IllegalTransition as exc:  # already active, or already waiting for a second person
        return render(request, "409.html", {"message": exc.message}, status=409)
    messages.success(
        request,
        f"Activating version {version} is proposed. Decisions keep using the active version until a "
        "second person (Security or IAM) approves it.",
    )
    return redirect(policy_set.get_absolute_url())


@require_POST
@role_required(*GOVERNORS)
def version_activation_decide(request, version: int, decision: str):
    policy_set = _version_or_404(CedarPolicySet, version)
    comment = request.POST.get("comment", "")
    try:
        if decision == "approve":
            cedar_sets.approve_activation(as_actor(request.user), policy_set, comment=comment)
        else:
            cedar_sets.reject_activation(as_actor(request.user), policy_set, comment=comment)
    except ValidationError as exc:  # it no longer passes its checks (a test case changed since)
        return _activation_refused(request, policy_set, exc)
    except IllegalTransition as exc:
        return render(request, "409.html", {"message": exc.message}, status=409)
    if decision == "approve":
        messages.success(request, f"Version {version} is now active; decisions use it from now on.")
        return redirect("policy")
    messages.success(request, f"Activating version {version} was rejected; the active version stays.")
    return redirect(policy_set.get_absolute_url())


@require_GET
@role_required(*READERS)
def version_diff(request, version: int):
    new = get_object_or_404(CedarPolicySet, version=version)
    against = request.GET.get("against")
    if parse_id(against):
        old = get_object_or_404(CedarPolicySet, version=parse_id(against))
    else:
        old = (
            CedarPolicySet.objects.filter(version=new.based_on).first()
            or CedarPolicySet.objects.filter(version__lt=new.version).order_by("-version").first()
        )
    context = {
        "new": new,
        "old": old,
        "lines": cedar_sets.diff_lines(old, new) if old else [],
        "versions": CedarPolicySet.objects.exclude(pk=new.pk).order_by("-version").only("version"),
    }
    return render(request, "governance/policy/diff.html", context)


@require_POST
@role_required(Role.SECURITY)
def test_case_add(request):
    try:
        case = cedar_sets.add_test_case(
            as_actor(request.user),
            name=request.POST.get("name", ""),
            request=request.POST.get("request", ""),
            expected=request.POST.get("expected", ""),
        )
    except ValidationError as exc:
        for message in _labelled(exc, "Test case "):
            messages.error(request, message)
        return redirect(link("policy", fragment="test-cases"))
    messages.success(
        request, f"Added test case '{case.name}'. Every version is tried against it before activation."
    )
    return redirect(link("policy", fragment="test-cases"))


@require_POST
@role_required(Role.SECURITY)
def test_case_delete(request, pk: int):
    case = get_object_or_404(PolicyTestCase, pk=pk)
    cedar_sets.delete_test_case(as_actor(request.user), case, reason=request.POST.get("reason", ""))
    messages.success(request, f"Removed test case '{case.name}'.")
    return redirect(link("policy", fragment="test-cases"))


@require_POST
@role_required(*READERS)
def try_request(request):
    """A dry run: what would the chosen version answer for this identity now? Nothing is recorded."""
    data = request.POST
    errors: dict[str, list[str]] = {}
    verdict = None
    identity = None
    version = data.get("version") or ""
    payload = {
        "identity": data.get("identity", ""),
        "action": data.get("action"),
        "resource": {"kind": data.get("resource_kind"), "name": data.get("resource_name", "")},
        "environment": data.get("environment"),
        "task_ref": data.get("task_ref", ""),
    }
    try:
        asks, _batch = decisions.parse(payload)
        rows = decisions.subjects.lookup(ids=[asks[0].identity_id])
        if not rows:
            raise ValidationError({"identity": ["Choose an identity."]})
        identity = rows[0]
        subject = decisions.subjects.subjects_for(rows)[identity.pk]
        if parse_id(version):
            row = get_object_or_404(CedarPolicySet, version=parse_id(version))
            compiled = cedar.compile_policy_set(row.version, row.text, row.schema)
        else:
            compiled = cedar_sets.compiled_version(identity.policy_version, identity.policy_digest)
        verdict = compiled.evaluate(subject, asks[0].question(), timezone.now())
    except ValidationError as exc:
        errors = _errors(exc)
    except ValueError as exc:  # an invalid draft cannot be compiled
        errors = {"version": [f"This version cannot be evaluated: {exc}"]}
    context = {"verdict": verdict, "errors": errors, "identity": identity, "payload": payload}
    if is_htmx(request):
        return render(request, "governance/policy/_try_result.html", context, status=400 if errors else 200)
    return render(
        request,
        "governance/policy/try.html",
        _try_context(request, **context, form=data),
        status=400 if errors else 200,
    )


@require_POST
@role_required(Role.SECURITY)
def document_update(request):
    """Propose a new governance policy version; it takes effect once a second person approves it."""
    raw = request.POST.get("document", "")
    try:
        document = safe_json.loads(raw)
    except ValueError as exc:
        messages.error(request, f"The governance policy is not valid JSON: {exc}")
        return redirect(link("policy", fragment="document"))
    try:
        proposal = policy_service.propose_policy(
            as_actor(request.user), document, note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        for message in _labelled(exc):
            messages.error(request, message)
        return redirect(link("policy", fragment="document"))
    messages.success(
        request,
        f"Proposed governance policy version {proposal.version}. It takes effect once a second person "
        "(Security or IAM) approves it.",
    )
    return redirect(proposal.get_absolute_url())


def _digest(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _preview(changes: list[dict]) -> list[dict]:
    return [
        {
            **c,
            "label": setting_label(c["path"]),
            "before_json": json.dumps(c["before"]),
            "after_json": json.dumps(c["after"]),
        }
        for c in changes
    ]


@role_required(Role.SECURITY)
def document_edit(request):
    """The governance policy as a form (or as JSON, the advanced tab): preview what changes against
    the policy in force, then propose it. A second person puts it in force (`document_decide`)."""
    policy = current_policy()
    mode = request.POST.get("mode") or request.GET.get("mode") or "form"
    mode = mode if mode in ("form", "json") else "form"
    data = request.POST if request.method == "POST" else None
    form = PolicyForm(policy.document, data if mode == "form" else None)
    raw = json.dumps(policy.document, indent=2, sort_keys=True)
    errors: dict[str, list[str]] = {}
    changes = None
    digest = ""
    if request.method == "POST":
        note = request.POST.get("note", "").strip()
        document = None
        if mode == "json":
            raw = request.POST.get("document", "")
            try:
                document = safe_json.loads(raw)
            except ValueError as exc:
                errors["document"] = [f"Not valid JSON: {exc}"]
        elif form.is_valid():
            document = form.document()
        if document is not None:
            try:
                merged = policy_service.validate_document(document)
            except ValidationError as exc:
                if mode == "form":
                    form.add_service_errors(_errors(exc))
                else:
                    errors["document"] = _labelled(exc)
            else:
                changes = _preview(policy_service.document_changes(policy.document, merged))
        based_on = parse_id(request.POST.get("based_on")) or 0
        if changes is not None:
            digest = _digest(merged)
        if request.POST.get("intent") == "propose" and changes is not None:
            if request.POST.get("previewed") != digest:
                errors["__all__"] = [
                    "The form changed since the preview: check the changes below, then propose."
                ]
            elif based_on != policy.version:
                errors["__all__"] = [
                    f"The policy in force changed to v{policy.version} while you edited. Check the "
                    "changes below against it, then propose again."
                ]
            elif not changes:
                errors["__all__"] = ["This changes nothing against the policy in force."]
            if not note:
                errors["note"] = ["Say why this change is needed: the second person reads it."]
            if not errors:
                try:
                    proposal = policy_service.propose_policy(as_actor(request.user), document, note=note)
                except ValidationError as exc:
                    errors["__all__"] = _labelled(exc)
                else:
                    messages.success(
                        request,
                        f"Proposed governance policy version {proposal.version}. It takes effect once a "
                        "second person (Security or IAM) approves it.",
                    )
                    return redirect(proposal.get_absolute_url())
    has_errors = bool(errors) or (mode == "form" and data is not None and form.error_count > 0)
    context = {
        "previewed": digest,
        "form": form,
        "mode": mode,
        "raw": raw,
        "errors": errors,
        "has_errors": has_errors,
        "changes": changes,
        "note": request.POST.get("note", ""),
        "policy_version": policy.version,
    }
    return render(request, "governance/policy/document_edit.html", context, status=400 if has_errors else 200)


@require_GET
@role_required(*READERS)
def document_version(request, version: int):
    row = _version_or_404(PolicyVersion, version)
    policy = current_policy()
    context = {
        "proposal": row,
        "proposal_ctx": _proposal_context(request.user, row, policy),
        "in_force_version": policy.version,
        "document_json": json.dumps(row.document, indent=2, sort_keys=True),
    }
    return render(request, "governance/policy/document_version.html", context)


@require_POST
@role_required(*GOVERNORS)
def document_decide(request, version: int, decision: str):
    row = _version_or_404(PolicyVersion, version)
    comment = request.POST.get("comment", "")
    decide = policy_service.approve_policy if decision == "approve" else policy_service.reject_policy
    try:
        decided = decide(as_actor(request.user), row, comment)
    except IllegalTransition as exc:
        return render(request, "409.html", {"message": exc.message}, status=409)
    if decided.state == PolicyVersion.State.ACTIVE:
        messages.success(request, f"Governance policy version {decided.version} is now in force.")
    else:
        messages.success(request, f"Governance policy version {decided.version} was rejected.")
    return redirect(link("policy", fragment="document"))
