"""GitHub's official OpenAPI description (npm @octokit/openapi) as a checker of requests and answers.

`Description.check_request` finds the operation a request names (method + path template), and checks
its path and query parameters and JSON body against it; `check_response` checks the status is one the
operation declares, its JSON body against the declared schema (OpenAPI 3.0's dialect: `nullable`,
formats), that a 204 has no body, and that a `Link` header is one the answer declares.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "node_modules" / "@octokit" / "openapi"
DESCRIPTION = PACKAGE / "generated" / "api.github.com.json"


def missing() -> str | None:
    """Why the description cannot be loaded, or None."""
    if not DESCRIPTION.exists():
        return "node_modules/@octokit/openapi is missing: run `make install` (npm ci)"
    return None


@dataclass
class Operation:
    method: str
    template: str
    spec: dict[str, Any]
    regex: re.Pattern = field(repr=False, default=None)


class Description:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.components = document["components"]
        self.operations: list[Operation] = []
        for template, item in document["paths"].items():
            pattern = (
                "^"
                + re.sub(
                    r"\\\{(\w+)\\\}",
                    lambda m: "(?P<path>.+)" if m.group(1) == "path" else f"(?P<{m.group(1)}>[^/]+)",
                    re.escape(template),
                )
                + "$"
            )
            for method, spec in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    self.operations.append(Operation(method.upper(), template, spec, re.compile(pattern)))
        # Literal segments win over parameters (`/orgs/{org}/installation` before `/orgs/{org}/{x}`).
        self.operations.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
        self._validators: dict[int, Any] = {}

    # ------------------------------------------------------------ helpers

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while isinstance(node, dict) and "$ref" in node:
            section, name = node["$ref"].split("/")[-2:]
            node = self.components[section][name]
        return node

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        from openapi_schema_validator import OAS30Validator, oas30_format_checker

        key = id(schema)
        if key not in self._validators:
            root = {"components": self.components, "allOf": [schema]}
            self._validators[key] = OAS30Validator(root, format_checker=oas30_format_checker)
        found = sorted(self._validators[key].iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in found[:5]]

    def find(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        for operation in self.operations:
            if operation.method != method:
                continue
            match = operation.regex.match(path)
            if match:
                return operation, match.groupdict()
        return None, {}

    def _parameters(self, operation: Operation) -> list[dict[str, Any]]:
        return [self.resolve(p) for p in operation.spec.get("parameters", [])]

    @staticmethod
    def _coerce(value: str, schema: dict[str, Any]) -> Any:
        kind = schema.get("type")
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value)
            if kind == "boolean":
                return {"true": True, "false": False}[value]
        except (ValueError, KeyError):
            return value
        return value

    # ------------------------------------------------------------ checks

    def check_request(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[Operation | None, list[str]]:
        operation, params = self.find(method, path)
        if operation is None:
            return None, [f"{method} {path}: no such operation in GitHub's description"]
        problems: list[str] = []
        where = f"{method} {operation.template}"
        declared = {(p["in"], p["name"]): p for p in self._parameters(operation)}
        for name, value in params.items():
            spec = declared.get(("path", name))
            if spec is None:
                problems.append(f"{where}: path parameter {name} undeclared")
                continue
            for error in self.errors(spec.get("schema", {}), self._coerce(value, spec.get("schema", {}))):
                problems.append(f"{where}: path {name}: {error}")
        for name, values in query.items():
            spec = declared.get(("query", name.removesuffix("[]")))
            if spec is None:
                problems.append(f"{where}: query parameter {name!r} is not in GitHub's description")
                continue
            schema = spec.get("schema", {})
            if schema.get("type") == "array":
                instance: Any = [self._coerce(v, schema.get("items", {})) for v in values]
            else:
                instance = self._coerce(values[-1], schema)
            for error in self.errors(schema, instance):
                problems.append(f"{where}: query {name}: {error}")
        for (where_in, name), spec in declared.items():
            if where_in == "query" and spec.get("required") and name not in query:
                problems.append(f"{where}: required query parameter {name} missing")
        request_body = self.resolve(operation.spec.get("requestBody", {}))
        if body:
            content = request_body.get("content", {}).get("application/json")
            if content is None:
                problems.append(f"{where}: sends a body the operation does not take")
            else:
                try:
                    data = json.loads(body)
                except ValueError:
                    problems.append(f"{where}: the body is not JSON")
                else:
                    problems += [f"{where}: body {e}" for e in self.errors(content["schema"], data)]
        elif request_body.get("required"):
            problems.append(f"{where}: the required body is missing")
        return operation, problems

    def check_response(
        self, operation: Operation, status: int, headers: dict[str, str], body: bytes
    ) -> list[str]:
        where = f"{operation.method} {operation.template} → {status}"
        responses = operation.spec.get("responses", {})
        declared = responses.get(str(status)) or responses.get("default")
        if declared is None:
            return [f"{where}: status not declared (declared: {', '.join(sorted(responses))})"]
        declared = self.resolve(declared)
        problems: list[str] = []
        content = declared.get("content") or {}
        if not content:
            if body:
                problems.append(f"{where}: a body where the description declares none")
        else:
            media = headers.get("Content-Type", "").split(";")[0].strip()
            if media not in content:
                problems.append(f"{where}: content type {media!r} not declared ({', '.join(content)})")
            else:
                try:
                    data = json.loads(body)
                except ValueError:
                    return [f"{where}: the body is not JSON"]
                problems += [f"{where}: {e}" for e in self.errors(content[media].get("schema", {}), data)]
        response_headers = {k.lower() for k in declared.get("headers", {})}
        if "Link" in headers and "link" not in response_headers:
            problems.append(f"{where}: a Link header the description does not declare")
        return problems


@cache
def description() -> Description:
    return Description(json.loads(DESCRIPTION.read_text()))
