"""{% load reviews %}{% identity_reviews identity %}: an identity's review history and next review due."""

from django import template
from django.utils import timezone

from governance.reviews.queries import review_history

register = template.Library()


@register.inclusion_tag("governance/reviews/_identity_reviews.html")
def identity_reviews(identity, limit: int = 20):
    due = identity.next_review_due
    return {
        "identity": identity,
        "review_items": list(review_history(identity)[:limit]),
        "review_overdue": bool(due and due < timezone.localdate()),
    }
