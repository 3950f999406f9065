"""The request form: parses input; the service decides what is allowed and valid."""

from django import forms
from django.utils.translation import gettext_lazy as _

from governance.exceptions import services
from inventory.models import Identity


def identities_for(user):
    qs = Identity.objects.exclude(status=Identity.Status.DECOMMISSIONED).order_by("name")
    if user.is_iam or user.is_security:
        return qs
    from django.db.models import Q

    return qs.filter(Q(owner=user) | Q(backup_owner=user))


class ExceptionRequestForm(forms.Form):
    identity = forms.ModelChoiceField(
        queryset=Identity.objects.none(),
        label=_("Identity"),
        help_text=_("The identity that departs from the rule."),
    )
    rule = forms.ChoiceField(label=_("Rule"), help_text=_("The finding rule or policy rule it departs from."))
    justification = forms.CharField(
        label=_("Justification"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("Why the rule cannot be met for now, and what ends the departure."),
    )
    compensating_controls = forms.CharField(
        label=_("Compensating controls"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("What limits the risk meanwhile (scoping, monitoring, IP allow-lists, …)."),
    )
    expires_at = forms.DateField(
        label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "No later than the identity's tier allows (low 365, medium 180, high 90, critical 30 days)."
        ),
    )
    renewal_of = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].queryset = identities_for(user)
        self.fields["rule"].choices = [("", "— choose a rule —"), *services.rule_choices()]
