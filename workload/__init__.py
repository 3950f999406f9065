"""Workload identity for machine callers (issue 21): trusted issuers, trust bindings, OAuth 2.0 token
exchange (RFC 8693), Steward access and delegation tokens, introspection (RFC 7662), and Security
Event Tokens (RFC 8417, CAEP) pushed (RFC 8935) when an identity's behaviour drifts."""
