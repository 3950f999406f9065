from datetime import timedelta

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.exceptions.models import PolicyException
from governance.filters import id_filter, identity_team_filter


class ExceptionFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=PolicyException.State.choices, label=_("State"), empty_label=_("Any state")
    )
    rule = django_filters.CharFilter(label=_("Rule"))
    identity = id_filter("identity_id", label=_("Identity id"))
    team = identity_team_filter()
    expiring_within = django_filters.NumberFilter(
        method="filter_expiring", label=_("Active, expiring within (days)"), min_value=0, max_value=3650
    )

    class Meta:
        model = PolicyException
        fields = ["state", "rule", "identity", "team", "expiring_within"]

    def filter_expiring(self, queryset, name, value):
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(
            state=PolicyException.State.ACTIVE,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=int(value)),
        )
