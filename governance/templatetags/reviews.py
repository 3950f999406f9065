"""{% load reviews %}{% identity_reviews identity %}: an identity's review history and next review due."""

from django import template
from django.utils import timezone

from governance.reviews.queries import review_history

register = template.Library()


@register.inclusion_tag("governance/reviews/_identity_reviews.html")
def identity_reviews(identity, items=None, limit: int = 20):
    """`items`: the identity's review history already loaded by the page (it shows their count too)."""
    due = identity.next_review_due
    return {
        "identity": identity,
        "review_items": list(items) if items is not None else list(review_history(identity)[:limit]),
        "review_overdue": bool(due and due < timezone.localdate()),
    }
