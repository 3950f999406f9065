"""The inventory's pages: identities (list, detail, edit, lifecycle), credentials, import, bulk reassign,
ownership transfers, and the pages of the flows that run on the approval engine (activation, scope
change, reactivation)."""
