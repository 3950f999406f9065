"""What Steward's SCIM service publishes: the schemas (RFC 7643's core User and Group, cut down to the
attributes Steward stores), the two resource types, the ServiceProviderConfig, and how lenient it
is with what identity providers actually send."""

from __future__ import annotations

import copy
from functools import cache

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Patch,
    ResourceType,
    Schema,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_server.service import ScimService
from scim2_server.utils import load_json_resource

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_RESULTS = 200

# The attributes Steward keeps, and of a complex attribute the sub-attributes (None: all of RFC 7643's).
# Everything else an identity provider sends (title, phoneNumbers, the enterprise extension, …) is not
# published, so it is dropped on the way in (ScimPolicy.Unknown.ignore) rather than refused.
KEPT = {
    USER_SCHEMA: {
        "userName": None,
        "name": {"givenName", "familyName"},
        "displayName": None,
        "active": None,
        "emails": None,
        "groups": {"value", "$ref", "display"},
    },
    GROUP_SCHEMA: {"displayName": None, "members": {"value", "$ref", "type"}},
}


def _cut(schema: dict) -> dict:
    kept = KEPT[schema["id"]]
    schema = copy.deepcopy(schema)
    attributes = []
    for attribute in schema["attributes"]:
        if attribute["name"] not in kept:
            continue
        subs = kept[attribute["name"]]
        if subs is not None:
            attribute["subAttributes"] = [s for s in attribute["subAttributes"] if s["name"] in subs]
        attributes.append(attribute)
    schema["attributes"] = attributes
    by_name = {a["name"]: a for a in attributes}
    if schema["id"] == USER_SCHEMA:
        # Steward must always know whether a person may work: a User carries `active`, on creation and
        # replacement alike (Okta and Entra ID always send it). It cannot be removed by PATCH either:
        # "not asserted" has no meaning for an account that is either usable or not.
        by_name["active"]["required"] = True
    else:
        # Members are people: Steward's groups do not nest.
        for sub in by_name["members"]["subAttributes"]:
            if sub["name"] == "$ref":
                sub["referenceTypes"] = ["User"]
            if sub["name"] == "type":
                sub["canonicalValues"] = ["User"]
    return schema


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri="https://datatracker.ietf.org/doc/html/rfc7644",
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="A Steward token of scope 'scim', issued by `manage.py issue_scim_token`.",
                spec_uri="https://datatracker.ietf.org/doc/html/rfc6750",
                primary=True,
            )
        ],
    )


# What Entra ID and Okta send that strict RFC 7644 reading would refuse: attributes Steward does not
# publish (dropped), a `remove` carrying the value to remove (Entra), and a replace of
# `emails[type eq "work"].value` on a user who has no work e-mail yet (Entra: creates the entry).
# Capitalised ops ("Replace") and string booleans ("False") are accepted by scim2-models as they are.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


@cache
def provider() -> ScimProvider:
    schemas = [
        Schema.model_validate(_cut(schema))
        for schema in load_json_resource("default-schemas.json")
        if schema["id"] in KEPT
    ]
    resource_types = [
        ResourceType(
            id="User",
            name="User",
            endpoint="/Users",
            description="A person who signs in to Steward",
            schema_=USER_SCHEMA,
        ),
        ResourceType(
            id="Group",
            name="Group",
            endpoint="/Groups",
            description="A group whose name or externalId STEWARD_OIDC_ROLE_MAP maps to a Steward role",
            schema_=GROUP_SCHEMA,
        ),
    ]
    return ScimProvider.from_discovery(
        schemas, resource_types, config=service_provider_config(), policy=POLICY
    )


@cache
def service() -> ScimService:
    return ScimService(provider())


def resource_type(name: str) -> ResourceType:
    return service().get_resource_type(name)


def model(name: str):
    return service().get_model(resource_type(name))
