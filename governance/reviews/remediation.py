"""What a connector's sync calls once it sees (or fails) a review's revoke at the source.

    from governance.reviews.remediation import confirm_by_source, fail_by_source
    confirm_by_source(identity, "connector:aws-prod")        # pending/failed -> confirmed
    fail_by_source(identity, "connector:aws-prod", "AccessDenied")  # pending -> failed

Both act as `system:<label>`, audit each item in the caller's transaction, and import nothing from the
connectors app (governance sits below it)."""

from governance.reviews.services.decisions import confirm_by_source, fail_by_source

__all__ = ["confirm_by_source", "fail_by_source"]
