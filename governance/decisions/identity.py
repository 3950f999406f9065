"""What just-in-time access adds to an identity's timeline: its access requests (decided on the
approval engine, so their approval requests belong to the story too)."""

from governance.decisions.models import AccessRequest
from governance.links import link
from inventory import timeline


def register() -> None:
    timeline.register_source(
        timeline.Source(
            "governance.accessrequest",
            lambda identity: AccessRequest.objects.filter(identity=identity),
            lambda subject_id, identity: link("access-request-detail", subject_id),
            approvable=True,
        )
    )
