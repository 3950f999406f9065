"""What access reviews add to an identity's timeline: its review items."""

from governance.links import link
from governance.reviews.models import ReviewItem
from inventory import timeline


def register() -> None:
    timeline.register_source(
        timeline.Source(
            "governance.reviewitem",
            lambda identity: ReviewItem.objects.filter(identity=identity),
            lambda subject_id, identity: link("reviews-item", subject_id),
        )
    )
