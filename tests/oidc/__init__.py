"""Test harness: panva's oidc-provider (npm) on loopback for the SSO tests; see tests/oidc/panva.py."""
