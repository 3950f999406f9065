import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.filters import id_filter, identity_team_filter
from governance.findings.models import Finding, Rule, Severity


class FindingFilter(django_filters.FilterSet):
    rule = django_filters.ChoiceFilter(choices=Rule.choices, label=_("Rule"), empty_label=_("Any rule"))
    status = django_filters.ChoiceFilter(
        choices=Finding.Status.choices, label=_("Status"), empty_label=_("Any status")
    )
    severity = django_filters.ChoiceFilter(
        choices=Severity.choices, label=_("Severity"), empty_label=_("Any severity")
    )
    identity = id_filter("identity_id", label=_("Identity id"))
    team = identity_team_filter()
    search = django_filters.CharFilter(
        field_name="identity__name", lookup_expr="icontains", label=_("Identity name")
    )
    # "On identities I own" (owner or backup owner): what the dashboard's "my findings" figure counts.
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("On identities I own"))

    # Open and past its due date (the policy's finding_sla_days): what the overdue badge marks.
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        late = Q(status=Finding.Status.OPEN, due_at__lt=timezone.now())
        return queryset.filter(late) if value else queryset.exclude(late)

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(Q(identity__owner=user) | Q(identity__backup_owner=user))

    class Meta:
        model = Finding
        fields = ["rule", "status", "severity", "identity", "team", "search", "mine", "overdue"]
