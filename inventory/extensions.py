"""Hooks through which later features (findings, exceptions, …) add to the identity page and API.

A feature registers a provider once (e.g. in its AppConfig.ready):

    from inventory import extensions
    extensions.register_related("findings", lambda identity: [...dicts for the API...])
    extensions.register_panel(extensions.Panel(
        key="findings", title="Findings", template="governance/findings/_identity_panel.html",
        items=lambda identity: Finding.objects.open().filter(identity=identity),
        empty="No open findings.", order=30))

A key nobody registered reads as an empty list in the API; a panel with no template of its own lists
its items plainly (`inventory/panels/_list.html`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RelatedProvider = Callable[[Any], Iterable[dict[str, Any]]]

# API: identities/{id}/ includes one list per key.
_related: dict[str, RelatedProvider] = {}


def register_related(key: str, provider: RelatedProvider) -> None:
    _related[key] = provider


def related(identity, key: str) -> list[dict[str, Any]]:
    provider = _related.get(key)
    return list(provider(identity)) if provider else []


@dataclass
class Panel:
    """One section of the identity page."""

    key: str
    title: Any
    template: str = "inventory/panels/_list.html"
    items: Callable[[Any], Iterable[Any]] = field(default=lambda identity: [])
    empty: Any = ""
    help_text: Any = ""
    order: int = 100
    # The page listing all of it for one identity, e.g. lambda identity: link("findings", query=...).
    link: Callable[[Any], str] | None = None
    # Its own tab on the identity page (the tab's key); empty = shown under Overview.
    tab: str = ""

    def render_context(self, identity) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "template": self.template,
            "items": list(self.items(identity)),
            "empty": self.empty,
            "help_text": self.help_text,
            "link": self.link(identity) if self.link else "",
            "tab": self.tab,
        }


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.key] = panel


def identity_panels(identity) -> list[dict[str, Any]]:
    return [p.render_context(identity) for p in sorted(_panels.values(), key=lambda p: p.order)]


# Lines a feature adds to the identity page's "Why this tier" (e.g. uncontrolled agentic threats).
_risk_reasons: dict[str, Callable[[Any], Iterable[str]]] = {}


def register_risk_reasons(key: str, provider: Callable[[Any], Iterable[str]]) -> None:
    _risk_reasons[key] = provider


def extra_risk_reasons(identity) -> list[str]:
    return [reason for provider in _risk_reasons.values() for reason in provider(identity)]
