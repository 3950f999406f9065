"""The governance policy as a form (issue 22 item 4): one labelled section per risk tier, the vendor
and model lists, findings and requests, and one row per deny rule.

The forms only read and build a document; `services.propose_policy` stays the only writer (it
validates again). Keys the form does not show (automatic approval, just-in-time, ...) are carried over
from the document in force, unchanged; the JSON tab edits them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from governance.policy.services import SEVERITIES, TIERS
from governance.threats.catalogue import CATALOGUES as THREAT_CATALOGUES
from inventory.models import Action, Environment, Identity

MAX_STEPS = 4
MAX_DAYS = 3650
STEP_CHOICES = [("", "none"), ("iam", "IAM"), ("security", "Security")]
DAY_FIELDS = {
    "review_days": "Access review every (days)",
    "rotation_days": "Rotate credentials every (days)",
    "stale_days": "Stale after unused (days)",
    "exception_max_days": "Longest exception (days)",
}
GENERAL_FIELDS = {
    "min_owners": "Owners each identity needs",
    "request_reminder_days": "Remind approvers after (days)",
    "request_expiry_days": "Requests expire after (days)",
    "threat_catalogue": "Threat catalogue version",
}
LIST_FIELDS = {"allowed_vendors": "Allowed vendors", "allowed_models": "Allowed AI models"}
SEVERITY_LABEL = {s: s.capitalize() for s in SEVERITIES}


def _days(label: str, help_text: str = "") -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=MAX_DAYS,
        help_text=help_text,
        error_messages={
            "required": "Give a number of days.",
            "invalid": "A whole number of days.",
            "min_value": "At least 1 day.",
            "max_value": f"At most {MAX_DAYS} days (ten years).",
        },
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm"}),
    )


class _MarksInvalid(forms.Form):
    """Fields with an error carry Bootstrap's `is-invalid` (Django adds `aria-invalid` itself)."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class TierForm(_MarksInvalid):
    """One risk tier: who approves, in order, and its cadences."""

    def __init__(self, *args, tier: str, **kwargs):
        self.tier = tier
        super().__init__(*args, prefix=f"tier-{tier}", **kwargs)
        for n in range(1, MAX_STEPS + 1):
            self.fields[f"step_{n}"] = forms.ChoiceField(
                label=f"Approval step {n}",
                choices=STEP_CHOICES[1:] if n == 1 else STEP_CHOICES,
                required=n == 1,
                error_messages={"required": "The first approval step is needed."},
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
        for key, label in DAY_FIELDS.items():
            self.fields[key] = _days(label)

    @staticmethod
    def initial_for(data: dict[str, Any]) -> dict[str, Any]:
        steps = list(data.get("steps", []))
        initial = {f"step_{n + 1}": step for n, step in enumerate(steps[:MAX_STEPS])}
        initial.update({key: data.get(key) for key in DAY_FIELDS})
        return initial

    def clean(self):
        data = super().clean()
        chosen = [data.get(f"step_{n}") or "" for n in range(1, MAX_STEPS + 1)]
        for n in range(2, MAX_STEPS + 1):
            if chosen[n - 1] and not chosen[n - 2]:
                self.add_error(f"step_{n}", f"Fill the steps in order: step {n - 1} is empty.")
        return data

    def tier_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        steps = [data[f"step_{n}"] for n in range(1, MAX_STEPS + 1) if data.get(f"step_{n}")]
        return {"steps": steps, **{key: data[key] for key in DAY_FIELDS}}


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class _ListField(forms.CharField):
    """One entry per line; blanks ignored, an entry given twice refused."""

    def __init__(self, label: str, help_text: str):
        super().__init__(
            label=label,
            required=False,
            help_text=help_text,
            widget=forms.Textarea(attrs={"class": "form-control form-control-sm", "rows": 6}),
        )

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def clean(self, value):
        entries = _lines(super().clean(value))
        seen: set[str] = set()
        for entry in entries:
            if len(entry) > 200:
                raise ValidationError(f"'{entry[:40]}…' is longer than 200 characters.")
            if entry.casefold() in seen:
                raise ValidationError(f"'{entry}' is listed twice.")
            seen.add(entry.casefold())
        return entries


class GeneralForm(_MarksInvalid):
    """The lists, findings' due dates, requests and the threat catalogue."""

    allowed_vendors = _ListField(
        LIST_FIELDS["allowed_vendors"], "One vendor per line. Empty: every vendor is allowed."
    )
    allowed_models = _ListField(
        LIST_FIELDS["allowed_models"], "One model per line. Empty: every model is allowed."
    )
    min_owners = forms.IntegerField(
        label=GENERAL_FIELDS["min_owners"],
        min_value=1,
        max_value=10,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm"}),
        error_messages={"min_value": "At least one owner.", "max_value": "At most 10 owners."},
    )
    request_reminder_days = _days(GENERAL_FIELDS["request_reminder_days"])
    request_expiry_days = _days(GENERAL_FIELDS["request_expiry_days"])
    threat_catalogue = forms.ChoiceField(
        label=GENERAL_FIELDS["threat_catalogue"],
        choices=[(v, v) for v in THREAT_CATALOGUES],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="general", **kwargs)
        for severity in reversed(SEVERITIES):
            self.fields[f"sla_{severity}"] = _days(f"Fix {severity} findings within (days)")

    @staticmethod
    def initial_for(document: dict[str, Any]) -> dict[str, Any]:
        initial = {key: document.get(key) for key in (*LIST_FIELDS, *GENERAL_FIELDS)}
        sla = document.get("finding_sla_days") or {}
        initial.update({f"sla_{s}": sla.get(s) for s in SEVERITIES})
        return initial

    def clean(self):
        data = super().clean()
        for milder, worse in zip(SEVERITIES, SEVERITIES[1:], strict=False):
            a, b = data.get(f"sla_{milder}"), data.get(f"sla_{worse}")
            if a is not None and b is not None and b > a:
                self.add_error(
                    f"sla_{worse}", f"{worse.capitalize()} may not have longer than {milder} ({a} days)."
                )
        reminder, expiry = data.get("request_reminder_days"), data.get("request_expiry_days")
        if reminder is not None and expiry is not None and reminder >= expiry:
            self.add_error("request_reminder_days", f"Remind before requests expire ({expiry} days).")
        return data

    def update(self, document: dict[str, Any]) -> None:
        data = self.cleaned_data
        for key in (*LIST_FIELDS, *GENERAL_FIELDS):
            document[key] = data[key]
        document["finding_sla_days"] = {s: data[f"sla_{s}"] for s in SEVERITIES}


class DenyRuleForm(_MarksInvalid):
    """A deny rule: a kind of identity may not hold these actions in these environments. An empty
    choice matches any."""

    code = forms.SlugField(
        label="Code",
        max_length=64,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm mono"}),
        error_messages={
            "required": "Give the rule a code.",
            "invalid": "Letters, digits, underscores and hyphens only.",
        },
    )
    kinds = forms.MultipleChoiceField(
        label="Identity kinds",
        required=False,
        choices=Identity.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    environments = forms.MultipleChoiceField(
        label="Environments", required=False, choices=Environment.choices, widget=forms.CheckboxSelectMultiple
    )
    actions = forms.MultipleChoiceField(
        label="Actions", required=False, choices=Action.choices, widget=forms.CheckboxSelectMultiple
    )
    message = forms.CharField(
        label="Message shown to the requester",
        max_length=300,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
        error_messages={"required": "Say why it is denied: the requester reads this."},
    )

    def clean(self):
        data = super().clean()
        if not (data.get("kinds") or data.get("environments") or data.get("actions")):
            raise ValidationError(
                "Choose at least one kind, environment or action: this rule would deny everything."
            )
        return data

    def rule(self) -> dict[str, Any]:
        rule = {
            key: self.cleaned_data[key] for key in ("code", "kinds", "environments", "actions", "message")
        }
        for key in ("kinds", "environments", "actions"):  # the order in force stays; new ones follow
            chosen = rule[key]
            kept = [v for v in (self.initial or {}).get(key) or [] if v in chosen]
            rule[key] = kept + [v for v in chosen if v not in kept]
        return rule


class _DenyRules(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        codes: set[str] = set()
        for form in self.kept():
            code = form.cleaned_data["code"]
            if code in codes:
                form.add_error("code", f"Another rule already uses the code '{code}'.")
            codes.add(code)

    def kept(self) -> list[forms.Form]:
        """The rules that stay: not deleted, and not the blank row left empty."""
        return [
            form
            for n, form in enumerate(self.forms)
            if not self._should_delete_form(form) and (n < self.initial_form_count() or form.has_changed())
        ]


DenyRuleFormSet = forms.formset_factory(
    DenyRuleForm, formset=_DenyRules, extra=1, can_delete=True, max_num=50
)


class PolicyForm:
    """Every section of the governance policy form, bound or not, and the document it builds."""

    def __init__(self, base: dict[str, Any], data=None):
        self.base = base
        initial = GeneralForm.initial_for(base)
        self.tiers = [
            TierForm(data, tier=tier, initial=TierForm.initial_for(base["tiers"][tier])) for tier in TIERS
        ]
        self.general = GeneralForm(data, initial=initial)
        rules = [
            {key: rule.get(key, "" if key in ("code", "message") else []) for key in DenyRuleForm.base_fields}
            for rule in base.get("deny_rules", [])
        ]
        self.deny_rules = DenyRuleFormSet(data, prefix="deny", initial=rules)
        self.service_errors: list[str] = []

    def is_valid(self) -> bool:
        valid = [form.is_valid() for form in (*self.tiers, self.general)] + [self.deny_rules.is_valid()]
        return all(valid)

    def document(self) -> dict[str, Any]:
        document = copy.deepcopy(self.base)
        document["tiers"] = {form.tier: form.tier_document() for form in self.tiers}
        self.general.update(document)
        document["deny_rules"] = [form.rule() for form in self.deny_rules.kept()]
        return document

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """The service's own checks, put next to the field they name where one matches."""
        for key, messages in errors.items():
            for message in messages:
                match = re.match(r"(\w+)\.(\w+): (.*)", message)
                tier = next((f for f in self.tiers if match and f.tier == match.group(1)), None)
                if key == "tiers" and tier is not None and match.group(2) in tier.fields:
                    tier.add_error(match.group(2), match.group(3))
                else:
                    self.service_errors.append(f"{setting_label(key)}: {message}")

    @property
    def error_count(self) -> int:
        count = sum(len(f.errors) for f in (*self.tiers, self.general))
        count += sum(len(e) for e in self.deny_rules.errors) + len(self.deny_rules.non_form_errors())
        return count + len(self.service_errors)


def setting_label(path: str) -> str:
    """`tiers.high.review_days` → "High tier · Access review every (days)", for the change preview."""
    parts = path.split(".")
    if parts[0] == "tiers" and len(parts) == 3 and parts[1] in TIERS:
        label = "Approval steps" if parts[2] == "steps" else DAY_FIELDS.get(parts[2], parts[2])
        return f"{parts[1].capitalize()} tier · {label}"
    if parts[0] == "finding_sla_days" and len(parts) == 2:
        return f"Fix {parts[1]} findings within (days)"
    labels = {
        **LIST_FIELDS,
        **GENERAL_FIELDS,
        "deny_rules": "Deny rules",
        "auto_approve": "Automatic approval",
    }
    if parts[0] in labels:
        return " · ".join([labels[parts[0]], *parts[1:]])
    return path
