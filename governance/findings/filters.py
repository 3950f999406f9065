import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from governance.filters import id_filter
from governance.findings.models import Finding, Rule, Severity
from governance.people.models import Team


class FindingFilter(django_filters.FilterSet):
    rule = django_filters.ChoiceFilter(choices=Rule.choices, label=_("Rule"), empty_label=_("Any rule"))
    status = django_filters.ChoiceFilter(
        choices=Finding.Status.choices, label=_("Status"), empty_label=_("Any status")
    )
    severity = django_filters.ChoiceFilter(
        choices=Severity.choices, label=_("Severity"), empty_label=_("Any severity")
    )
    identity = id_filter("identity_id", label=_("Identity id"))
    team = django_filters.ModelChoiceFilter(
        field_name="identity__team",
        to_field_name="slug",
        queryset=Team.objects.order_by("name"),
        label=_("Team"),
        empty_label=_("Any team"),
    )
    search = django_filters.CharFilter(
        field_name="identity__name", lookup_expr="icontains", label=_("Identity name")
    )
    # "On identities I own" (owner or backup owner): what the dashboard's "my findings" figure counts.
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("On identities I own"))

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(Q(identity__owner=user) | Q(identity__backup_owner=user))

    class Meta:
        model = Finding
        fields = ["rule", "status", "severity", "identity", "team", "search", "mine"]
