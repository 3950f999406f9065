"""Approve from chat (issue 28): Slack messages about approval requests whose buttons decide steps
through the same engine services as the browser, for people who linked their Slack user while signed
in to Steward."""
