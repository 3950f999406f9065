"""The identity page's exceptions panel and the identity API's `exceptions` list."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance import prepared
from governance.exceptions.models import PolicyException
from governance.links import link
from inventory import extensions, timeline

SOON_DAYS = 14


def _current(identity):
    return PolicyException.objects.filter(
        identity=identity, state__in=(PolicyException.State.ACTIVE, PolicyException.State.REQUESTED)
    ).order_by("expires_at", "pk")


def panel_items(identity):
    now = timezone.now()
    items = list(_current(identity))
    for exc in items:
        exc.days_left = max(0, (exc.expires_at - now).days)
        exc.expiring_soon = exc.state == PolicyException.State.ACTIVE and exc.days_left <= SOON_DAYS
    return items


def dashboard_context(user) -> dict:
    """Active exceptions the person can see, and those expiring within two weeks (at most 10)."""
    if not user.is_authenticated:
        return {}
    now = timezone.now()
    active = PolicyException.objects.visible_to(user).active(now)
    soon = active.filter(expires_at__lte=now + timedelta(days=SOON_DAYS)).select_related("identity")
    return {
        "exceptions_active_count": active.count(),
        "exceptions_expiring": list(soon.order_by("expires_at", "pk")[:10]),
    }


def api_items(identity):
    """Active exceptions, as the identity API lists them."""
    return [
        {
            "id": exc.pk,
            "rule": exc.rule,
            "state": exc.state,
            "expires_at": exc.expires_at.isoformat(),
            "url": exc.get_absolute_url(),
        }
        for exc in _active(identity)
    ]


def _active(identity) -> list[PolicyException]:
    """The identity's active exceptions, soonest to expire first, through a statement compiled once
    (read on every identity detail; governance/prepared.py)."""
    stand_in, now = prepared.sentinel_ids(1)[0], prepared.SENTINEL_TIME
    return prepared.instances(
        PolicyException,
        "exceptions.identity.active",
        lambda: PolicyException.objects.active(now).filter(identity=stand_in).order_by("expires_at", "pk"),
        {stand_in: identity.pk, now: timezone.now()},
    )


def register() -> None:
    timeline.register_source(timeline.Source.for_model(PolicyException, "exception-detail", approvable=True))
    extensions.register_related("exceptions", api_items)
    extensions.register_panel(
        extensions.Panel(
            key="exceptions",
            title=_("Exceptions"),
            template="governance/exceptions/_identity_panel.html",
            items=panel_items,
            empty=_("No active exceptions: this identity runs under the default policy."),
            help_text=_("Approved, time-bound departures from policy, and requests waiting for Security."),
            order=40,
            link=lambda identity: link("exceptions", query={"identity": identity.pk}),
        )
    )
