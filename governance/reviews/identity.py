"""What access reviews add to an identity's timeline: its review items."""

from governance.reviews.models import ReviewItem
from inventory import timeline


def register() -> None:
    timeline.register_source(timeline.Source.for_model(ReviewItem, "reviews-item"))
