"""SCIM 2.0 provisioning (RFC 7643/7644) of Steward's people and groups at /scim/v2/.

Built on scim2-server over scim2-models (python-scim, the family scim2-tester comes from), not on
django-scim2: scim2-server does the protocol — validating every body, applying PATCH (Entra ID's and
Okta's dialect included, through ScimPolicy), filters, `attributes`, discovery and SCIM errors — behind
a small storage interface, so Steward writes only that storage and its audited services; django-scim2
leaves most PATCH operations to adapter methods each application writes (NotImplemented by default)
and filters by raw SQL templates over column maps.
"""
