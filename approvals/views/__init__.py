"""The approval engine's pages: intake, the inbox, any request's page and decision (`engine_pages`,
`decide`), and the pages of the flows on the identity (activation, scope change, reactivation), whose
URLs are the inventory's (`inventory:activation`, `inventory:scope-change`, `inventory:reactivation`)."""
