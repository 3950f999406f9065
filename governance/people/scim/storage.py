"""scim2-server's storage over Steward's tables: reads here, writes through the SCIM services.

scim2-server validates each request, applies PUT and PATCH to the stored resource, and hands the
storage the whole new state; the services compare it with the row and write (and audit) only what
changed. One storage serves one request: a write locks the row it read, in one transaction, so two
concurrent PATCHes of a group's members (Entra ID sends them in parallel) cannot lose each other.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from scim2_models import NotFoundException, Resource, ResourceType, SearchRequest
from scim2_server.storage import ScimStorage, SearchPage

from governance.people.models import ScimGroup
from governance.people.scim import filters, serialisation, services


def _users():
    groups = Prefetch("scim_groups", queryset=ScimGroup.objects.order_by("pk"))
    return services.managed_users().prefetch_related(groups)


def _groups():
    members = Prefetch("members", queryset=services.managed_users().order_by("pk"))
    return ScimGroup.objects.prefetch_related(members)


TYPES = {
    "User": (_users, serialisation.user_resource),
    "Group": (_groups, serialisation.group_resource),
}


class StewardStorage(ScimStorage):
    def __init__(self, *, for_update: bool = False):
        self.for_update = for_update

    def operation(self):
        return transaction.atomic()

    def _row(self, resource_type: ResourceType, resource_id: str | None):
        queryset, _ = TYPES[resource_type.name]
        pk = serialisation.as_pk(resource_id)
        rows = queryset()
        if self.for_update:
            rows = rows.select_for_update(of=("self",))
        row = rows.filter(pk=pk).first() if pk is not None else None
        if row is None:
            raise NotFoundException(detail=f"{resource_type.name} {resource_id!r} not found")
        return row

    def get(self, resource_type, resource_id, *, response_parameters=None) -> Resource[Any]:
        _, serialise = TYPES[resource_type.name]
        return serialise(self._row(resource_type, resource_id))

    def search(
        self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *, position: Any = None
    ) -> SearchPage:
        """Index pagination over one type, or over Users then Groups at the root."""
        start = search_request.start_index_0 or 0
        count = search_request.count
        total, resources = 0, []
        for resource_type in resource_types:
            queryset, serialise = TYPES[resource_type.name]
            q, joins = filters.to_q(search_request.filter, resource_type.name)
            rows = queryset().filter(q)
            if joins:
                rows = rows.distinct()
            found = rows.count()
            skip = max(start - total, 0)
            room = None if count is None else count - len(resources)
            if skip < found and (room is None or room > 0):
                page = rows.order_by("pk")[skip : found if room is None else skip + room]
                resources.extend(serialise(row) for row in page)
            total += found
        return SearchPage(total=total, resources=resources)

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if resource_type.name == "User":
            row = services.create_user(serialisation.user_data(resource))
        else:
            row = services.create_group(serialisation.group_data(resource))
        return self.get(resource_type, str(row.pk))

    def update(self, resource_type, resource, *, expected_version=None) -> Resource[Any]:
        row = self._row(resource_type, resource.id)
        if resource_type.name == "User":
            services.update_user(row, serialisation.user_data(resource))
        else:
            services.update_group(row, serialisation.group_data(resource))
        return self.get(resource_type, resource.id)

    def delete(self, resource_type, resource_id, *, expected_version=None) -> None:
        row = self._row(resource_type, resource_id)
        if resource_type.name == "User":
            services.delete_user(row)
        else:
            services.delete_group(row)
