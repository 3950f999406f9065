"""Browser forms. Field names match the API and import columns (CONTRACT.md)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from governance.people.models import Role, Team, User
from inventory.models import (
    DESCRIPTIVE_FIELDS,
    TEXT_LENGTHS,
    TIER_ORDER,
    Credential,
    DataClassification,
    Environment,
    Identity,
)
from inventory.risk import assess_identity, below_floor_message
from inventory.services import LIVE_STATUSES, OWNER_EDITABLE_FIELDS, RISK_FIELDS
from inventory.snapshots import snapshot_value

# Who may own an identity: tool owners, IAM and Security (an auditor reads; a person with no role
# cannot be held to account). The pick-lists offer only them, here and on the intake form.
OWNER_ROLES = (Role.OWNER, Role.IAM, Role.SECURITY)


def people():
    return User.objects.filter(is_active=True, groups__name__in=OWNER_ROLES).distinct().order_by("username")


class PersonChoiceField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=people(), to_field_name="username", **kwargs)

    def label_from_instance(self, obj) -> str:
        label = str(obj)
        return label if label == obj.username else f"{label} ({obj.username})"


class TeamChoiceField(forms.ModelChoiceField):
    """A team, chosen by its slug."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Team.objects.all(), to_field_name="slug", **kwargs)


class EnvironmentsField(forms.MultipleChoiceField):
    """Where an identity runs or reaches, one box each."""

    def __init__(self, **kwargs):
        super().__init__(choices=Environment.choices, widget=forms.CheckboxSelectMultiple, **kwargs)


class IdentityEditForm(forms.Form):
    """IAM/Security edit every descriptive field; owners only OWNER_EDITABLE_FIELDS."""

    name = forms.CharField(label=_("Name"), max_length=TEXT_LENGTHS["name"])
    kind = forms.ChoiceField(label=_("Kind"), choices=Identity.Kind.choices)
    vendor = forms.CharField(label=_("Vendor"), max_length=TEXT_LENGTHS["vendor"], required=False)
    product = forms.CharField(label=_("Product"), max_length=TEXT_LENGTHS["product"], required=False)
    model_name = forms.CharField(
        label=_("Model"),
        max_length=TEXT_LENGTHS["model_name"],
        required=False,
        help_text=_("e.g. claude-sonnet-4-5, gpt-4.1"),
    )
    purpose = forms.CharField(label=_("Purpose"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = PersonChoiceField(label=_("Owner"), required=False)
    backup_owner = PersonChoiceField(
        label=_("Backup owner"), required=False, help_text=_("Must be a different person from the owner.")
    )
    team = TeamChoiceField(label=_("Team"), required=False)
    environments = EnvironmentsField(label=_("Environments"), required=False)
    data_classification = forms.ChoiceField(
        label=_("Data classification"), choices=DataClassification.choices
    )
    autonomous = forms.BooleanField(
        label=_("Acts autonomously"),
        required=False,
        help_text=_("Takes actions without a person confirming each step."),
    )
    risk_tier = forms.ChoiceField(
        label=_("Risk tier"),
        choices=Identity.RiskTier.choices,
        help_text=_("May be raised above the computed tier (say why); never set below it."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Kept in the audit log. Required when lowering the risk tier, and when changing what the "
            "identity is (kind, vendor, product, model, environments, data, autonomy): that is asked "
            "for as a scope change and approved before it applies."
        ),
    )

    def __init__(self, *args, identity: Identity, governor: bool, **kwargs):
        initial = {
            name: snapshot_value(identity, name) for name in (*DESCRIPTIVE_FIELDS, "risk_tier", "version")
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.identity = identity
        if not governor:
            for name in list(self.fields):
                if name not in OWNER_EDITABLE_FIELDS | {"version", "reason"}:
                    del self.fields[name]
        else:
            computed = assess_identity(identity)
            self.fields["risk_tier"].help_text = _(
                "Computed from its grants and answers: %(tier)s. May be raised above it (say why); "
                "never set below it."
            ) % {"tier": computed.tier}
        self.fields["backup_owner"].help_text = _(
            "Must be a different person from the owner. Someone new is asked first: they become "
            "backup owner once they accept."
        )

    def clean(self):
        data = super().clean()
        tier = data.get("risk_tier")
        if tier:
            # The floor is computed from the identity as it will be after this edit: on a live one,
            # risk answers become a scope change (re-tiered when approved), so today's answers count.
            answers = {}
            if self.identity.status not in LIVE_STATUSES:
                answers = {k: data[k] for k in RISK_FIELDS if k in data and k in self.fields}
            computed = assess_identity(self.identity, **answers)
            if TIER_ORDER[tier] < TIER_ORDER[computed.tier]:
                self.add_error("risk_tier", below_floor_message(tier, computed))
        return data

    def changes(self) -> dict:
        """Only what differs from the identity now (so the audit shows real changes)."""
        changed = {}
        for name, value in self.cleaned_data.items():
            if name in ("version", "reason"):
                continue
            current = getattr(self.identity, name)
            if name == "environments":
                value, current = sorted(value), sorted(current)
            if value != current:
                changed[name] = value
        return changed


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's refusal shown on the form: each message by its field, the rest above the form."""
    for field, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        form.add_error(field if field in form.fields else None, messages)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the audit log with this change."),
    )


class ConfirmRevocationForm(forms.Form):
    note = forms.CharField(
        label=_("Proof of revocation"),
        max_length=300,
        help_text=_("A ticket reference or note showing the credential was revoked at its provider."),
    )


class DateInput(forms.DateInput):
    input_type = "date"


class CredentialForm(forms.Form):
    """One more credential's metadata. Field names match the API and the import (CONTRACT.md)."""

    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=Credential.Kind.choices,
        help_text=_("OIDC federation and SPIFFE SVIDs are short-lived and preferred by policy."),
    )
    label = forms.CharField(
        label=_("Label or fingerprint"),
        max_length=200,
        required=False,
        help_text=_("e.g. 'SHA256:…' or 'ci-deploy-key-2026'. Never the secret itself."),
    )
    storage = forms.CharField(
        label=_("Stored in"), max_length=200, required=False, help_text=_("e.g. 'Vault kv/ci'.")
    )
    issued_at = forms.DateField(label=_("Issued"), required=False, widget=DateInput)
    expires_at = forms.DateField(label=_("Expires"), required=False, widget=DateInput)
    last_rotated_at = forms.DateField(label=_("Last rotated"), required=False, widget=DateInput)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the audit log."),
    )

    def credential(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "reason" and v not in (None, "")}


class RotationForm(forms.Form):
    rotated_at = forms.DateField(
        label=_("Rotated on"), required=False, widget=DateInput, help_text=_("Today when left empty.")
    )
    label = forms.CharField(
        label=_("New label or fingerprint"),
        max_length=200,
        required=False,
        help_text=_("Only when it changed. Never the secret itself."),
    )
    expires_at = forms.DateField(label=_("New expiry"), required=False, widget=DateInput)
    note = forms.CharField(
        label=_("Note"),
        max_length=1000,
        required=False,
        help_text=_("A ticket or change reference; kept in the audit log."),
    )


class ActivateForm(forms.Form):
    owner = PersonChoiceField(label=_("Owner"))
    backup_owner = PersonChoiceField(label=_("Backup owner"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=2000)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or JSON file"), help_text=_("See docs/examples/ for the columns."))
    source = forms.CharField(
        label=_("Source"),
        max_length=60,
        required=False,
        help_text=_("Used for rows without a 'source' column; rows are matched on source + external_id."),
    )
