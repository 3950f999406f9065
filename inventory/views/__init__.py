"""The inventory's pages: identities (list, detail, edit, lifecycle), credentials, import, bulk reassign
and ownership transfers. The pages of the flows that run on the approval engine (activation, scope
change, reactivation) are `approvals.views`; their URLs stay under /inventory/."""
