from governance.people.models import Role


def navigation(request):
    """The navigation for the signed-in user's roles (hidden links are also refused by the views)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    governor = user.has_role(Role.IAM, Role.SECURITY)
    reader = governor or user.has_role(Role.AUDITOR)
    member = user.has_role(Role.OWNER, Role.IAM, Role.SECURITY, Role.AUDITOR)
    items = [("dashboard", "Dashboard", "/", True)]
    items += [
        ("inventory", "Inventory", "/inventory/", member),
        ("credentials", "Credentials", "/credentials/", member),
        ("intake", "New request", "/intake/new/", user.has_role(Role.OWNER, Role.IAM, Role.SECURITY)),
        ("approvals", "Approvals", "/approvals/", member and not user.is_auditor),
        ("reviews", "Reviews", "/reviews/", member),
        ("exceptions", "Exceptions", "/exceptions/", member),
        ("findings", "Findings", "/findings/", member),
        ("decisions", "Decisions", "/decisions/", reader),
        ("audit", "Audit log", "/audit/", reader),
        ("evidence", "Evidence", "/evidence/", reader),
        ("policy", "Policy", "/policy/", reader),
    ]
    from django.urls import Resolver404, resolve

    visible = []
    for key, label, url, allowed in items:
        if not allowed:
            continue
        try:  # only link pages that exist in this build
            resolve(url)
        except Resolver404:
            continue
        visible.append({"key": key, "label": label, "url": url})
    path = request.path
    for item in visible:
        item["active"] = path == "/" if item["url"] == "/" else path.startswith(item["url"])
    return {"nav_items": visible, "user_roles": sorted(user.roles)}
