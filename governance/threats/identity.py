"""How threat profiles plug in: the identity page's Threats tab, the tier's reasons, the sweep's finding."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from governance.findings.models import Rule
from governance.jobs import registry
from governance.links import link
from governance.threats import profiles
from inventory import extensions


def _profile(identity) -> profiles.Profile | None:
    """Computed once per page: the tab and the tier's reasons show the same profile."""
    if not hasattr(identity, "_threat_profile"):
        identity._threat_profile = profiles.profile_of(identity)
    return identity._threat_profile


def panel_items(identity) -> list[profiles.Profile]:
    """The Threats tab shows one profile (none for identities that are not AI)."""
    profile = _profile(identity)
    return [profile] if profile else []


def risk_reasons(identity) -> list[str]:
    profile = _profile(identity)
    return profile.risk_reasons() if profile else []


def register() -> None:
    registry.register_finding_source(Rule.AGENT_THREAT_UNCONTROLLED, "threat_profiles", profiles.finding_hits)
    extensions.register_panel(
        extensions.Panel(
            key="threats",
            title=_("Threats"),
            template="governance/threats/_identity_panel.html",
            items=panel_items,
            empty=_("No threat profile: only AI assistants, agents, IDE plugins and MCP servers get one."),
            help_text=_(
                "CSA MAESTRO layers it spans and the OWASP Agentic Top 10 threats that apply, each with the "
                "controls Steward would actually apply (the active Cedar set's answers) and the gaps."
            ),
            order=35,
            link=lambda identity: link(
                "findings",
                query={"identity": identity.pk, "rule": Rule.AGENT_THREAT_UNCONTROLLED, "status": ""},
            ),
            tab="threats",
        )
    )
    extensions.register_risk_reasons("threats", risk_reasons)
