"""Signed evidence packs (issue 19 items 1-4): manifest.sig, forgeries refused with and without the
database, unsigned packs only with --allow-unsigned, VERIFY.md's own instructions, the chain bound at
the period's end, and downloads re-checked against the recorded SHA-256."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from governance import audit, signing
from governance.evidence.verifier import verify_pack
from governance.models import AuditCheckpoint, AuditEvent
from tests.governance.evidence_support import export_now, small_estate

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pack(auditor, owner, django_capture_on_commit_callbacks) -> Path:
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    assert export.state == "ready", export.error
    return Path(django_settings.MEDIA_ROOT) / export.file_path


@pytest.fixture
def jwks_file(tmp_path) -> Path:
    """The key set as a verifier downloads it from /.well-known/jwks.json."""
    path = tmp_path / "jwks.json"
    path.write_bytes(Client().get("/.well-known/jwks.json").content)
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _row_count(name: str, data: bytes) -> int:
    lines = [line for line in data.decode().splitlines() if line.strip()]
    return len(lines) if name.endswith(".jsonl") else max(len(lines) - 1, 0)


def forge(src: Path, dst: Path, edits=None, manifest_edit=None, signature="keep") -> Path:
    """What a careful forger does: edit files, then recompute every hash, size and row count in the
    manifest, and keep (or drop, or re-sign with their own key) manifest.sig."""
    edits = edits or {}
    with zipfile.ZipFile(src) as zin:
        contents = {info.filename: zin.read(info.filename) for info in zin.infolist()}
    manifest = json.loads(contents["manifest.json"])
    for name, change in edits.items():
        contents[name] = change(contents[name])
        manifest["files"][name]["sha256"] = hashlib.sha256(contents[name]).hexdigest()
        manifest["files"][name]["bytes"] = len(contents[name])
        if name in manifest["row_counts"]:
            manifest["row_counts"][name] = _row_count(name, contents[name])
    if manifest_edit:
        manifest_edit(manifest)
    contents["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    if signature == "drop":
        contents.pop("manifest.sig")
    elif signature == "own key":
        real_kid = jwt.get_unverified_header(contents["manifest.sig"].decode())["kid"]
        full = jwt.api_jws.encode(
            contents["manifest.json"],
            ed25519.Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": real_kid, "typ": "steward-evidence-manifest+jose"},
        )
        header, _payload, sig = full.split(".")
        contents["manifest.sig"] = f"{header}..{sig}".encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in contents.items():
            zout.writestr(name, data)
    return dst


def _edit_actor(data: bytes) -> bytes:
    """Change one actor in audit_events.jsonl and re-hash that event and every later one."""
    events = [json.loads(line) for line in data.decode().splitlines()]
    events[1]["actor"] = "someone-else"
    prev = events[0]["hash"]
    for event in events[1:]:
        event["prev_hash"] = prev
        event.pop("hash")
        event["hash"] = audit.compute_hash(event)
        prev = event["hash"]
    return "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events).encode()


def _delete_last_line(data: bytes) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:-1])


def _forge_approval(data: bytes) -> bytes:
    forged = "999,intake,deploy bot,owner,critical,approved,2025-01-01,2025-01-02,1,1,iam,approved,iam2,,"
    return data + forged.encode() + b"\r\n"


def _shift_period(manifest: dict) -> None:
    manifest["period"]["start"] = "2020-01-01"


def _inflate_counts(manifest: dict) -> None:
    manifest["row_counts"]["inventory.csv"] += 1


FORGERIES = {
    "approver added to approvals.csv": {"edits": {"approvals.csv": _forge_approval}},
    "actor changed in audit_events.jsonl, chain re-hashed": {"edits": {"audit_events.jsonl": _edit_actor}},
    "a line deleted from audit_events.jsonl": {"edits": {"audit_events.jsonl": _delete_last_line}},
    "period altered": {"manifest_edit": _shift_period},
    "row_counts altered": {"manifest_edit": _inflate_counts},
}


# ---------------------------------------------------------------- the signature


def test_a_pack_is_signed_with_a_detached_jws_over_the_exact_bytes_of_its_manifest(pack, jwks_file):
    with zipfile.ZipFile(pack) as zf:
        manifest_bytes, token = zf.read("manifest.json"), zf.read("manifest.sig").decode()
    header_b64, payload, signature = token.split(".")
    assert payload == "" and signature
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header["alg"] == "EdDSA" and header["typ"] == "steward-evidence-manifest+jose"
    assert header["kid"].startswith("evidence-") and "b64" not in header  # RFC 7515 appendix F, not 7797
    jwks = json.loads(jwks_file.read_text())
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    signing.verify_detached(token, manifest_bytes, jwks, "evidence")
    with pytest.raises(signing.SignatureInvalid):
        signing.verify_detached(token, manifest_bytes + b" ", jwks, "evidence")
    manifest = json.loads(manifest_bytes)
    assert manifest["signature"]["kid"] == header["kid"]


def test_the_evidence_key_is_a_file_and_nothing_of_it_is_in_the_database(pack, settings):
    assert (settings.STEWARD_SIGNING_KEY_DIR / "evidence.pem").is_file()
    from governance.models import SigningKey

    assert not SigningKey.objects.exists()


def test_an_intact_pack_verifies_with_and_without_the_database(pack, jwks_file, capsys):
    call_command("verify_evidence", str(pack))
    call_command("verify_evidence", str(pack), "--jwks", str(jwks_file))
    out = capsys.readouterr().out
    assert out.count("Pack verified, signed by evidence-") == 2
    assert "live chain not checked" in out


@pytest.mark.parametrize("how", list(FORGERIES))
@pytest.mark.parametrize("mode", ["with the database", "with --jwks"])
def test_a_forged_and_rehashed_pack_is_refused(pack, jwks_file, tmp_path, how, mode):
    forged = forge(pack, tmp_path / "forged.zip", **FORGERIES[how])
    args = [str(forged)] + (["--jwks", str(jwks_file)] if mode == "with --jwks" else [])
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence", *args)
    assert failure.value.returncode == 1
    assert "manifest.sig does not verify" in str(failure.value)


@pytest.mark.parametrize("how", list(FORGERIES))
def test_a_forgery_without_its_signature_is_refused_even_with_allow_unsigned_when_it_shows(
    pack, jwks_file, tmp_path, how
):
    """Dropping manifest.sig makes it 'unsigned'; without --allow-unsigned that alone refuses it."""
    forged = forge(pack, tmp_path / "forged.zip", signature="drop", **FORGERIES[how])
    result = verify_pack(forged, jwks=json.loads(jwks_file.read_text()))
    assert not result.ok and "the pack is unsigned" in result.message


def test_a_pack_re_signed_with_the_forgers_own_key_is_refused(pack, jwks_file, tmp_path):
    forged = forge(pack, tmp_path / "forged.zip", signature="own key", **FORGERIES["period altered"])
    result = verify_pack(forged, jwks=json.loads(jwks_file.read_text()))
    assert not result.ok and "manifest.sig does not verify" in result.message


def test_a_pack_signed_by_another_purposes_key_is_refused(pack, jwks_file, tmp_path):
    with zipfile.ZipFile(pack) as zf:
        manifest_bytes = zf.read("manifest.json")
    key = signing.signing_key("attestation")
    full = jwt.api_jws.encode(
        manifest_bytes, key.private_key, algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": "steward-evidence-manifest+jose"},
    )  # fmt: skip
    header, _p, sig = full.split(".")
    forged = tmp_path / "attested.zip"
    shutil.copy(pack, forged)
    with zipfile.ZipFile(pack) as zin, zipfile.ZipFile(forged, "w") as zout:
        for info in zin.infolist():
            data = f"{header}..{sig}".encode() if info.filename == "manifest.sig" else zin.read(info)
            zout.writestr(info.filename, data)
    jwks = json.loads(Client().get("/.well-known/jwks.json").content)
    result = verify_pack(forged, jwks=jwks)
    assert not result.ok and "is not a Steward evidence key" in result.message


def test_the_live_chain_catches_an_audit_file_that_differs_from_it(pack, tmp_path):
    """A forgery of the pack's own events, consistent inside the pack: the database knows better."""
    forged = forge(pack, tmp_path / "forged.zip", signature="drop", edits={"audit_events.jsonl": _edit_actor})
    result = verify_pack(forged, allow_unsigned=True)
    assert not result.ok
    assert any("differs from the live audit chain" in p for p in result.problems)


def test_row_counts_are_checked_against_the_files_themselves(pack, tmp_path):
    forged = forge(pack, tmp_path / "forged.zip", signature="drop", manifest_edit=_inflate_counts)
    result = verify_pack(forged, allow_unsigned=True)
    assert not result.ok
    assert any("inventory.csv holds" in p and "row_counts says" in p for p in result.problems)


def test_a_duplicate_zip_entry_is_an_error(pack, tmp_path):
    doubled = tmp_path / "doubled.zip"
    shutil.copy(pack, doubled)
    with zipfile.ZipFile(doubled, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("approvals.csv", b"request,kind\r\n1,forged\r\n")
    result = verify_pack(doubled)
    assert not result.ok and "two files named 'approvals.csv'" in result.message


# ---------------------------------------------------------------- packs from before signing


def test_an_unsigned_pack_verifies_only_with_allow_unsigned_and_says_so(pack, tmp_path, capsys):
    old = forge(pack, tmp_path / "old.zip", signature="drop")
    with pytest.raises(CommandError, match="unsigned"):
        call_command("verify_evidence", str(old))
    call_command("verify_evidence", str(old), "--allow-unsigned")
    assert "Pack verified, UNSIGNED" in capsys.readouterr().out


# ---------------------------------------------------------------- no database at all


def _run_without_database(tmp_path, *args) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/no-such-folder/steward.sqlite3",
        "STEWARD_VAR_DIR": str(tmp_path / "var"),
        "STEWARD_SIGNING_KEY_DIR": str(tmp_path / "no-keys-here"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "verify_evidence", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_evidence_with_jwks_needs_no_database(pack, jwks_file, tmp_path):
    done = _run_without_database(tmp_path, str(pack), "--jwks", str(jwks_file))
    assert done.returncode == 0, done.stderr
    assert "Pack verified, signed by evidence-" in done.stdout

    forged = forge(pack, tmp_path / "forged.zip", **FORGERIES["approver added to approvals.csv"])
    refused = _run_without_database(tmp_path, str(forged), "--jwks", str(jwks_file))
    assert refused.returncode == 1 and "manifest.sig does not verify" in refused.stderr

    # The same environment really has no database: without --jwks the command needs one and fails.
    needs_db = _run_without_database(tmp_path, str(pack))
    assert needs_db.returncode != 0 and "unable to open database file" in needs_db.stderr
    assert not (tmp_path / "no-keys-here").exists()  # and no key was made


# ---------------------------------------------------------------- VERIFY.md


def _verify_md(pack: Path) -> str:
    with zipfile.ZipFile(pack) as zf:
        return zf.read("VERIFY.md").decode()


def _block(markdown: str, language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", markdown, re.S).group(1)


def test_verify_md_is_listed_and_names_the_signed_bytes_the_header_and_the_hashing(pack):
    text = _verify_md(pack)
    with zipfile.ZipFile(pack) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        header = jwt.get_unverified_header(zf.read("manifest.sig").decode())
    assert "VERIFY.md" in manifest["files"]
    assert header["kid"] in text and "exact bytes of\n`manifest.json`" in text
    assert "RFC 7515, appendix F" in text and "64 zeros" in text


def test_the_python_check_in_verify_md_verifies_the_pack_and_refuses_a_forgery(pack, jwks_file, tmp_path):
    script = tmp_path / "check_pack.py"
    script.write_text(_block(_verify_md(pack), "python"))
    done = subprocess.run(
        [sys.executable, str(script), str(pack), str(jwks_file)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "check out" in done.stdout
    forged = forge(pack, tmp_path / "forged.zip", **FORGERIES["period altered"])
    refused = subprocess.run([sys.executable, str(script), str(forged), str(jwks_file)], capture_output=True)
    assert refused.returncode != 0 and b"InvalidSignature" in refused.stderr


@pytest.mark.skipif(
    not shutil.which("openssl") or not shutil.which("unzip"), reason="needs openssl and unzip"
)
def test_the_openssl_check_in_verify_md_verifies_the_pack(pack, jwks_file, tmp_path):
    with zipfile.ZipFile(pack) as zf:
        kid = jwt.get_unverified_header(zf.read("manifest.sig").decode())["kid"]
    x = next(k["x"] for k in json.loads(jwks_file.read_text())["keys"] if k["kid"] == kid)
    snippet = _block(_verify_md(pack), "bash").replace("PACK.zip", str(pack))
    snippet = snippet.replace('<the "x" of the key with that kid in jwks.json>', x)
    done = subprocess.run(["bash", "-c", snippet], cwd=tmp_path, capture_output=True, text=True)
    assert "Signature Verified Successfully" in done.stdout, done.stderr


# ---------------------------------------------------------------- the chain at period end and at export


def test_a_pack_of_a_period_without_events_still_binds_to_the_chain(
    auditor, owner, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=20), tick=False):
        small_estate(owner)  # events twenty days ago
        from governance.checkpoints import sign_checkpoint

        sign_checkpoint("scheduled")
    before_period = AuditEvent.objects.order_by("-seq").first()
    today = timezone.localdate()
    period = (today - timedelta(days=10), today - timedelta(days=5))  # nothing happened in it
    export = export_now(auditor, django_capture_on_commit_callbacks, period=period)
    pack = Path(django_settings.MEDIA_ROOT) / export.file_path
    with zipfile.ZipFile(pack) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("audit_events.jsonl") == b""
    chain = manifest["audit_chain"]
    assert chain["at_period_end"]["seq"] == before_period.seq
    assert chain["at_period_end"]["hash"] == before_period.hash
    jwks = json.loads(Client().get("/.well-known/jwks.json").content)
    _h, claims = signing.verify_jwt(chain["checkpoint"], jwks, "audit-checkpoint")
    assert (claims["seq"], claims["hash"]) == (chain["head_seq"], chain["head_hash"])
    _h, earlier = signing.verify_jwt(chain["at_period_end"]["checkpoint"], jwks, "audit-checkpoint")
    assert earlier["seq"] == before_period.seq
    assert AuditCheckpoint.objects.filter(reason=f"evidence export #{export.pk}").exists()
    assert verify_pack(pack).ok


def test_a_manifest_whose_head_differs_from_its_signed_checkpoint_is_refused(pack, jwks_file, tmp_path):
    def other_head(manifest):
        manifest["audit_chain"]["head_seq"] -= 1

    forged = forge(pack, tmp_path / "forged.zip", signature="drop", manifest_edit=other_head)
    result = verify_pack(forged, jwks=json.loads(jwks_file.read_text()), allow_unsigned=True)
    assert not result.ok and any("the signed checkpoint says head" in p for p in result.problems)


# ---------------------------------------------------------------- downloads


def test_a_pack_changed_on_disk_is_not_served(
    auditor, owner, client, api_as, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    path = Path(django_settings.MEDIA_ROOT) / export.file_path
    client.force_login(auditor)
    assert client.get(f"/evidence/evidence-exports/{export.pk}/download/").status_code == 200

    path.write_bytes(path.read_bytes() + b"\0" * 1000)
    page = client.get(f"/evidence/evidence-exports/{export.pk}/download/")
    assert page.status_code == 409 and "changed on disk" in page.content.decode()
    api = api_as(auditor).get(f"/api/v1/evidence-exports/{export.pk}/download/")
    assert api.status_code == 409
    refused = AuditEvent.objects.filter(verb="evidence.download_refused", subject_id=str(export.pk))
    assert refused.count() == 2 and refused.first().before["sha256"] == export.sha256


def test_every_export_signs_a_checkpoint_naming_it(pack):
    assert AuditCheckpoint.objects.filter(reason__startswith="evidence export #").count() == 1
