"""github_org: one GitHub organisation's app installations, fine-grained PAT grants (and requests),
deploy keys and the repositories whose Actions workflows ask for an OIDC token.

The connector authenticates as a GitHub App (githubkit): its id and private key come from the
worker's environment (`STEWARD_GITHUB_APP_ID`, `STEWARD_GITHUB_APP_PRIVATE_KEY_PATH`), never from
Steward's database; the installation in the organisation is looked up (or named by `installation_id`).
Listings are followed page by page through their `Link` headers; a secondary rate limit (403 or 429
with `retry-after`) is waited out up to `max_wait` seconds, `retries` times.

What becomes an identity (`external_id`):
- `github:installation/<id>`: an app installed in the organisation, its permissions as entitlements;
- `github:pat/<id>`: a fine-grained personal access token granted to the organisation (the grant's id),
  its permissions per repository, expiry and last use;
- `github:pat_request/<id>`: a pending request for such a grant (no entitlement until approved);
- `github:deploy_key/<repo>/<id>`: a deploy key, read-only or write;
- `github:actions_oidc/<repo>`: a repository whose workflows request `id-token: write`, with the trust
  binding (issuer and `sub`) Steward's workload identity would need.

OAuth app authorisations are not visible to a GitHub App on api.github.com (only an owner's token on a
SAML organisation lists credential authorisations): they are not read.

Enforcement: a PAT grant is revoked, a pending request denied, a deploy key deleted; a later sync
confirms each (the grant, request or key is gone). An app installation cannot be suspended through
GitHub's API by anyone but the app itself: its enforcement fails with the way to do it by hand (an
owner suspends it in the organisation's settings), and the next sync that sees it suspended confirms.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

APP_ID_ENV = "STEWARD_GITHUB_APP_ID"
PRIVATE_KEY_ENV = "STEWARD_GITHUB_APP_PRIVATE_KEY_PATH"
DEFAULT_BASE_URL = "https://api.github.com"
OIDC_ISSUER = "https://token.actions.githubusercontent.com"
PHASES = ("installations", "pats", "pat_requests", "repositories")
ID_TOKEN_WRITE = re.compile(r"^\s*id-token\s*:\s*['\"]?write['\"]?\s*(#.*)?$", re.MULTILINE)
WRITE_ALL = re.compile(r"^\s*permissions\s*:\s*['\"]?write-all['\"]?\s*(#.*)?$", re.MULTILINE)
WORKFLOW_MAX_BYTES = 512 * 1024
# Apps that are AI assistants or coding agents themselves (their identity kind is ai_assistant).
AI_APPS = ("copilot", "claude", "cursor", "devin", "codex", "openai", "gemini", "sweep", "coderabbit")

PERMISSIONS = (
    "A GitHub App installed in the organisation with these permissions, read-only unless "
    "enforcement is on. Organisation: Administration read (app installations), Personal access "
    "tokens read (write to revoke grants), Personal access token requests read (write to deny "
    "requests). Repository (all repositories): Administration read (deploy keys; write to delete "
    "them), Actions read (workflows), Contents read (workflow files: only with scan_workflows), "
    "Metadata read. Its id and private key come from the worker's environment: "
    f"{APP_ID_ENV} and {PRIVATE_KEY_ENV} (a file readable by the worker alone)."
)

# GitHub's permission names → the grants' actions, for read and for write (admin: as write).
REPOSITORY_ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "contents": ({"read_code"}, {"read_code", "write_code"}),
    "pull_requests": ({"read_code"}, {"open_pr"}),
    "workflows": ({"read_code"}, {"write_code", "run_ci"}),
    "actions": ({"read_code"}, {"run_ci"}),
    "checks": ({"read_code"}, {"run_ci"}),
    "statuses": ({"read_code"}, {"run_ci"}),
    "secrets": ({"read_secrets"}, {"read_secrets", "write_secrets"}),
    "dependabot_secrets": ({"read_secrets"}, {"read_secrets", "write_secrets"}),
    "codespaces_secrets": ({"read_secrets"}, {"read_secrets", "write_secrets"}),
    "environments": ({"read_data"}, {"write_secrets", "deploy"}),
    "deployments": ({"read_data"}, {"deploy"}),
    "pages": ({"read_data"}, {"deploy"}),
    "packages": ({"read_data"}, {"write_data"}),
    "administration": ({"read_data"}, {"admin"}),
    "repository_hooks": ({"read_data"}, {"admin"}),
    "issues": ({"read_tickets"}, {"write_tickets"}),
    "discussions": ({"read_tickets"}, {"write_tickets"}),
    "repository_projects": ({"read_tickets"}, {"write_tickets"}),
}
IGNORED = {"metadata"}  # read-only and given to every token and app


def permission_actions(name: str, level: str, *, organization: bool = False) -> set[str]:
    """The grants' actions one GitHub permission (`contents: write`) amounts to."""
    name, level = name.lower(), str(level).lower()
    if name in IGNORED or level not in ("read", "write", "admin"):
        return set()
    writes = level in ("write", "admin")
    if name in REPOSITORY_ACTIONS and not organization:
        read, write = REPOSITORY_ACTIONS[name]
        return set(write if writes else read)
    if "secret" in name:
        return {"read_secrets", "write_secrets"} if writes else {"read_secrets"}
    if "administration" in name or name in ("members", "organization_personal_access_tokens"):
        return {"admin"} if writes else {"read_data"}
    return {"write_data"} if writes else {"read_data"}


ORGANIZATION_PERMISSIONS = {
    "members",
    "custom_properties_for_organizations",
    # account-level permissions of an app: not on any repository
    "email_addresses",
    "followers",
    "git_ssh_keys",
    "gpg_keys",
    "interaction_limits",
    "profile",
    "starring",
}


def split_app_permissions(permissions: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An app's permissions (one flat object) as (repository, organisation and account) permissions."""
    repository, organization = {}, {}
    for name, level in permissions.items():
        org = name.startswith(("organization_", "enterprise_")) or name in ORGANIZATION_PERMISSIONS
        (organization if org else repository)[name] = level
    return repository, organization


def summarise(permissions: dict[str, Any], *, organization: bool = False) -> set[str]:
    actions: set[str] = set()
    for name, level in (permissions or {}).items():
        actions |= permission_actions(name, level, organization=organization)
    return actions


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _plain(value: Any) -> Any:
    """A githubkit model (or anything inside one) as plain JSON data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return value


def key_fingerprint(public_key: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line (`ssh-ed25519 AAAA… comment`)."""
    parts = (public_key or "").split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):
        return ""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _next_page(link: str | None) -> int | None:
    """The `page` of the `rel="next"` URL in a Link header, or None on the last page."""
    for part in (link or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            query = parse_qs(urlsplit(url.strip().strip("<>")).query)
            try:
                return int(query.get("page", [""])[0])
            except ValueError:
                return None
    return None


def _positive(limit: int):
    def check(value: int) -> str | None:
        return None if 1 <= value <= limit else f"Between 1 and {limit}."

    return check


def _between(low: int, high: int):
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"Between {low} and {high}."

    return check


def _org(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?", value):
        return None
    return "A GitHub organisation's login, e.g. acme (letters, digits and '-')."


class GitHubHttpError(ConnectorError):
    """GitHub answered with an error status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class _RetryDecision:
    """Rate limits (primary or secondary) are waited out as GitHub asks, when the wait is bearable;
    server errors are retried with a short back-off."""

    def __init__(self, max_attempts: int, max_wait: int):
        self.max_attempts = max_attempts
        self.max_wait = max_wait

    def __call__(self, exc, retry_count: int):
        from githubkit.exception import RateLimitExceeded, RequestFailed
        from githubkit.typing import RetryOption

        if retry_count + 1 >= self.max_attempts:
            return RetryOption(False)
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after if exc.retry_after.total_seconds() > 0 else timedelta(seconds=1)
            if wait.total_seconds() > self.max_wait:
                return RetryOption(False)
            return RetryOption(True, wait)
        if isinstance(exc, RequestFailed) and exc.response.status_code >= 500:
            return RetryOption(True, timedelta(seconds=min(2**retry_count, self.max_wait)))
        return RetryOption(False)


@register
class GithubOrg(BaseConnector):
    kind = "github_org"
    label = "GitHub organisation"
    settings = {
        "org": Setting(str, None, "The organisation's login (required), e.g. acme.", _org, required=True),
        "base_url": Setting(
            str,
            None,
            "Only for GitHub Enterprise Server (https://HOST/api/v3); its host must be on the allowlist.",
        ),
        "installation_id": Setting(
            int,
            None,
            "The app's installation in the organisation (looked up when left out).",
            _positive(2**53),
        ),
        "per_page": Setting(int, 100, "Items per GitHub listing page (1-100).", _positive(100)),
        "scan_workflows": Setting(
            bool, True, "Read workflow files for `id-token: write` (needs Contents read).", None
        ),
        "retries": Setting(
            int, 4, "Retries per request on rate limits and server errors (0-10).", _between(0, 10)
        ),
        "max_wait": Setting(
            int, 120, "The longest retry-after (seconds) waited out before the run fails.", _positive(900)
        ),
    }
    permissions = PERMISSIONS
    # A revoked grant or a deleted key is gone from the listings: its absence confirms the remediation.
    gone_confirms_enforcement = True

    def __init__(self, connector):
        super().__init__(connector)
        self._app = None
        self._client = None
        self._installation: dict[str, Any] | None = None
        self._app_id: int | None = None
        self._errors: list[str] = []

    # ------------------------------------------------------------ the client

    @property
    def org(self) -> str:
        org = self.config.get("org")
        if not org:
            raise ConnectorError("Set the connector's 'org' (the organisation's login).")
        return org

    def _app_credentials(self) -> tuple[int, str]:
        app_id, key_path = os.environ.get(APP_ID_ENV, "").strip(), os.environ.get(PRIVATE_KEY_ENV, "")
        if not app_id.isdigit() or not key_path:
            raise ConnectorError(
                f"The worker has no GitHub App credentials: set {APP_ID_ENV} (the app's id) and "
                f"{PRIVATE_KEY_ENV} (the path of its private key file) in its environment."
            )
        try:
            with open(key_path, encoding="ascii") as handle:
                key = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectorError(f"{PRIVATE_KEY_ENV}: cannot read the key file ({exc.__class__.__name__}).")
        return int(app_id), key

    def _github(self, auth):
        from githubkit import GitHub
        from githubkit.cache import MemCacheStrategy

        return GitHub(
            auth,
            base_url=(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/") + "/",
            user_agent="steward-connector",
            timeout=30,
            http_cache=False,  # a revoke must be seen by the very next listing
            cache_strategy=MemCacheStrategy(),  # tokens live for this connector's run, not the process
            auto_retry=_RetryDecision(int(self.config["retries"]) + 1, int(self.config["max_wait"])),
        )

    def app(self):
        if self._app is None:
            from githubkit import AppAuthStrategy

            app_id, key = self._app_credentials()
            self._app_id = app_id
            self._app = self._github(AppAuthStrategy(app_id, key))
        return self._app

    def installation(self) -> dict[str, Any]:
        if self._installation is None:
            configured = self.config.get("installation_id")
            if configured:
                self._installation = {"id": int(configured)}
            else:
                data = self._call(
                    "apps/get-org-installation", self.app().rest.apps.get_org_installation, self.org
                )
                self._installation = {"id": data["id"], "app_id": data.get("app_id")}
        return self._installation

    def client(self):
        if self._client is None:
            app = self.app()
            self._client = app.with_auth(app.auth.as_installation(self.installation()["id"]))
        return self._client

    def _call(self, what: str, method, *args, **kwargs) -> Any:
        """One request; its parsed JSON (or None), every failure a ConnectorError that names it."""
        from githubkit.exception import GitHubException, RequestFailed

        try:
            response = method(*args, **kwargs)
        except RequestFailed as exc:
            status = exc.response.status_code
            message = ""
            try:
                message = str(exc.response.json().get("message", ""))[:300]
            except Exception:  # noqa: BLE001 - a body that is not JSON: the status says enough
                message = ""
            raise GitHubHttpError(f"GitHub {what}: HTTP {status} {message}".strip(), status)
        except GitHubException as exc:
            raise ConnectorError(f"GitHub {what}: {exc.__class__.__name__}: {str(exc)[:300]}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _page(self, what: str, method, *args, page: int, **kwargs) -> tuple[Any, int | None]:
        """One listing page and the next page's number, as its `Link` header names it."""
        from githubkit.exception import GitHubException, RequestFailed

        try:
            response = method(*args, page=page, per_page=int(self.config["per_page"]), **kwargs)
        except RequestFailed as exc:
            status = exc.response.status_code
            raise GitHubHttpError(f"GitHub {what}: HTTP {status}", status)
        except GitHubException as exc:
            raise ConnectorError(f"GitHub {what}: {exc.__class__.__name__}: {str(exc)[:300]}")
        return response.json(), _next_page(response.headers.get("link"))

    def _all(self, what: str, method, *args, key: str | None = None, **kwargs) -> list[Any]:
        items: list[Any] = []
        page: int | None = 1
        while page is not None:
            data, page = self._page(what, method, *args, page=page, **kwargs)
            items += data[key] if key else data
        return items

    def worker_credential(self) -> WorkerCredential | None:
        app_id = os.environ.get(APP_ID_ENV, "").strip()
        if not app_id:
            return None
        return WorkerCredential(
            kind="static_key",
            label=f"github-app:{app_id}",
            storage=f"the worker's environment ({PRIVATE_KEY_ENV})",
        )

    # ------------------------------------------------------------ discovery

    def discover(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Installations, PAT grants, PAT requests, then repositories (deploy keys, workflows), one
        GitHub listing page at a time; the cursor names the phase and the page."""
        phase = cursor.get("phase") if cursor.get("phase") in PHASES else PHASES[0]
        page: int | None = int(cursor.get("page", 1))
        done = int(cursor.get("done", 0))
        rest = self.client().rest
        listings = {
            "installations": (
                "orgs/list-app-installations",
                rest.orgs.list_app_installations,
                "installations",
            ),
            "pats": ("orgs/list-pat-grants", rest.orgs.list_pat_grants, None),
            "pat_requests": ("orgs/list-pat-grant-requests", rest.orgs.list_pat_grant_requests, None),
            "repositories": ("repos/list-for-org", rest.repos.list_for_org, None),
        }
        read = {
            "installations": self._installations,
            "pats": self._pats,
            "pat_requests": self._pat_requests,
            "repositories": self._repositories,
        }
        for index in range(PHASES.index(phase), len(PHASES)):
            phase = PHASES[index]
            what, method, key = listings[phase]
            while page is not None:
                data, following = self._page(what, method, self.org, page=page)
                self._errors: list[str] = []
                found = read[phase](data[key] if key else data)
                done += len(found)
                if following:
                    nxt: dict[str, Any] | None = {"phase": phase, "page": following, "done": done}
                elif index + 1 < len(PHASES):
                    nxt = {"phase": PHASES[index + 1], "page": 1, "done": done}
                else:
                    nxt = None
                yield Page(found, nxt, {"phase": phase, "page": page, "done": done}, errors=self._errors)
                page = following
            page = 1

    def _installations(self, items: list[dict[str, Any]]) -> list[FoundIdentity]:
        found = []
        own = self.installation().get("id")
        for item in items:
            slug = item.get("app_slug") or str(item.get("app_id"))
            everything = item.get("repository_selection") == "all"
            identity = FoundIdentity(
                external_id=f"github:installation/{item['id']}",
                object_type="installation",
                name=f"app {slug}",
                kind="ai_assistant" if any(a in slug.lower() for a in AI_APPS) else "bot",
            )
            repository, organization = split_app_permissions(item.get("permissions") or {})
            identity.entitlements = self._entitlements(
                repository,
                organization,
                repos=[f"{self.org}/*"],
                via=f"app {slug} ({'all' if everything else 'selected'} repositories)",
                ref=f"installation:{item['id']}",
            )
            identity.disabled = bool(item.get("suspended_at"))
            identity.details = {
                "app_id": item.get("app_id"),
                "app_slug": slug,
                "repository_selection": item.get("repository_selection"),
                "permissions": dict(sorted((item.get("permissions") or {}).items())),
                "events": sorted(item.get("events") or []),
                "created_at": item.get("created_at"),
                "suspended_at": item.get("suspended_at"),
                "html_url": item.get("html_url"),
                "steward_connector": item["id"] == own,
            }
            found.append(identity)
        return found

    def _entitlements(
        self,
        repository: dict[str, Any],
        organization: dict[str, Any],
        *,
        repos: list[str],
        via: str,
        ref: str,
    ) -> list[Entitlement]:
        """Repository permissions on each repository; organisation permissions on the organisation."""
        entitlements = []
        actions = summarise(repository)
        if actions:
            entitlements += [
                Entitlement("repository", repo, tuple(sorted(actions)), via, ref) for repo in sorted(repos)
            ]
        org_actions = summarise(organization, organization=True)
        if org_actions:
            entitlements.append(
                Entitlement("other", f"github:{self.org}", tuple(sorted(org_actions)), via, ref)
            )
        return entitlements

    def _token(self, item: dict[str, Any], what: str, repos_method) -> FoundIdentity:
        """A PAT grant or request: the token as a credential, its permissions per repository."""
        owner = (item.get("owner") or {}).get("login", "")
        permissions = item.get("permissions") or {}
        selection = item.get("repository_selection")
        if selection == "subset":
            repos = [
                r["full_name"] for r in self._all(f"{what} repositories", repos_method, self.org, item["id"])
            ]
        elif selection == "all":
            repos = [f"{self.org}/*"]
        else:
            repos = []
        external = "pat" if what == "pat" else "pat_request"
        identity = FoundIdentity(
            external_id=f"github:{external}/{item['id']}",
            object_type=external,
            name=f"{item.get('token_name') or 'token'} ({owner})",
            kind="api_key",
        )
        expires = _when(item.get("token_expires_at"))
        identity.credentials = [
            FoundCredential(
                kind="pat",
                label=f"github-pat:{item.get('token_id')}",
                storage=f"fine-grained personal access token of {owner}"[:200],
                issued_at=_when(item.get("access_granted_at") or item.get("created_at")),
                expires_at=expires,
                active=not item.get("token_expired"),
                last_used_at=_when(item.get("token_last_used_at")),
            )
        ]
        identity.last_used_at = _when(item.get("token_last_used_at"))
        identity.disabled = bool(item.get("token_expired"))
        details = {
            "owner": owner,
            "token_id": item.get("token_id"),
            "token_name": item.get("token_name"),
            "repository_selection": selection,
            "repositories": sorted(repos),
            "permissions": {k: dict(sorted((v or {}).items())) for k, v in sorted(permissions.items())},
            "expires_at": item.get("token_expires_at"),
            "expired": bool(item.get("token_expired")),
            "last_used_at": item.get("token_last_used_at"),
        }
        if what == "pat":
            details["access_granted_at"] = item.get("access_granted_at")
            identity.entitlements = self._entitlements(
                permissions.get("repository") or {},
                {**(permissions.get("organization") or {}), **(permissions.get("other") or {})},
                repos=repos,
                via=f"fine-grained PAT {item.get('token_name')} of {owner}",
                ref=f"pat:{item['id']}",
            )
        else:
            # Not granted yet: what it asks for is shown, nothing is reconciled against grants.
            details.update(requested_at=item.get("created_at"), reason=(item.get("reason") or "")[:1000])
        identity.details = details
        return identity

    def _pats(self, items: list[dict[str, Any]]) -> list[FoundIdentity]:
        method = self.client().rest.orgs.list_pat_grant_repositories
        return [self._token(item, "pat", method) for item in items]

    def _pat_requests(self, items: list[dict[str, Any]]) -> list[FoundIdentity]:
        method = self.client().rest.orgs.list_pat_grant_request_repositories
        return [self._token(item, "pat_request", method) for item in items]

    def _repositories(self, items: list[dict[str, Any]]) -> list[FoundIdentity]:
        """Each repository's deploy keys and OIDC use. A repository deleted meanwhile (404) is skipped;
        any other refusal fails the run, lest its keys be flagged vanished."""
        rest = self.client().rest
        found: list[FoundIdentity] = []
        for repo in items:
            full, name = repo["full_name"], repo["name"]
            try:
                keys = self._all("repos/list-deploy-keys", rest.repos.list_deploy_keys, self.org, name)
                for key in keys:
                    found.append(self._deploy_key(full, key))
                if self.config.get("scan_workflows") and not repo.get("archived"):
                    oidc = self._oidc_workflows(name)
                    if oidc:
                        found.append(self._actions_oidc(repo, oidc))
            except GitHubHttpError as exc:
                if exc.status != 404:
                    raise
                self._errors.append(f"{full}: gone while it was read ({exc})")
        return found

    def _deploy_key(self, repo: str, key: dict[str, Any]) -> FoundIdentity:
        writes = not key.get("read_only", True)
        identity = FoundIdentity(
            external_id=f"github:deploy_key/{repo}/{key['id']}",
            object_type="deploy_key",
            name=f"{repo}: {key.get('title') or key['id']}",
            kind="service_account",
        )
        fingerprint = key_fingerprint(key.get("key", ""))
        identity.credentials = [
            FoundCredential(
                kind="ssh_key",
                label=fingerprint or f"deploy-key:{key['id']}",
                storage=f"deploy key of {repo}"[:200],
                issued_at=_when(key.get("created_at")),
                active=key.get("enabled", True) is not False,
                last_used_at=_when(key.get("last_used")),
            )
        ]
        identity.entitlements = [
            Entitlement(
                "repository",
                repo,
                ("read_code", "write_code") if writes else ("read_code",),
                f"deploy key {key.get('title') or key['id']} ({'write' if writes else 'read-only'})",
                f"deploy_key:{repo}/{key['id']}",
            )
        ]
        identity.last_used_at = _when(key.get("last_used"))
        identity.disabled = key.get("enabled", True) is False
        identity.details = {
            "repository": repo,
            "key_id": key["id"],
            "title": key.get("title"),
            "read_only": not writes,
            "fingerprint": fingerprint,
            "verified": key.get("verified"),
            "added_by": key.get("added_by"),
            "created_at": key.get("created_at"),
            "last_used_at": key.get("last_used"),
        }
        return identity

    def _oidc_workflows(self, repo: str) -> list[str]:
        """The paths of the repository's active workflows that ask for an OIDC token."""
        rest = self.client().rest
        workflows = self._all(
            "actions/list-repo-workflows", rest.actions.list_repo_workflows, self.org, repo, key="workflows"
        )
        asking = []
        for workflow in workflows:
            path = workflow.get("path", "")
            if workflow.get("state") != "active" or not path.startswith(".github/workflows/"):
                continue
            try:
                content = self._call("repos/get-content", rest.repos.get_content, self.org, repo, path)
            except GitHubHttpError as exc:
                if exc.status == 404:
                    continue  # removed since it was listed
                raise
            if not isinstance(content, dict) or content.get("encoding") != "base64":
                continue
            if int(content.get("size") or 0) > WORKFLOW_MAX_BYTES:
                continue
            try:
                text = base64.b64decode(content.get("content") or "").decode("utf-8", "replace")
            except ValueError:
                continue
            if ID_TOKEN_WRITE.search(text) or WRITE_ALL.search(text):
                asking.append(path)
        return sorted(asking)

    def _actions_oidc(self, repo: dict[str, Any], workflows: list[str]) -> FoundIdentity:
        full = repo["full_name"]
        branch = repo.get("default_branch") or "main"
        identity = FoundIdentity(
            external_id=f"github:actions_oidc/{full}",
            object_type="actions_oidc",
            name=f"{full} (GitHub Actions)",
            kind="workload",
        )
        identity.credentials = [
            FoundCredential(
                kind="oidc_federation",
                label=f"{OIDC_ISSUER.removeprefix('https://')} repo:{full}"[:200],
                storage="GitHub Actions OIDC token (issued per job)",
            )
        ]
        identity.details = {
            "repository": full,
            "workflows": workflows,
            "default_branch": branch,
            # What a trust binding (trust-bindings/) for this workload would name.
            "suggested_trust_binding": {
                "issuer": OIDC_ISSUER,
                "claims": {"sub": f"repo:{full}:ref:refs/heads/{branch}"},
            },
        }
        return identity

    # ------------------------------------------------------------ enforcement

    def _ids(self, record) -> tuple[str, str]:
        kind, _, rest = record.external_id.removeprefix("github:").partition("/")
        return kind, rest

    def disable(self, record) -> dict[str, Any]:
        kind, rest = self._ids(record)
        if kind == "pat":
            return self._revoke_pat(int(rest))
        if kind == "pat_request":
            self._call(
                "orgs/review-pat-grant-request",
                self.client().rest.orgs.review_pat_grant_request,
                self.org,
                int(rest),
                data={
                    "action": "deny",
                    "reason": "Denied by Steward (identity suspended or decommissioned).",
                },
            )
            return {"pat_request_denied": int(rest)}
        if kind == "deploy_key":
            return self._delete_key(rest)
        if kind == "installation":
            # PUT /app/installations/{id}/suspended exists, but only for the app's own installations
            # (with its own JWT): Steward can neither suspend nor uninstall another app.
            slug = (record.details or {}).get("app_slug") or rest
            raise ConnectorError(
                f"GitHub's API lets only an app suspend its own installation: an organisation owner "
                f"suspends or uninstalls app {slug} in the organisation's settings (Third-party "
                "access → GitHub Apps); the next sync confirms the suspension."
            )
        raise ConnectorError(
            "GitHub Actions OIDC is requested by the workflows themselves: remove `id-token: write` from "
            "them, or refuse the workload's token at the cloud's trust policy."
        )

    def revoke(self, record, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
        """A grant or key cannot be narrowed through the API: what gives an unapproved entitlement is
        taken away whole (the PAT grant revoked, the deploy key deleted)."""
        kind, rest = self._ids(record)
        refs = sorted({e.get("ref", "") for e in entitlements if e.get("ref")})
        if not refs:
            return {"removed_refs": []}
        if kind == "pat":
            return {**self._revoke_pat(int(rest)), "removed_refs": refs}
        if kind == "deploy_key":
            return {**self._delete_key(rest), "removed_refs": refs}
        raise ConnectorError(
            f"GitHub cannot narrow a {record.object_type}'s permissions through its API: change them in "
            "the organisation's settings, or suspend the identity."
        )

    def _revoke_pat(self, pat_id: int) -> dict[str, Any]:
        self._call(
            "orgs/update-pat-access",
            self.client().rest.orgs.update_pat_access,
            self.org,
            pat_id,
            data={"action": "revoke"},
        )
        return {"pat_grant_revoked": pat_id}

    def _delete_key(self, rest: str) -> dict[str, Any]:
        repo, _, key_id = rest.rpartition("/")
        owner, _, name = repo.partition("/")
        self._call(
            "repos/delete-deploy-key", self.client().rest.repos.delete_deploy_key, owner, name, int(key_id)
        )
        return {"deploy_key_deleted": f"{repo}/{key_id}"}
