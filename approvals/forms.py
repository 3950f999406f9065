"""Browser forms for intake. They parse; the services decide what is complete and allowed.

Field `name` attributes are the public contract's field names; grants are a formset with the
prefix `grants` (`grants-0-resource_kind`, `grants-0-actions`, ...).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from approvals.services.intake_checks import ANSWER_FIELDS, TEXT_LIMITS
from governance.policy.services import current_policy
from inventory.forms import EnvironmentsField, PersonChoiceField, TeamChoiceField
from inventory.models import Action, Credential, DataClassification, Identity, ResourceKind
from inventory.snapshots import snapshot_value

GRANTS_PREFIX = "grants"


def _bootstrap(form: forms.BaseForm) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple):
            widget.attrs.setdefault("class", "form-check-input")
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        else:
            widget.attrs.setdefault("class", "form-control")


class IntakeForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=TEXT_LIMITS["name"],
        required=False,
        help_text=_("Unique, e.g. 'claude-code-payments'. It becomes the identity's name."),
    )
    kind = forms.ChoiceField(
        label=_("What kind of tool is it?"),
        choices=[("", _("Choose…")), *Identity.Kind.choices],
        required=False,
    )
    vendor = forms.CharField(
        label=_("Vendor"),
        max_length=TEXT_LIMITS["vendor"],
        required=False,
        help_text=_("'Internal' for tools you build."),
    )
    product = forms.CharField(label=_("Product"), max_length=TEXT_LIMITS["product"], required=False)
    model_name = forms.CharField(
        label=_("Model"),
        max_length=TEXT_LIMITS["model_name"],
        required=False,
        help_text=_("For AI tools, the model it runs."),
    )
    purpose = forms.CharField(
        label=_("Why is it needed?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What it will do for the team, and why existing tools are not enough."),
    )
    # The same people who may own an identity anywhere else (inventory.forms.people).
    owner = PersonChoiceField(
        label=_("Owner"), required=False, help_text=_("Answers reviews and is accountable for it.")
    )
    backup_owner = PersonChoiceField(
        label=_("Backup owner"), required=False, help_text=_("Takes over when the owner is away or leaves.")
    )
    team = TeamChoiceField(label=_("Team"), required=False)
    environments = EnvironmentsField(
        label=_("Environments"),
        required=False,
        help_text=_("Where it will run or reach. Production raises the risk tier."),
    )
    credential_kind = forms.ChoiceField(
        label=_("How does it authenticate?"),
        choices=[("", _("Choose…")), *Credential.Kind.choices],
        required=False,
        help_text=_("Short-lived federated credentials (OIDC, SPIFFE) are preferred. Never paste a secret."),
    )
    data_classification = forms.ChoiceField(
        label=_("Most sensitive data it touches"),
        choices=DataClassification.choices,
        initial=DataClassification.INTERNAL,
        required=False,
    )
    autonomous = forms.BooleanField(
        label=_("Acts autonomously"),
        required=False,
        help_text=_("Tick when it acts without a person confirming each step."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vendors = current_policy().allowed_vendors
        self.fields["vendor"].widget.attrs["list"] = "vendor-list"
        _bootstrap(self)

    def answers(self) -> dict[str, Any]:
        """The valid answers (partial when some fields failed to parse)."""
        data = getattr(self, "cleaned_data", {})
        out = {k: data[k] for k in ANSWER_FIELDS if k in data and k != "grants"}
        for key in ("environments",):
            if key in out:
                out[key] = list(out[key])
        return out


class GrantForm(forms.Form):
    resource_kind = forms.ChoiceField(
        label=_("Resource kind"), choices=[("", _("Choose…")), *ResourceKind.choices], required=False
    )
    resource_name = forms.CharField(
        label=_("Resource"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "org/repository, account id, …"}),
    )
    actions = forms.MultipleChoiceField(
        label=_("Actions"), choices=Action.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.DateTimeField(
        label=_("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Optional: time-bound access ends by itself."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)

    def grant(self) -> dict[str, Any] | None:
        data = getattr(self, "cleaned_data", {})
        if not data.get("resource_name") and not data.get("actions") and not data.get("resource_kind"):
            return None  # an empty row is ignored
        return {
            "resource_kind": data.get("resource_kind") or "",
            "resource_name": data.get("resource_name") or "",
            "actions": list(data.get("actions") or []),
            "expires_at": data["expires_at"].isoformat() if data.get("expires_at") else None,
        }


GrantFormSet = formset_factory(GrantForm, extra=0, max_num=50, absolute_max=50)


def grants_formset(data=None, grants: list[dict] | None = None, extra_row: bool = False):
    initial = [
        {
            "resource_kind": g.get("resource_kind"),
            "resource_name": g.get("resource_name"),
            "actions": g.get("actions"),
            "expires_at": (g.get("expires_at") or "")[:16] or None,
        }
        for g in grants or []
    ]
    if data is None and (extra_row or not initial):
        initial.append({})
    return GrantFormSet(data=data, initial=initial or None, prefix=GRANTS_PREFIX)


def form_pair(data=None, intake=None, user=None):
    """The intake form and its grants formset, bound to POST data or filled from a saved request."""
    if data is not None:
        return IntakeForm(data), grants_formset(data)
    if intake is not None:
        initial = {k: snapshot_value(intake, k) for k in ANSWER_FIELDS if k != "grants"}
        return IntakeForm(initial=initial), grants_formset(grants=intake.grants)
    initial = {}
    if user is not None:
        initial = {"owner": user.username, "team": user.team.slug if user.team_id else None}
    return IntakeForm(initial=initial), grants_formset()


def parse(form: IntakeForm, formset) -> dict[str, Any]:
    """Answers from a bound form pair, partial when some rows did not parse (the preview uses this)."""
    form.is_valid()
    answers = form.answers()
    grants = []
    for row in formset.forms:
        row.is_valid()
        grant = row.grant()
        if grant is not None:
            grants.append(grant)
    answers["grants"] = grants
    return answers


def attach_errors(form: IntakeForm, formset, exc: ValidationError) -> list[str]:
    """Put service errors next to their fields; return the ones with no field (and grant errors)."""
    loose: list[str] = []
    for field, messages in exc.message_dict.items():
        if field in form.fields and field != "grants":
            for message in messages:
                form.add_error(field, message)
        else:
            loose.extend(messages)
    return loose
