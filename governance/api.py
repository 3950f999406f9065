from functools import partial

from rest_framework import viewsets

from governance.filters import AuditEventFilter, audit_page_source, audit_total
from governance.findings.api import FindingViewSet
from governance.models import AuditEvent
from governance.paging import CountedPaginator
from governance.permissions import ReadAllRoles, TokenScopePermission
from governance.serializers import AuditEventSerializer


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit log: IAM, Security and Auditors read it; nobody changes it."""

    queryset = AuditEvent.objects.all().order_by("-seq")
    serializer_class = AuditEventSerializer
    permission_classes = [ReadAllRoles, TokenScopePermission]
    filterset_class = AuditEventFilter
    lookup_field = "seq"

    def paginate_queryset(self, queryset):
        params = self.request.query_params
        self.paginator.django_paginator_class = partial(CountedPaginator, counted=audit_total(params))
        return super().paginate_queryset(audit_page_source(queryset, params))


def register(router) -> None:
    from governance.decisions import api as decisions_api
    from governance.evidence import api as evidence_api
    from governance.exceptions import api as exceptions_api
    from governance.policy import api as policy_api
    from governance.reviews import api as reviews_api

    router.register("audit-events", AuditEventViewSet, basename="audit-event")
    router.register("findings", FindingViewSet, basename="finding")
    decisions_api.register(router)
    exceptions_api.register(router)
    evidence_api.register(router)
    reviews_api.register(router)
    policy_api.register(router)
