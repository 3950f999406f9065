"""Malformed evidence manifests (issue 18, item 8): `{"files": []}`, `{"files": {"a.txt": 5}}` and
`"head_seq": 1e400` were tracebacks in /evidence/verify/ and `verify_evidence`. Each is now a clear
reason: on the page in the browser, and exit 1 with the reason from the command."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.audit import GENESIS_HASH
from governance.evidence.verifier import verify_pack

pytestmark = pytest.mark.django_db

CONTENT = b"name\nbot\n"
GOOD_FILES = f'{{"a.txt": {{"sha256": "{hashlib.sha256(CONTENT).hexdigest()}"}}}}'
GOOD_CHAIN = f'{{"head_seq": 0, "head_hash": "{GENESIS_HASH}"}}'

# (manifest.json as sent, what the reason says)
MALFORMED = [
    ('{"files": []}', "'files' must be an object"),
    ('{"files": {"a.txt": 5}}', "the entry for 'a.txt' must be an object with its sha256"),
    (
        f'{{"files": {GOOD_FILES}, "audit_chain": {{"head_seq": 1e400, "head_hash": "{GENESIS_HASH}"}}}}',
        "1e400",
    ),
    (
        f'{{"files": {GOOD_FILES}, "audit_chain": {{"head_seq": "7", "head_hash": "{GENESIS_HASH}"}}}}',
        "head_seq",
    ),
    (
        f'{{"files": {GOOD_FILES}, "audit_chain": {{"head_seq": -1, "head_hash": "{GENESIS_HASH}"}}}}',
        "head_seq",
    ),
    (f'{{"files": {GOOD_FILES}, "audit_chain": {{"head_seq": {2**63}, "head_hash": "x"}}}}', "head_seq"),
    (f'{{"files": {GOOD_FILES}, "audit_chain": {{"head_seq": 0, "head_hash": 5}}}}', "head_hash"),
    (f'{{"files": {GOOD_FILES}, "audit_chain": []}}', "'audit_chain' must be an object"),
    (f'{{"files": {GOOD_FILES}}}', "'audit_chain' must be an object"),
    ('{"files": {"a.txt": {"sha256": 5}}}', "must be an object with its sha256"),
    ('{"files": {"a.txt": {"sha256": "zz"}}}', "is not 64 hexadecimal digits"),
    ("[]", "not a JSON object"),
    ("null", "not a JSON object"),
    ("[" * 5000 + "]" * 5000, "nests deeper than 64"),
    ("{not json", "manifest.json is unreadable"),
    ('{"files": NaN}', "manifest.json is unreadable"),
]


def _pack(manifest: str | bytes | None, *, files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (files if files is not None else {"a.txt": CONTENT}).items():
            zf.writestr(name, data)
        if manifest is not None:
            zf.writestr("manifest.json", manifest)
    return buffer.getvalue()


def test_a_well_formed_manifest_of_an_empty_chain_verifies(tmp_path):
    path = tmp_path / "pack.zip"
    path.write_bytes(_pack(f'{{"files": {GOOD_FILES}, "audit_chain": {GOOD_CHAIN}}}'))
    result = verify_pack(path, allow_unsigned=True)  # signing is another test's subject
    assert result.ok, result.problems


@pytest.mark.parametrize("manifest,reason", MALFORMED, ids=[m[:30] for m, _ in MALFORMED])
def test_verify_evidence_exits_1_with_the_reason(tmp_path, capsys, manifest, reason):
    path = tmp_path / "pack.zip"
    path.write_bytes(_pack(manifest))
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence", str(path))
    assert failure.value.returncode == 1
    assert reason in str(failure.value)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("manifest,reason", MALFORMED, ids=[m[:30] for m, _ in MALFORMED])
def test_the_verify_page_shows_the_reason(client, auditor, manifest, reason):
    client.force_login(auditor)
    response = client.post("/evidence/verify/", {"pack": io.BytesIO(_pack(manifest))})
    assert response.status_code == 200
    page = response.content.decode()
    assert "does not verify" in page or "alert-danger" in page
    assert reason.replace("'", "&#x27;") in page


@pytest.mark.parametrize(
    "pack,reason",
    [
        (_pack(None), "manifest.json is missing"),
        (_pack(b"\xff\xfe{}"), "manifest.json is unreadable"),
        (b"PK\x05\x06" + b"\0" * 18, "manifest.json is missing"),  # an empty zip
        (b"PK\x03\x04 not really", "not a pack Steward reads"),
        (b"", "not a pack Steward reads"),
    ],
)
def test_a_pack_without_a_readable_manifest_is_refused_with_a_reason(tmp_path, pack, reason):
    path = tmp_path / "pack.zip"
    path.write_bytes(pack)
    result = verify_pack(path)
    assert not result.ok and reason in result.message


def test_a_missing_pack_file_is_a_reason_not_a_traceback(tmp_path):
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence", str(tmp_path / "nowhere.zip"))
    assert failure.value.returncode == 1 and "cannot open it" in str(failure.value)
