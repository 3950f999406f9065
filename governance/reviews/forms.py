"""Forms for the review pages. They parse; the services validate and decide."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from governance.people.models import Team
from governance.reviews.models import ReviewItem
from inventory.models import Environment, Identity, RiskTier

CHECK = {"class": "form-check-input"}


def checkboxes() -> forms.CheckboxSelectMultiple:
    return forms.CheckboxSelectMultiple(attrs=CHECK)


class LaunchForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("e.g. 'Q3 high-risk access review'."))
    risk_tiers = forms.MultipleChoiceField(
        label=_("Risk tiers"), choices=RiskTier.choices, required=False, widget=checkboxes()
    )
    kinds = forms.MultipleChoiceField(
        label=_("Kinds"), choices=Identity.Kind.choices, required=False, widget=checkboxes()
    )
    teams = forms.MultipleChoiceField(label=_("Teams"), required=False, widget=checkboxes())
    environments = forms.MultipleChoiceField(
        label=_("Environments"),
        choices=Environment.choices,
        required=False,
        widget=checkboxes(),
    )
    due_at = forms.DateField(
        label=_("Due date"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Reviewers are reminded before it; open items are overdue after it."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"].choices = list(Team.objects.order_by("name").values_list("slug", "name"))

    def scope_fields(self):
        return [self[key] for key in ("risk_tiers", "kinds", "teams", "environments")]

    @property
    def scope(self) -> dict[str, list[str]]:
        data = self.cleaned_data
        return {key: data.get(key) or [] for key in ("risk_tiers", "kinds", "teams", "environments")}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(d.value, d.label) for d in ReviewItem.REVIEWER_DECISIONS],
        widget=forms.RadioSelect(attrs=CHECK),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to modify or revoke; kept with the decision and in the audit log."),
    )
    grants = forms.MultipleChoiceField(
        label=_("Grants to remove"),
        required=False,
        widget=checkboxes(),
        help_text=_("For 'modify': the grants that are no longer needed."),
    )
    shown_seconds = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, grant_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grants"].choices = list(grant_choices)


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note or ticket"),
        max_length=300,
        required=False,
        help_text=_("How the revocation was proven, e.g. 'CHG-1234: key deleted in Vault'."),
    )


class ReassignForm(forms.Form):
    reviewer = forms.CharField(label=_("New reviewer"), max_length=150)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's per-field messages on the form (unknown fields become form-wide errors)."""
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
