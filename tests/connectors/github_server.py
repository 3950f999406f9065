"""A loopback GitHub for the github_org connector's tests: a real HTTP server (stdlib, in a thread)
that keeps an organisation's state between calls, so a revoke is seen by the next sync.

It answers the endpoints the connector calls, pages listings with `Link` headers, can answer a
secondary rate limit (403, GitHub's documented body, `retry-after`) on a path, checks the app's JWT
(RS256, `iss` = the app's id) and the installation tokens it issued, and checks every request and
every answer against GitHub's OpenAPI description (tests/connectors/github_openapi.py). What it
finds wrong is kept in `exchanges` (each with its `problems`): the tests assert there is none.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.connectors.moto_support import free_port
from tests.loopback import serving

ORG = "acme"
ORG_ID = 9000
APP_ID = 4242
STEWARD_INSTALLATION = 100
SECONDARY_RATE_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits",
}


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def private_key_pem() -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


# ---------------------------------------------------------------- GitHub's objects


def user(login: str, uid: int) -> dict[str, Any]:
    base = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}",
        "gravatar_id": "",
        "url": base,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User" if uid < ORG_ID else "Organization",
        "site_admin": False,
    }


def repository(name: str, rid: int, default_branch: str = "main") -> dict[str, Any]:
    full = f"{ORG}/{name}"
    base = f"https://api.github.com/repos/{full}"
    urls = {
        f"{k}_url": f"{base}/{v}"
        for k, v in {
            "archive": "{archive_format}{/ref}",
            "assignees": "assignees{/user}",
            "blobs": "git/blobs{/sha}",
            "branches": "branches{/branch}",
            "collaborators": "collaborators{/collaborator}",
            "comments": "comments{/number}",
            "commits": "commits{/sha}",
            "compare": "compare/{base}...{head}",
            "contents": "contents/{+path}",
            "contributors": "contributors",
            "deployments": "deployments",
            "downloads": "downloads",
            "events": "events",
            "forks": "forks",
            "git_commits": "git/commits{/sha}",
            "git_refs": "git/refs{/sha}",
            "git_tags": "git/tags{/sha}",
            "hooks": "hooks",
            "issue_comment": "issues/comments{/number}",
            "issue_events": "issues/events{/number}",
            "issues": "issues{/number}",
            "keys": "keys{/key_id}",
            "labels": "labels{/name}",
            "languages": "languages",
            "merges": "merges",
            "milestones": "milestones{/number}",
            "notifications": "notifications{?since,all,participating}",
            "pulls": "pulls{/number}",
            "releases": "releases{/id}",
            "stargazers": "stargazers",
            "statuses": "statuses/{sha}",
            "subscribers": "subscribers",
            "subscription": "subscription",
            "tags": "tags",
            "teams": "teams",
            "trees": "git/trees{/sha}",
        }.items()
    }
    return {
        "id": rid,
        "node_id": f"R_{rid}",
        "name": name,
        "full_name": full,
        "owner": user(ORG, ORG_ID),
        "private": True,
        "html_url": f"https://github.com/{full}",
        "description": None,
        "fork": False,
        "url": base,
        **urls,
        "default_branch": default_branch,
        "archived": False,
        "visibility": "private",
    }


def installation(
    iid: int, app_id: int, slug: str, permissions: dict[str, str], selection: str, suspended_at=None
) -> dict[str, Any]:
    return {
        "id": iid,
        "account": user(ORG, ORG_ID),
        "repository_selection": selection,
        "access_tokens_url": f"https://api.github.com/app/installations/{iid}/access_tokens",
        "repositories_url": "https://api.github.com/installation/repositories",
        "html_url": f"https://github.com/organizations/{ORG}/settings/installations/{iid}",
        "app_id": app_id,
        "target_id": ORG_ID,
        "target_type": "Organization",
        "permissions": permissions,
        "events": ["push"],
        "created_at": "2025-03-01T10:00:00Z",
        "updated_at": "2025-03-01T10:00:00Z",
        "single_file_name": None,
        "app_slug": slug,
        "suspended_by": user("owner-admin", 7) if suspended_at else None,
        "suspended_at": iso(suspended_at),
    }


# ---------------------------------------------------------------- the organisation's state


class GitHubState:
    def __init__(self, public_key):
        self.public_key = public_key
        self.lock = threading.RLock()
        self.tokens: set[str] = set()
        self.exchanges: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.repos: dict[str, dict[str, Any]] = {}
            self.installations: dict[int, dict[str, Any]] = {}
            self.pat_grants: dict[int, dict[str, Any]] = {}
            self.pat_requests: dict[int, dict[str, Any]] = {}
            self.deploy_keys: dict[str, dict[int, dict[str, Any]]] = {}
            self.workflows: dict[str, list[dict[str, Any]]] = {}
            self.throttle: dict[str, int] = {}  # path → how many answers are a secondary rate limit
            self.drift = False  # answers that leave out what GitHub's description requires
            self.exchanges = []
            self.next_id = 1000
            self.installations[STEWARD_INSTALLATION] = {
                "app_id": APP_ID,
                "slug": "steward-governance",
                "permissions": {"organization_administration": "read", "metadata": "read"},
                "selection": "all",
                "suspended_at": None,
            }

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    # -- building an estate

    def add_repo(self, name: str) -> str:
        self.repos.setdefault(name, {"id": self.new_id(), "name": name})
        return name

    def add_installation(self, slug: str, permissions: dict[str, str], selection: str = "all") -> int:
        iid = self.new_id()
        self.installations[iid] = {
            "app_id": self.new_id(),
            "slug": slug,
            "permissions": permissions,
            "selection": selection,
            "suspended_at": None,
        }
        return iid

    def add_pat_grant(
        self,
        name: str,
        owner: str,
        repository: dict[str, str],
        repos: list[str] | None,
        *,
        organization: dict[str, str] | None = None,
        expires_at: datetime | None = None,
        last_used_at: datetime | None = None,
    ) -> int:
        return self._add_pat(
            self.pat_grants,
            name,
            owner,
            repository,
            organization,
            repos,
            expires_at=expires_at,
            last_used_at=last_used_at,
            granted_at=now() - timedelta(days=30),
        )

    def add_pat_request(self, name: str, owner: str, repository: dict[str, str], repos: list[str]) -> int:
        return self._add_pat(
            self.pat_requests,
            name,
            owner,
            repository,
            None,
            repos,
            expires_at=now() + timedelta(days=30),
            created_at=now() - timedelta(days=1),
            reason="Release automation",
        )

    def _add_pat(
        self,
        table: dict[int, dict[str, Any]],
        name: str,
        owner: str,
        repository: dict[str, str],
        organization: dict[str, str] | None,
        repos: list[str] | None,
        **dates_and_reason: Any,
    ) -> int:
        """A fine-grained token, granted or requested: what both carry, then their own fields."""
        for repo in repos or []:
            self.add_repo(repo)
        pid = self.new_id()
        table[pid] = {
            "name": name,
            "owner": owner,
            "token_id": self.new_id(),
            "permissions": {"repository": repository, "organization": organization or {}, "other": {}},
            "repos": repos,
            **dates_and_reason,
        }
        return pid

    def add_deploy_key(self, repo: str, title: str, *, read_only: bool) -> int:
        self.add_repo(repo)
        kid = self.new_id()
        blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + secrets.token_bytes(36)).decode()
        self.deploy_keys.setdefault(repo, {})[kid] = {
            "title": title,
            "read_only": read_only,
            "key": f"ssh-ed25519 {blob}",
            "created_at": now() - timedelta(days=90),
            "last_used": None,
        }
        return kid

    def add_workflow(self, repo: str, path: str, text: str) -> None:
        self.add_repo(repo)
        self.workflows.setdefault(repo, []).append({"id": self.new_id(), "path": path, "text": text})

    # -- answers

    def installation_json(self, iid: int) -> dict[str, Any]:
        i = self.installations[iid]
        return installation(iid, i["app_id"], i["slug"], i["permissions"], i["selection"], i["suspended_at"])

    def pat_json(self, pid: int, item: dict[str, Any], *, request: bool) -> dict[str, Any]:
        expired = bool(item["expires_at"] and item["expires_at"] < now())
        data = {
            "id": pid,
            "owner": user(item["owner"], abs(hash(item["owner"])) % 5000 + 10),
            "repository_selection": "subset" if item["repos"] is not None else "all",
            "repositories_url": f"https://api.github.com/organizations/{ORG_ID}/"
            f"personal-access-token{'-requests' if request else 's'}/{pid}/repositories",
            "permissions": item["permissions"],
            "token_id": item["token_id"],
            "token_name": item["name"],
            "token_expired": expired,
            "token_expires_at": iso(item["expires_at"]),
            "token_last_used_at": iso(item.get("last_used_at")),
        }
        if request:
            data.update(reason=item["reason"], created_at=iso(item["created_at"]))
        else:
            data["access_granted_at"] = iso(item["granted_at"])
        return data

    def key_json(self, repo: str, kid: int, key: dict[str, Any]) -> dict[str, Any]:
        data = {
            "id": kid,
            "key": key["key"],
            "url": f"https://api.github.com/repos/{ORG}/{repo}/keys/{kid}",
            "title": key["title"],
            "verified": True,
            "created_at": iso(key["created_at"]),
            "read_only": key["read_only"],
            "added_by": "octocat",
            "last_used": iso(key["last_used"]),
            "enabled": True,
        }
        if self.drift:
            del data["read_only"]
        return data

    def workflow_json(self, repo: str, workflow: dict[str, Any]) -> dict[str, Any]:
        wid = workflow["id"]
        return {
            "id": wid,
            "node_id": f"W_{wid}",
            "name": workflow["path"].rsplit("/", 1)[-1],
            "path": workflow["path"],
            "state": "active",
            "created_at": "2025-02-01T10:00:00Z",
            "updated_at": "2025-02-01T10:00:00Z",
            "url": f"https://api.github.com/repos/{ORG}/{repo}/actions/workflows/{wid}",
            "html_url": f"https://github.com/{ORG}/{repo}/blob/main/{workflow['path']}",
            "badge_url": f"https://github.com/{ORG}/{repo}/workflows/ci/badge.svg",
        }

    def content_json(self, repo: str, path: str, text: str) -> dict[str, Any]:
        encoded = base64.b64encode(text.encode()).decode()
        url = f"https://api.github.com/repos/{ORG}/{repo}/contents/{path}?ref=main"
        html = f"https://github.com/{ORG}/{repo}/blob/main/{path}"
        git = f"https://api.github.com/repos/{ORG}/{repo}/git/blobs/0123456789abcdef"
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(text.encode()),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": encoded,
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": f"https://raw.githubusercontent.com/{ORG}/{repo}/main/{path}",
            "_links": {"git": git, "self": url, "html": html},
        }

    def problems(self) -> list[str]:
        return [p for e in self.exchanges for p in e["problems"]]


# ---------------------------------------------------------------- the HTTP side


class Handler(BaseHTTPRequestHandler):
    server_version = "GitHub.com"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    @property
    def state(self) -> GitHubState:
        return self.server.state

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        description = self.server.description
        operation, problems = description.check_request(method, path, query, body)
        exchange = {"method": method, "path": path, "query": query, "body": body, "problems": problems}
        with self.state.lock:
            self.state.exchanges.append(exchange)
        if operation is None:
            self._send(exchange, None, 404, {"message": "Not Found"})
            return
        try:
            status, data, headers = self._route(operation.template, method, path, query, body)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake shows as a problem, not a hang
            exchange["problems"].append(f"the fake failed: {exc!r}")
            status, data, headers = 500, {"message": "fake failed"}, {}
        self._send(exchange, operation, status, data, headers)

    def _send(self, exchange, operation, status: int, data: Any, headers: dict[str, str] | None = None):
        raw = b"" if data is None else json.dumps(data).encode()
        headers = dict(headers or {})
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if operation is not None:
            exchange["problems"] += self.server.description.check_response(operation, status, headers, raw)
        exchange.update(status=status, response=raw, response_headers=headers)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    # -- authentication

    def _app_jwt_ok(self) -> bool:
        import jwt

        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        try:
            claims = jwt.decode(token, self.state.public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(APP_ID)

    def _token_ok(self) -> bool:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() in ("token", "bearer") and token in self.state.tokens

    # -- pages

    def _paged(self, path: str, query, items: list[Any], wrap=None):
        per_page = int((query.get("per_page") or ["30"])[-1])
        page = int((query.get("page") or ["1"])[-1])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"http://127.0.0.1:{self.server.server_port}{path}"
        links = []
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.insert(0, f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.insert(1, f'<{base}?per_page={per_page}&page=1>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, (wrap(chunk, len(items)) if wrap else chunk), headers

    def _route(self, template: str, method: str, path: str, query, body: bytes):
        s = self.state
        segments = path.strip("/").split("/")
        with s.lock:
            if s.throttle.get(path, 0) > 0:
                s.throttle[path] -= 1
                return 403, SECONDARY_RATE_LIMIT, {"retry-after": "1", "x-ratelimit-remaining": "4999"}
        if template in ("/orgs/{org}/installation", "/app/installations/{installation_id}/access_tokens",
                        "/app/installations/{installation_id}/suspended"):  # fmt: skip
            if not self._app_jwt_ok():
                return 401, {"message": "A JSON web token could not be decoded"}, {}
        elif not self._token_ok():
            return 401, {"message": "Bad credentials"}, {}
        with s.lock:
            if template == "/orgs/{org}/installation":
                return 200, s.installation_json(STEWARD_INSTALLATION), {}
            if template == "/app/installations/{installation_id}/access_tokens":
                token = "ghs_" + secrets.token_urlsafe(27)
                s.tokens.add(token)
                expires = iso(now() + timedelta(hours=1))
                return 201, {"token": token, "expires_at": expires, "repository_selection": "all"}, {}
            if template == "/app/installations/{installation_id}/suspended":
                iid = int(segments[2])
                if iid not in s.installations or s.installations[iid]["app_id"] != APP_ID:
                    return 404, {"message": "Not Found"}, {}
                s.installations[iid]["suspended_at"] = now()
                return 204, None, {}
            if template == "/orgs/{org}/installations":
                items = [s.installation_json(i) for i in sorted(s.installations)]
                return self._paged(path, query, items, lambda c, n: {"total_count": n, "installations": c})
            if template == "/orgs/{org}/personal-access-tokens":
                items = [s.pat_json(p, s.pat_grants[p], request=False) for p in sorted(s.pat_grants)]
                return self._paged(path, query, items)
            if template == "/orgs/{org}/personal-access-token-requests":
                items = [s.pat_json(p, s.pat_requests[p], request=True) for p in sorted(s.pat_requests)]
                return self._paged(path, query, items)
            if template in (
                "/orgs/{org}/personal-access-tokens/{pat_id}/repositories",
                "/orgs/{org}/personal-access-token-requests/{pat_request_id}/repositories",
            ):
                store = s.pat_grants if "tokens" in segments[2] else s.pat_requests
                item = store.get(int(segments[3]))
                if item is None:
                    return 404, {"message": "Not Found"}, {}
                repos = [repository(r, s.repos[r]["id"]) for r in item["repos"] or []]
                return self._paged(path, query, repos)
            if template == "/orgs/{org}/personal-access-tokens/{pat_id}":
                if s.pat_grants.pop(int(segments[3]), None) is None:
                    return 404, {"message": "Not Found"}, {}
                return 204, None, {}
            if template == "/orgs/{org}/personal-access-token-requests/{pat_request_id}":
                if s.pat_requests.pop(int(segments[3]), None) is None:
                    return 404, {"message": "Not Found"}, {}
                return 204, None, {}
            if template == "/orgs/{org}/repos":
                items = [
                    repository(r["name"], r["id"]) for r in sorted(s.repos.values(), key=lambda r: r["id"])
                ]
                return self._paged(path, query, items)
            repo = segments[2] if len(segments) > 2 else ""
            if template == "/repos/{owner}/{repo}/keys":
                keys = s.deploy_keys.get(repo, {})
                items = [s.key_json(repo, k, keys[k]) for k in sorted(keys)]
                return self._paged(path, query, items)
            if template == "/repos/{owner}/{repo}/keys/{key_id}":
                if s.deploy_keys.get(repo, {}).pop(int(segments[4]), None) is None:
                    return 404, {"message": "Not Found"}, {}
                return 204, None, {}
            if template == "/repos/{owner}/{repo}/actions/workflows":
                items = [s.workflow_json(repo, w) for w in s.workflows.get(repo, [])]
                return self._paged(path, query, items, lambda c, n: {"total_count": n, "workflows": c})
            if template == "/repos/{owner}/{repo}/contents/{path}":
                wanted = path.split("/contents/", 1)[1]
                for workflow in s.workflows.get(repo, []):
                    if workflow["path"] == wanted:
                        return 200, s.content_json(repo, wanted, workflow["text"]), {}
                return 404, {"message": "Not Found"}, {}
        return 404, {"message": "Not Found"}, {}


class Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def github_server(description, public_key):
    """A loopback GitHub on a free port; yields (url, state)."""
    server = Server(("127.0.0.1", free_port()), Handler)
    server.state = GitHubState(public_key)
    server.description = description
    with serving(server) as url:
        yield url, server.state
