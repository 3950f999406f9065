"""Scheduled work of request-time decisions: JIT request expiry and signing-key rotation."""

from governance.jobs import registry

registry.register_job(
    "access_requests",
    "governance.decisions.jit.expire_stale_access_requests",
    "Expire undecided just-in-time requests past their deadline; close finished windows (hourly).",
)
registry.register_job(
    "signing_keys",
    "governance.decisions.attestation.rotate_signing_keys_if_due",
    "Make sure an attestation key signs now; rotate when due (daily).",
)
