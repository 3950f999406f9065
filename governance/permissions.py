from rest_framework import permissions

from governance.access import MEMBERS
from governance.people.models import ApiToken
from governance.people.tokens import SCIM_ONLY


def is_usage_report(request, view) -> bool:
    """A `report`-scoped token calling one of the view's usage-reporting actions
    (`token_report_actions`: POST usage-events/ and identities/{id}/usage/)."""
    token = getattr(request, "auth", None)
    return (
        isinstance(token, ApiToken)
        and token.scope == ApiToken.Scope.REPORT
        and getattr(view, "action", None) in getattr(view, "token_report_actions", ())
    )


REPORT_ONLY = (
    "This token has scope 'report': it only reports usage (POST usage-events/ and "
    "identities/{id}/usage/) and endpoint scans (POST connectors/{id}/reports/), nothing else."
)


class TokenScopePermission(permissions.BasePermission):
    """A read-scoped token may only use safe methods; a SCIM token may not use the API at all; a
    report-scoped token only reports usage (the view's `token_report_actions`), nothing else."""

    message = "This token has read scope; it cannot change anything."

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        if token.scope == ApiToken.Scope.SCIM:
            self.message = SCIM_ONLY
            return False
        if token.scope == ApiToken.Scope.REPORT:
            if is_usage_report(request, view):
                return True
            self.message = REPORT_ONLY
            return False
        if request.method not in permissions.SAFE_METHODS:
            return token.scope == ApiToken.Scope.WRITE
        return True


class ReadAllRoles(permissions.BasePermission):
    """IAM, Security and Auditors (audit log and other read-everything views)."""

    def has_permission(self, request, view):
        from governance.people.models import Role

        return request.user.is_authenticated and request.user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR)


class AuditorReadOnly(permissions.BasePermission):
    """Auditors, and people signed in without any role, read and change nothing: refused before any
    input is looked at, so they always get 403 (never a 400 that hints the call would work with a
    better body). The services refuse them too; this only puts the refusal first."""

    message = "Auditors have read-only access."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        user = request.user
        if not user.is_authenticated or user.is_superuser:
            return True
        from governance.people.models import Role

        if user.has_role(Role.OWNER, Role.IAM, Role.SECURITY):
            return True
        if user.is_auditor:
            return bool(getattr(view, "auditor_may_write", False))
        if isinstance(request.auth, ApiToken) or getattr(request.auth, "is_machine_credential", False):
            # A machine's token (a discovery job reporting usage) may belong to a service user who
            # holds no role: its write scope is what admits it, and the services decide the rest.
            return True
        self.message = "Your account holds no Steward role, so it cannot change anything."
        return False


class QueryTokenPermission(TokenScopePermission):
    """For a POST that only asks a question (decisions/): a read-scoped token may ask too. SCIM and
    report-scoped tokens are still refused (they do one thing each)."""

    def has_permission(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken) and token.scope == ApiToken.Scope.READ:
            return True
        return super().has_permission(request, view)


class InventoryMember(permissions.BasePermission):
    """Tool owners, IAM, Security and Auditors read the whole inventory; writes are checked by services.

    A `report`-scoped token reports usage for any identity whatever its holder's roles (a discovery
    job's service user may hold none); TokenScopePermission keeps it to the usage endpoints."""

    message = "Your role does not give access to the inventory."

    def has_permission(self, request, view):
        if is_usage_report(request, view):
            return True
        return request.user.is_authenticated and request.user.has_role(*MEMBERS)


# Every inventory viewset's: members read, services check each write, tokens keep to their scope.
MEMBER_PERMISSIONS = [permissions.IsAuthenticated, InventoryMember, TokenScopePermission, AuditorReadOnly]
