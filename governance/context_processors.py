from django.urls import reverse

from governance.people.models import Role

# Top-level links first, then the groups in the order they appear in the bar. Each page sits in one
# group; a group with nothing the user may see is left out.
NAV_GROUPS = [
    ("work", "Work", "bi-inboxes"),
    ("estate", "Estate", "bi-hdd-stack"),
    ("policy-group", "Policy", "bi-sliders"),
    ("assurance", "Assurance", "bi-patch-check"),
]


def navigation(request):
    """The navigation for the signed-in user's roles (hidden links are also refused by the views)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_groups": []}
    governor = user.has_role(Role.IAM, Role.SECURITY)
    reader = governor or user.has_role(Role.AUDITOR)
    member = user.has_role(Role.OWNER, Role.IAM, Role.SECURITY, Role.AUDITOR)
    # (key, label, URL name, allowed, group): group None is a top-level link.
    items = [("dashboard", "Dashboard", "home", True, None)]
    items += [
        ("intake", "New request", "intake-new", user.has_role(Role.OWNER, Role.IAM, Role.SECURITY), None),
        ("approvals", "Approvals", "approvals-inbox", member and not user.is_auditor, "work"),
        ("reviews", "Reviews", "reviews", member, "work"),
        ("findings", "Findings", "findings", member, "work"),
        ("exceptions", "Exceptions", "exceptions", member, "work"),
        ("inventory", "Inventory", "inventory:list", member, "estate"),
        ("credentials", "Credentials", "credentials", member, "estate"),
        ("connectors", "Connectors", "connectors:list", reader, "estate"),
        ("workload", "Workload identity", "workload:issuers", reader, "estate"),
        ("policy", "Policy", "policy", reader, "policy-group"),
        ("decisions", "Decisions", "decisions-log", reader, "policy-group"),
        ("audit", "Audit log", "audit-log", reader, "assurance"),
        ("evidence", "Evidence", "evidence", reader, "assurance"),
    ]

    visible = [
        {"key": key, "label": label, "url": reverse(name), "group": group}
        for key, label, name, allowed, group in items
        if allowed
    ]
    path = request.path
    for item in visible:
        item["active"] = path == "/" if item["url"] == "/" else path.startswith(item["url"])
    groups = []
    for key, label, icon in NAV_GROUPS:
        members = [item for item in visible if item["group"] == key]
        if members:
            active = any(item["active"] for item in members)
            groups.append({"key": key, "label": label, "icon": icon, "items": members, "active": active})
    return {
        "nav_items": visible,
        "nav_top": [item for item in visible if item["group"] is None],
        "nav_groups": groups,
        "user_roles": sorted(user.roles),
    }
