"""SCIM filters (RFC 7644 §3.4.2.2) as Django Q objects, so a search is one indexed query.

Every published attribute Steward keeps in a column can be filtered on, with every operator its type
allows; the rest (`emails.type`, `members.type`, …) answer 400 `invalidFilter`. An attribute the
resource type does not have matches none of its resources (§3.4.2.1). String comparisons ignore case
where the attribute is not caseExact; `gt`/`lt` on strings follow the database's ordering.
"""

from __future__ import annotations

from datetime import UTC

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from scim2_models import InvalidFilterException
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from governance.people.scim.provider import GROUP_SCHEMA, KEPT, USER_SCHEMA
from governance.people.scim.serialisation import as_pk

TEXT, EXACT_TEXT, BOOLEAN, ID, DATETIME = "text", "exact text", "boolean", "id", "datetime"

# SCIM attribute (lowercase) → (ORM lookup, kind). Multi-valued attributes name their `value`.
USER_COLUMNS = {
    "id": ("pk", ID),
    "username": ("username", TEXT),
    "externalid": ("scim_external_id", EXACT_TEXT),
    "displayname": ("display_name", TEXT),
    "name.givenname": ("first_name", TEXT),
    "name.familyname": ("last_name", TEXT),
    "emails": ("email", TEXT),
    "emails.value": ("email", TEXT),
    "active": ("is_active", BOOLEAN),
    "groups": ("scim_groups__pk", ID),
    "groups.value": ("scim_groups__pk", ID),
    "groups.display": ("scim_groups__display_name", TEXT),
    "meta.created": ("date_joined", DATETIME),
}
GROUP_COLUMNS = {
    "id": ("pk", ID),
    "externalid": ("external_id", EXACT_TEXT),
    "displayname": ("display_name", TEXT),
    "members": ("members__pk", ID),
    "members.value": ("members__pk", ID),
    "meta.created": ("created_at", DATETIME),
    "meta.lastmodified": ("updated_at", DATETIME),
}
NOTHING = Q(pk__in=[])
TEXT_LOOKUPS = {
    CompareOperator.eq: "exact",
    CompareOperator.co: "contains",
    CompareOperator.sw: "startswith",
    CompareOperator.ew: "endswith",
}
ORDER_LOOKUPS = {
    CompareOperator.gt: "gt",
    CompareOperator.ge: "gte",
    CompareOperator.lt: "lt",
    CompareOperator.le: "lte",
}


def _declared(schema: str) -> set[str]:
    names = {"id", "externalid", "meta", "meta.created", "meta.lastmodified"}
    for attribute, subs in KEPT[schema].items():
        names.add(attribute.lower())
        names.update(f"{attribute}.{sub}".lower() for sub in subs or ("value", "display", "type", "primary"))
    return names


class _ToQ(FilterVisitor[Q]):
    def __init__(self, schema: str, columns: dict, prefix: str = ""):
        self.schema, self.columns, self.prefix = schema, columns, prefix
        self.declared = _declared(schema)
        self.joins = False

    def _column(self, path: AttrPath) -> tuple[str, str] | None:
        if path.uri and path.uri.lower() != self.schema.lower():
            return None
        name = (self.prefix + str(AttrPath(path.attr, path.sub_attr))).lower()
        if name in self.columns:
            lookup, kind = self.columns[name]
            self.joins = self.joins or "__" in lookup
            return lookup, kind
        if name in self.declared:
            raise InvalidFilterException(detail=f"Steward cannot filter on '{name}'.")
        return None  # not an attribute of this resource type: matches none of its resources

    def visit_comparison(self, node: Comparison) -> Q:
        column = self._column(node.attr_path)
        if column is None:
            return NOTHING
        lookup, kind = column
        op, value = node.op, node.value
        if op == CompareOperator.ne:
            return ~self.visit_comparison(Comparison(node.attr_path, CompareOperator.eq, value))
        if kind == BOOLEAN:
            if op != CompareOperator.eq or not isinstance(value, bool):
                raise InvalidFilterException(
                    detail=f"'{node.attr_path}' compares with eq/ne to true or false."
                )
            return Q(**{lookup: value})
        if kind == ID:
            if op != CompareOperator.eq or not isinstance(value, str):
                raise InvalidFilterException(detail=f"'{node.attr_path}' compares with eq/ne to an id.")
            pk = as_pk(value)
            return NOTHING if pk is None else Q(**{lookup: pk})
        if kind == DATETIME:
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None or op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
                raise InvalidFilterException(detail=f"'{node.attr_path}' compares to a date and time.")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, UTC)
            return Q(**{f"{lookup}__{ORDER_LOOKUPS.get(op, 'exact')}": moment})
        if not isinstance(value, str):
            raise InvalidFilterException(detail=f"'{node.attr_path}' compares to a string.")
        if op in ORDER_LOOKUPS:
            return Q(**{f"{lookup}__{ORDER_LOOKUPS[op]}": value})
        suffix = TEXT_LOOKUPS[op]
        return Q(**{f"{lookup}__{suffix if kind == EXACT_TEXT else 'i' + suffix}": value})

    def visit_present(self, node: Present) -> Q:
        column = self._column(node.attr_path)
        if column is None:
            return NOTHING
        lookup, kind = column
        present = Q(**{f"{lookup}__isnull": False})
        return present & ~Q(**{lookup: ""}) if kind in (TEXT, EXACT_TEXT) else present

    def visit_not(self, node: Not) -> Q:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Q:
        terms = [self.visit(term) for term in node.terms]
        combined = terms[0]
        for term in terms[1:]:
            combined = combined & term if node.op == LogicalOperator.and_ else combined | term
        return combined

    def visit_value_path(self, node: ValuePath) -> Q:
        if node.attr_path.uri and node.attr_path.uri.lower() != self.schema.lower():
            return NOTHING
        inner = _ToQ(self.schema, self.columns, prefix=f"{node.attr_path.attr}.")
        q = inner.visit(node.val_filter)
        self.joins = self.joins or inner.joins
        return q


def to_q(scim_filter, resource_type_name: str) -> tuple[Q, bool]:
    """The Q for a filter on Users or Groups, and whether it joins a relation (then: distinct)."""
    if scim_filter is None:
        return Q(), False
    schema, columns = (
        (USER_SCHEMA, USER_COLUMNS) if resource_type_name == "User" else (GROUP_SCHEMA, GROUP_COLUMNS)
    )
    visitor = _ToQ(schema, columns)
    return visitor.visit(scim_filter.ast), visitor.joins
