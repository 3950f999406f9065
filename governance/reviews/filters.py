"""Filters for review lists, shared by the API and the pages."""

import django_filters
from django.db.models import Q

from governance.filters import id_filter
from governance.reviews.models import ReviewCampaign, ReviewItem
from inventory.models import RiskTier


class ReviewCampaignFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ReviewCampaign.State.choices, label="State")
    origin = django_filters.ChoiceFilter(choices=ReviewCampaign.Origin.choices, label="Origin")

    class Meta:
        model = ReviewCampaign
        fields = ["state", "origin"]


class ReviewItemFilter(django_filters.FilterSet):
    campaign = id_filter("campaign_id", label="Campaign")
    reviewer = django_filters.CharFilter(field_name="reviewer__username", label="Reviewer")
    decision = django_filters.ChoiceFilter(choices=ReviewItem.Decision.choices, label="Decision")
    identity = id_filter("identity_id", label="Identity")
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices, label="Tier")
    signoff_state = django_filters.ChoiceFilter(choices=ReviewItem.SignOff.choices, label="Sign-off")
    remediation_state = django_filters.ChoiceFilter(
        choices=ReviewItem.Remediation.choices, label="Remediation"
    )
    search = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = ReviewItem
        fields = ["campaign", "reviewer", "decision", "identity", "risk_tier", "signoff_state"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(identity__name__icontains=value) | Q(reviewer__username__icontains=value))
