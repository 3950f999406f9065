"""aws_iam: IAM users and their access keys, roles and their trust, policies as entitlements.

Discovery streams the account page by page through boto3's paginators (a page of users or roles
in memory at a time; managed policy documents cached once per run). Requests use botocore's
`standard` retry mode (throttling and 5xx are retried with backoff). Credentials come from the
worker's environment through boto3's default chain, never from Steward's database.

Enforcement: a user's access keys are set `Inactive`; a role gets the inline policy
`StewardDenyAll` (deny everything). Both are reversible at the source and audited in Steward.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import unquote

from connectors.kinds import (
    BaseConnector,
    ConnectorError,
    Entitlement,
    FoundCredential,
    FoundIdentity,
    Page,
    Setting,
    WorkerCredential,
    register,
)

DENY_ALL_POLICY = "StewardDenyAll"
DENY_ALL_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "StewardDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}
POLICY_CACHE_MAX = 5000
PHASES = ("users", "roles")

# IAM action → the grants' words. A verb that is not a known write (Search, Validate, Simulate, ...)
# reads; secrets and code have their own words; writing to IAM itself (or assuming roles) is admin.
SECRET_READS = (
    "secretsmanager:getsecretvalue",
    "secretsmanager:batchgetsecretvalue",
    "ssm:getparameter",
    "kms:decrypt",
)
SECRET_SERVICES = ("secretsmanager", "kms", "ssm")
DEPLOY_SERVICES = ("cloudformation", "lambda", "ecs", "eks", "codedeploy", "elasticbeanstalk", "apprunner")
CI_ACTIONS = ("codebuild:startbuild", "codepipeline:startpipelineexecution")
ADMIN_SERVICES = ("iam", "organizations")
WRITE_VERBS = (
    "create", "put", "update", "delete", "attach", "detach", "add", "remove", "modify", "set", "tag",
    "untag", "start", "stop", "terminate", "run", "invoke", "publish", "send", "upload", "restore",
    "reboot", "register", "deregister", "enable", "disable", "import", "export", "copy", "associate",
    "disassociate", "replace", "reset", "change", "execute", "write", "cancel", "apply", "grant",
    "revoke", "pass", "upgrade", "accept", "reject", "authorize", "merge", "git push", "gitpush",
    "encrypt", "reencrypt", "sign", "rotate", "schedule", "restore", "batchwrite", "batchdelete",
    "batchput", "batchupdate", "batchcreate",
)  # fmt: skip


def _writes(verb: str) -> bool:
    return verb == "*" or verb.startswith(WRITE_VERBS)


PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "StewardDiscovery",
            "Effect": "Allow",
            "Action": [
                "iam:ListUsers",
                "iam:ListAccessKeys",
                "iam:GetAccessKeyLastUsed",
                "iam:ListAttachedUserPolicies",
                "iam:ListUserPolicies",
                "iam:GetUserPolicy",
                "iam:ListGroupsForUser",
                "iam:ListAttachedGroupPolicies",
                "iam:ListGroupPolicies",
                "iam:GetGroupPolicy",
                "iam:ListRoles",
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListOpenIDConnectProviders",
            ],
            "Resource": "*",
        },
        {
            "Sid": "StewardEnforcement",
            "Effect": "Allow",
            "Action": [
                "iam:UpdateAccessKey",
                "iam:PutRolePolicy",
                "iam:DetachUserPolicy",
                "iam:DetachRolePolicy",
                "iam:DeleteUserPolicy",
                "iam:DeleteRolePolicy",
                "iam:RemoveUserFromGroup",
            ],
            "Resource": "*",
        },
    ],
}


def _positive(limit: int):
    def check(value: int) -> str | None:
        return None if 1 <= value <= limit else f"Between 1 and {limit}."

    return check


def _region(value: str) -> str | None:
    return None if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value) else "An AWS region, e.g. eu-west-1."


def _document(value: Any) -> dict[str, Any]:
    """A policy document as boto3 returns it (already decoded) or as IAM sends it (URL-encoded JSON)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            return json.loads(unquote(value))
        except ValueError:
            return {}
    return {}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else [s for s in statements if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def classify_action(action: str) -> set[str]:
    """The grants' actions an IAM action (or pattern) amounts to."""
    action = action.strip().lower()
    if action in ("*", "*:*"):
        return {"admin"}
    service, _, verb = action.partition(":")
    if service in ADMIN_SERVICES:
        return {"admin"} if _writes(verb) else {"read_data"}
    if service == "sts":
        return {"admin"} if verb == "*" or verb.startswith("assumerole") else {"read_data"}
    if verb == "*" and service in SECRET_SERVICES:
        return {"read_secrets", "write_secrets"}
    if any(action.startswith(a) for a in SECRET_READS):
        return {"read_secrets"}
    if service in ("secretsmanager", "kms") or (service == "ssm" and "parameter" in verb):
        return {"write_secrets"} if _writes(verb) else {"read_data"}
    if action in CI_ACTIONS:
        return {"run_ci"}
    if service == "codecommit":
        if verb == "*":
            return {"read_code", "write_code"}
        return {"write_code"} if _writes(verb) else {"read_code"}
    if verb == "*":
        return {"read_data", "write_data"} | ({"deploy"} if service in DEPLOY_SERVICES else set())
    if _writes(verb):
        return {"deploy"} if service in DEPLOY_SERVICES else {"write_data"}
    return {"read_data"}


def summarise(document: dict[str, Any]) -> set[str]:
    """The grants' actions a policy document allows (Deny statements are ignored: this over-states
    rather than hides; NotAction allows almost everything, so it counts as admin)."""
    actions: set[str] = set()
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            actions.add("admin")
            continue
        for action in _as_list(statement.get("Action")):
            if isinstance(action, str):
                actions |= classify_action(action)
    return actions


def trust_summary(document: dict[str, Any], account: str, oidc_providers: set[str]) -> list[dict[str, Any]]:
    """Who may assume the role: OIDC providers (with their conditions), other accounts, services."""
    trusts: list[dict[str, Any]] = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        if principal == "*":
            trusts.append({"type": "anyone"})
            continue
        if not isinstance(principal, dict):
            continue
        for federated in _as_list(principal.get("Federated")):
            entry: dict[str, Any] = {"type": "oidc" if ":oidc-provider/" in federated else "saml"}
            entry["provider"] = federated
            entry["registered"] = federated in oidc_providers
            if statement.get("Condition"):
                entry["condition"] = statement["Condition"]
            trusts.append(entry)
        for aws in _as_list(principal.get("AWS")):
            other = aws.split(":")[4] if aws.startswith("arn:") and aws.count(":") >= 5 else aws
            if other == "*":
                trusts.append({"type": "anyone"})
            elif other != account:
                trusts.append({"type": "cross_account", "account": other, "principal": aws})
            else:
                trusts.append({"type": "same_account", "principal": aws})
        for service in _as_list(principal.get("Service")):
            trusts.append({"type": "service", "service": service})
    return trusts


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@register
class AwsIam(BaseConnector):
    kind = "aws_iam"
    label = "AWS IAM"
    settings = {
        "region": Setting(str, "us-east-1", "The region for IAM's endpoint (IAM is global).", _region),
        "endpoint_url": Setting(
            str, None, "Only for an IAM-compatible endpoint; its host must be on the allowlist."
        ),
        "page_size": Setting(int, 100, "Users or roles per page (1-1000).", _positive(1000)),
        "workers": Setting(
            int, 4, "Identities read from the source at once, within a page (1-16).", _positive(16)
        ),
        "max_attempts": Setting(
            int, 5, "Attempts per request in botocore's standard retry mode.", _positive(10)
        ),
    }
    permissions = json.dumps(PERMISSIONS, indent=2)

    def __init__(self, connector):
        super().__init__(connector)
        self._iam = None
        self._session = None
        self._policies: dict[str, set[str]] = {}
        self._groups: dict[str, list[Entitlement]] = {}

    # ------------------------------------------------------------ the client

    def session(self):
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session

    def client(self):
        if self._iam is None:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": int(self.config["max_attempts"])},
                connect_timeout=10,
                read_timeout=60,
                user_agent_extra="steward-connector",
            )
            self._iam = self.session().client(
                "iam",
                region_name=self.config["region"],
                endpoint_url=self.config.get("endpoint_url") or None,
                config=config,
            )
        return self._iam

    def _call(self, method: str, **kwargs) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(), method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ConnectorError(f"IAM {method}: {error.get('Code', 'error')}: {error.get('Message', '')}")
        except BotoCoreError as exc:
            raise ConnectorError(f"IAM {method}: {exc}")

    def _pages(self, operation: str, key: str, **kwargs) -> Iterator[list[dict[str, Any]]]:
        """Every item of a small per-identity listing (policies, keys, groups), page by page."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in self.client().get_paginator(operation).paginate(**kwargs):
                yield page.get(key, [])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ConnectorError(f"IAM {operation}: {error.get('Code', 'error')}: {error.get('Message', '')}")
        except BotoCoreError as exc:
            raise ConnectorError(f"IAM {operation}: {exc}")

    def _all(self, operation: str, key: str, **kwargs) -> list[dict[str, Any]]:
        return [item for page in self._pages(operation, key, **kwargs) for item in page]

    def worker_credential(self) -> WorkerCredential | None:
        credentials = self.session().get_credentials()
        if credentials is None:
            return None
        method = getattr(credentials, "method", "") or "unknown"
        federated = method in ("assume-role-with-web-identity", "container-role", "iam-role", "sso")
        return WorkerCredential(
            kind="oidc_federation" if federated else "static_key",
            label=f"aws:{method}",
            storage="the worker's environment (boto3 default credential chain)",
        )

    # ------------------------------------------------------------ discovery

    def discover(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Users, then roles, one listing page at a time, each cut into pages of `page_size`
        identities (some IAM-compatible endpoints ignore MaxItems and list everything at once).
        The cursor names the listing page (its Marker) and how many of its items are done."""
        phase = cursor.get("phase") or PHASES[0]
        marker, skip = cursor.get("marker"), int(cursor.get("skip", 0))
        done = int(cursor.get("done", 0))
        oidc = self._oidc_providers()
        with ThreadPoolExecutor(max_workers=int(self.config["workers"])) as pool:
            yield from self._phases(pool, phase, marker, skip, done, oidc)

    def _phases(self, pool, phase, marker, skip, done, oidc) -> Iterator[Page]:
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.paginate import TokenEncoder

        size = int(self.config["page_size"])
        for index in range(PHASES.index(phase), len(PHASES)):
            phase = PHASES[index]
            operation, key = ("list_users", "Users") if phase == "users" else ("list_roles", "Roles")
            pagination: dict[str, Any] = {"PageSize": size}
            if marker:
                pagination["StartingToken"] = TokenEncoder().encode({"Marker": marker})
            try:
                for page in self.client().get_paginator(operation).paginate(PaginationConfig=pagination):
                    items = page.get(key, [])
                    following = page.get("Marker") if page.get("IsTruncated") else None
                    for start in range(skip, len(items), size):
                        chunk = items[start : start + size]
                        read = self._user if phase == "users" else partial(self._role, oidc=oidc)
                        found = list(pool.map(read, chunk))  # in order; one page in memory at a time
                        done += len(found)
                        if start + size < len(items):
                            nxt = {"phase": phase, "marker": marker, "skip": start + size, "done": done}
                        elif following:
                            nxt = {"phase": phase, "marker": following, "skip": 0, "done": done}
                        elif index + 1 < len(PHASES):
                            nxt = {"phase": PHASES[index + 1], "marker": None, "skip": 0, "done": done}
                        else:
                            nxt = None
                        yield Page(found, nxt, {"phase": phase, "done": done})
                    if not items and not following and index + 1 == len(PHASES):
                        yield Page([], None, {"phase": phase, "done": done})
                    marker, skip = following, 0
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise ConnectorError(
                    f"IAM {operation}: {error.get('Code', 'error')}: {error.get('Message', '')}"
                )
            except BotoCoreError as exc:
                raise ConnectorError(f"IAM {operation}: {exc}")
            marker, skip = None, 0

    def _oidc_providers(self) -> set[str]:
        listed = self._call("list_open_id_connect_providers").get("OpenIDConnectProviderList", [])
        return {p["Arn"] for p in listed if "Arn" in p}

    def _policy_actions(self, arn: str) -> set[str]:
        if arn not in self._policies:
            if len(self._policies) >= POLICY_CACHE_MAX:
                self._policies.clear()
            policy = self._call("get_policy", PolicyArn=arn)["Policy"]
            version = self._call("get_policy_version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
            self._policies[arn] = summarise(_document(version["PolicyVersion"].get("Document")))
        return self._policies[arn]

    def _entitlements(self, kind: str, name: str, account: str) -> list[Entitlement]:
        """Attached and inline policies of a user, role or group, each as one entitlement."""
        title = kind.capitalize()
        owner = {f"{title}Name": name}
        # (actions, policy name, reference) of each policy, managed ones first.
        policies = [
            (
                self._policy_actions(attached["PolicyArn"]),
                attached["PolicyName"],
                f"managed:{attached['PolicyArn']}",
            )
            for attached in self._all(f"list_attached_{kind}_policies", "AttachedPolicies", **owner)
        ]
        for policy_name in self._all(f"list_{kind}_policies", "PolicyNames", **owner):
            document = self._call(f"get_{kind}_policy", **owner, PolicyName=policy_name)
            policies.append(
                (summarise(_document(document.get("PolicyDocument"))), policy_name, f"inline:{policy_name}")
            )
        return [
            Entitlement("cloud_account", f"aws:{account}", tuple(sorted(actions)), policy, reference)
            for actions, policy, reference in policies
            if actions
        ]

    def _group_entitlements(self, group: str, account: str) -> list[Entitlement]:
        if group not in self._groups:
            if len(self._groups) >= POLICY_CACHE_MAX:
                self._groups.clear()
            self._groups[group] = [
                Entitlement(
                    e.resource_kind, e.resource_name, e.actions, f"{e.via} (group {group})", f"group:{group}"
                )
                for e in self._entitlements("group", group, account)
            ]
        return self._groups[group]

    def _user(self, user: dict[str, Any]) -> FoundIdentity:
        arn, name = user["Arn"], user["UserName"]
        account = _account(arn)
        found = FoundIdentity(external_id=arn, object_type="user", name=name, kind="service_account")
        keys = []
        try:
            for key in self._all("list_access_keys", "AccessKeyMetadata", UserName=name):
                used = self._call("get_access_key_last_used", AccessKeyId=key["AccessKeyId"]).get(
                    "AccessKeyLastUsed", {}
                )
                last_used = _when(used.get("LastUsedDate"))
                service = used.get("ServiceName", "")
                region = used.get("Region", "")
                active = key.get("Status") == "Active"
                keys.append(
                    FoundCredential(
                        kind="static_key",
                        label=key["AccessKeyId"],
                        storage=f"AWS IAM access key ({account})",
                        issued_at=_when(key.get("CreateDate")),
                        active=active,
                        last_used_at=last_used,
                        details={
                            "status": key.get("Status", ""),
                            "last_used_service": "" if service == "N/A" else service,
                            "last_used_region": "" if region == "N/A" else region,
                        },
                    )
                )
        except ConnectorError as exc:
            found.errors.append(f"{arn}: {exc}")
        found.credentials = keys
        try:
            entitlements = self._entitlements("user", name, account)
            groups = [g["GroupName"] for g in self._all("list_groups_for_user", "Groups", UserName=name)]
            for group in groups:
                entitlements += self._group_entitlements(group, account)
            found.entitlements = entitlements
        except ConnectorError as exc:
            groups = []
            found.errors.append(f"{arn}: {exc}")
        found.last_used_at = _latest(_when(user.get("PasswordLastUsed")), *(k.last_used_at for k in keys))
        # Disabled: no active access key left (Steward's enforcement sets them Inactive).
        found.disabled = not any(k.active for k in keys)
        found.details = {
            "arn": arn,
            "account": account,
            "path": user.get("Path", "/"),
            "created_at": _when(user.get("CreateDate")),
            "groups": sorted(groups),
            "access_keys": [
                {
                    "id": k.label,
                    "status": k.details["status"],
                    "created_at": k.issued_at,
                    "last_used_at": k.last_used_at,
                    "service": k.details["last_used_service"],
                    "region": k.details["last_used_region"],
                }
                for k in keys
            ],
        }
        return found

    def _role(self, role: dict[str, Any], oidc: set[str]) -> FoundIdentity:
        arn, name = role["Arn"], role["RoleName"]
        account = _account(arn)
        found = FoundIdentity(external_id=arn, object_type="role", name=name, kind="workload")
        trusts = trust_summary(_document(role.get("AssumeRolePolicyDocument")), account, oidc)
        last_used: dict[str, Any] = {}
        try:
            last_used = self._call("get_role", RoleName=name)["Role"].get("RoleLastUsed", {}) or {}
        except ConnectorError as exc:
            found.errors.append(f"{arn}: {exc}")
        inline: list[str] = []
        try:
            found.entitlements = self._entitlements("role", name, account)
            inline = [e.via for e in found.entitlements if e.ref.startswith("inline:")]
        except ConnectorError as exc:
            found.errors.append(f"{arn}: {exc}")
        if DENY_ALL_POLICY in inline or self._has_inline(found, DENY_ALL_POLICY):
            found.disabled = True
        found.credentials = [
            FoundCredential(
                kind="oidc_federation",
                label=t["provider"].split("oidc-provider/")[-1][:200],
                storage=f"AWS IAM role trust ({account})",
                details={"provider": t["provider"]},
            )
            for t in trusts
            if t["type"] == "oidc"
        ]
        found.last_used_at = _when(last_used.get("LastUsedDate"))
        found.details = {
            "arn": arn,
            "account": account,
            "path": role.get("Path", "/"),
            "created_at": _when(role.get("CreateDate")),
            "trust": trusts,
            "last_used_region": last_used.get("Region", ""),
            "max_session_seconds": role.get("MaxSessionDuration"),
        }
        return found

    def _has_inline(self, found: FoundIdentity, policy_name: str) -> bool:
        # A deny-all inline policy allows nothing, so it is not among the entitlements: list the names.
        try:
            return policy_name in self._all("list_role_policies", "PolicyNames", RoleName=found.name)
        except ConnectorError:
            return False

    # ------------------------------------------------------------ enforcement

    def disable(self, record) -> dict[str, Any]:
        if record.object_type == "user":
            deactivated = []
            for key in self._all("list_access_keys", "AccessKeyMetadata", UserName=record.name):
                if key.get("Status") != "Inactive":
                    self._call(
                        "update_access_key",
                        UserName=record.name,
                        AccessKeyId=key["AccessKeyId"],
                        Status="Inactive",
                    )
                    deactivated.append(key["AccessKeyId"])
            return {"access_keys_deactivated": deactivated}
        if record.object_type == "role":
            self._call(
                "put_role_policy",
                RoleName=record.name,
                PolicyName=DENY_ALL_POLICY,
                PolicyDocument=json.dumps(DENY_ALL_DOCUMENT),
            )
            return {"inline_policy_attached": DENY_ALL_POLICY}
        raise ConnectorError(f"Cannot disable an IAM {record.object_type}.")

    def revoke(self, record, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
        kind = record.object_type
        title = kind.capitalize()
        removed: list[str] = []
        for entitlement in entitlements:
            ref = entitlement.get("ref", "")
            what, _, target = ref.partition(":")
            if what == "managed":
                self._call(f"detach_{kind}_policy", **{f"{title}Name": record.name, "PolicyArn": target})
            elif what == "inline":
                self._call(f"delete_{kind}_policy", **{f"{title}Name": record.name, "PolicyName": target})
            elif what == "group" and kind == "user":
                self._call("remove_user_from_group", UserName=record.name, GroupName=target)
            else:
                continue
            removed.append(ref)
        return {"removed_refs": removed}
