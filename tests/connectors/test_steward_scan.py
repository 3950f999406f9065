"""tools/steward-scan on a home folder holding the products' own file formats (from their docs).

The scanner is a standalone script (standard library only), so these tests run it as a process, as an
endpoint-management tool would, and read what it prints or sends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNER = ROOT / "tools" / "steward-scan"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "endpoint"
LEAK_MARK = "fixture-value-must-not-leak"

EXTENSIONS = {
    ("vscode", "github.copilot", "1.250.0", "GitHub"),
    ("vscode", "ms-python.python", "2024.22.0", "Microsoft"),
    ("vscode", "shadyai.autocoder", "0.9.1", "ShadyAI"),
    ("cursor", "anysphere.cursorpyright", "1.0.3", "Anysphere"),
    ("cursor", "github.copilot", "1.249.0", "GitHub"),
    ("jetbrains:IntelliJIdea2024.3", "com.intellij.ml.llm", "243.22562.218", "JetBrains"),
    ("jetbrains:IntelliJIdea2024.3", "com.github.copilot", "1.5.30-243", "GitHub"),
}
MCP_SERVERS = {
    ("claude-desktop", "filesystem", "stdio", "npx", (), ()),
    ("claude-desktop", "github", "stdio", "docker", ("GITHUB_PERSONAL_ACCESS_TOKEN",), ()),
    ("cursor", "linear", "sse", "https://mcp.linear.app/sse", (), ()),
    ("cursor", "postgres", "stdio", "npx", ("DATABASE_PASSWORD", "PGSSLMODE"), ()),
    ("vscode", "my-weather", "sse", "http://localhost:3001/sse", (), ()),
    ("vscode-workspace", "Perplexity", "stdio", "npx", ("LOG_LEVEL", "PERPLEXITY_API_KEY"), ()),
    ("vscode-workspace", "fetch", "http", "https://api.githubcopilot.com/mcp/", (), ("Authorization",)),
}


@pytest.fixture
def home(tmp_path) -> Path:
    """The fixture home, plus a JetBrains plugin packed the way the IDE installs it: lib/<name>.jar
    holding META-INF/plugin.xml."""
    target = tmp_path / "alice"
    shutil.copytree(FIXTURES / "home", target)
    lib = target / ".local/share/JetBrains/IntelliJIdea2024.3/github-copilot-intellij/lib"
    lib.mkdir(parents=True)
    with zipfile.ZipFile(lib / "github-copilot-intellij.jar", "w") as jar:
        jar.writestr("com/github/copilot/Plugin.class", b"\xca\xfe\xba\xbe")
        jar.write(FIXTURES / "copilot-intellij" / "plugin.xml", "META-INF/plugin.xml")
    # A folder of the product's own next to the plugins is not a plugin.
    (target / ".local/share/JetBrains/IntelliJIdea2024.3/settingsSync").mkdir()
    return target


def scan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCANNER), *args], capture_output=True, text=True, timeout=60, check=False
    )


def summary(report: dict) -> tuple[set, set]:
    extensions = {(e["ide"], e["id"], e["version"], e["publisher"]) for e in report["extensions"]}
    servers = {
        (
            s["client"],
            s["name"],
            s["transport"],
            s.get("command") or s.get("url"),
            tuple(s["env"]),
            tuple(s["headers"]),
        )
        for s in report["mcp_servers"]
    }
    return extensions, servers


def test_the_scanner_is_one_executable_standard_library_file():
    text = SCANNER.read_text()
    assert text.startswith("#!/usr/bin/env python3\n")
    assert SCANNER.stat().st_mode & 0o111
    imported = {
        line.split()[1].split(".")[0]
        for line in text.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_dry_run_prints_every_extension_and_mcp_server_and_no_environment_value(home):
    result = scan("--home", str(home), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert LEAK_MARK not in result.stdout + result.stderr
    assert "@db/app" not in result.stdout and "token=" not in result.stdout  # arguments, query strings
    report = json.loads(result.stdout)
    assert set(report) == {"host", "user", "scanned_at", "scanner_version", "extensions", "mcp_servers"}
    assert report["host"] and report["scanned_at"].endswith("+00:00")
    extensions, servers = summary(report)
    assert extensions == EXTENSIONS
    assert servers == MCP_SERVERS
    assert len(report["extensions"]) == len(EXTENSIONS) and len(report["mcp_servers"]) == len(MCP_SERVERS)


def test_an_empty_home_is_an_empty_report_and_a_broken_file_is_a_warning(tmp_path):
    (tmp_path / ".cursor").mkdir()
    (tmp_path / ".cursor" / "mcp.json").write_text('{"mcpServers": {"x": ')

    result = scan("--home", str(tmp_path), "--dry-run")

    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["extensions"] == [] and report["mcp_servers"] == []
    assert "mcp.json" in result.stderr and "skipped" in result.stderr


def test_without_dry_run_it_needs_url_and_token(home):
    result = scan("--home", str(home))
    assert result.returncode == 2
    assert "--url and --token" in result.stderr


def test_it_posts_the_report_with_the_token_as_bearer(home):
    received: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the standard library's name
            length = int(self.headers["Content-Length"])
            received["path"] = self.path
            received["authorization"] = self.headers["Authorization"]
            received["body"] = self.rfile.read(length).decode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"installations": 7}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/connectors/3/reports/"
    try:
        result = scan("--home", str(home), "--url", url, "--token", "stw_report_fixture")
    finally:
        thread.join(timeout=30)
        server.server_close()

    assert result.returncode == 0, result.stderr
    assert '"installations": 7' in result.stdout
    assert received["path"] == "/api/v1/connectors/3/reports/"
    assert received["authorization"] == "Bearer stw_report_fixture"
    assert LEAK_MARK not in received["body"]
    assert summary(json.loads(received["body"])) == (EXTENSIONS, MCP_SERVERS)
