"""Content-Security-Policy, clickjacking protection, and templates that keep to the policy."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/audit/", "/accounts/login/", "/admin/"])
def test_pages_send_a_strict_csp_and_refuse_framing(client, iam, path):
    if path != "/accounts/login/":
        iam.is_staff = True
        iam.save()
        client.force_login(iam)
    response = client.get(path)
    assert response.status_code == 200
    csp = directives(response["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_api_docs_use_no_inline_script(client, iam):
    client.force_login(iam)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "unsafe-inline" not in page["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def template_files():
    roots = [
        ROOT / "templates",
        *(ROOT / app / "templates" for app in ("governance", "inventory", "approvals")),
    ]
    # Mail bodies (templates/<app>/email/) are never served to a browser, so no CSP applies to them;
    # mail clients need inline styles.
    return sorted(
        p for root in roots if root.exists() for p in root.rglob("*.html") if "email" not in p.parent.parts
    )


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']\s*javascript:", re.I)


@pytest.mark.parametrize("template", template_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_keep_to_the_csp(template):
    """The CSP allows no inline script or style: a template that adds one breaks in the browser.
    Put behaviour in static/js/steward.js (data- attributes) and looks in static/css/steward.css."""
    text = template.read_text()
    problems = [
        name
        for name, pattern in (
            ("inline <script>", INLINE_SCRIPT),
            ("on…= event handler attribute", INLINE_HANDLER),
            ("style= attribute", STYLE_ATTRIBUTE),
            ("<style> element", STYLE_ELEMENT),
            ("javascript: URL", JS_URL),
        )
        if pattern.search(text)
    ]
    assert not problems, f"{template.relative_to(ROOT)} has {', '.join(problems)}"


def test_htmx_is_told_not_to_inject_its_indicator_style():
    import json
    import re

    base = (ROOT / "templates" / "base.html").read_text()
    # One htmx-config for every page (htmx reads only the first), and it keeps the indicator style out.
    configs = re.findall(r"""<meta name="htmx-config" content='([^']*)'>""", base)
    assert len(configs) == 1 and json.loads(configs[0])["includeIndicatorStyles"] is False
    templates = (ROOT / "templates").rglob("*.html")
    assert not [t for t in templates if t.name != "base.html" and "htmx-config" in t.read_text()]
    assert ".htmx-indicator" in (ROOT / "static" / "css" / "steward.css").read_text()


def test_no_directive_allows_unsafe_inline_or_eval():
    policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    for name, sources in policy.items():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, name
