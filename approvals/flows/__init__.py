"""Approval flows about identities already in the inventory: activation (an identity registered,
imported or triaged into a tier whose route needs more than one decision), scope changes and
reactivation. Each registers its kind with the approval engine on import; the inventory reaches
activation and scope changes through `inventory.routes`, which `ApprovalsConfig.ready()` fills."""
