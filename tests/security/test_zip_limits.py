"""Zip bombs and odd zips (issue 18, item 9): a 261 KB upload expanding to 256 MiB grew the web process
by about 500 MB, and a 2 GiB member took 10 s of CPU. Every zip Steward reads (today: evidence packs,
in /evidence/verify/ and `verify_evidence`) goes through governance.zips: declared sizes, ratios and
member counts are checked before anything is inflated, members are read through a bounded stream,
and a name that appears twice is refused. Each refusal comes in well under a second, with a reason.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import time
import tracemalloc
import warnings
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.audit import GENESIS_HASH
from governance.evidence.verifier import PACK_LIMITS, verify_pack
from governance.zips import MiB, ZipLimits, ZipRefused, open_zip

pytestmark = pytest.mark.django_db

CENTRAL = b"PK\x01\x02"
FAST = 1.0  # seconds: "well under a second" on a loaded CI machine too


def _manifest(files: dict[str, bytes]) -> str:
    listed = {name: {"sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    return json.dumps({"files": listed, "audit_chain": {"head_seq": 0, "head_hash": GENESIS_HASH}})


@functools.cache
def bomb(size: int = 256 * MiB, member: str = "audit_events.jsonl") -> bytes:
    """The reported shape: about 261 KB of deflate that inflates to 256 MiB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        # Listed with some digest, so that a verifier that got past the sizes would read it.
        zf.writestr("manifest.json", _manifest({member: b"?"}))
        with zf.open(member, "w", force_zip64=True) as out:
            zero = bytes(MiB)
            for _ in range(size // MiB):
                out.write(zero)
    return buffer.getvalue()


def _patch_central(data: bytes, member: str, **fields: int) -> bytes:
    """Rewrite fields of `member`'s central directory entry (what zipfile believes about it)."""
    offsets = {"flags": (8, "<H"), "method": (10, "<H"), "compressed": (20, "<L"), "size": (24, "<L")}
    patched = bytearray(data)
    start = 0
    while (start := patched.find(CENTRAL, start)) != -1:
        (name_length,) = struct.unpack_from("<H", patched, start + 28)
        if patched[start + 46 : start + 46 + name_length] == member.encode():
            for field, value in fields.items():
                offset, fmt = offsets[field]
                struct.pack_into(fmt, patched, start + offset, value)
            return bytes(patched)
        start += 4
    raise AssertionError(f"{member} not in the central directory")


def _small_pack(**extra: bytes) -> bytes:
    files = {"a.txt": b"name\nbot\n", **extra}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("manifest.json", _manifest(files))
    return buffer.getvalue()


def _refused_fast(pack: bytes, tmp_path, reason: str) -> None:
    path = tmp_path / "pack.zip"
    path.write_bytes(pack)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = verify_pack(path)
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not result.ok
    assert reason in result.message, result.message
    assert elapsed < FAST, f"took {elapsed:.2f}s"
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB"


# ---------------------------------------------------------------- bombs


def test_the_reported_bomb_is_small_and_inflates_to_256_mib():
    data = bomb()
    assert len(data) < 300 * 1024
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.getinfo("audit_events.jsonl").file_size == 256 * MiB


def test_a_256_mib_bomb_is_refused_by_its_ratio_before_anything_is_inflated(tmp_path):
    _refused_fast(bomb(), tmp_path, "refused as a zip bomb")


def test_a_bomb_whose_central_directory_lies_about_its_size_is_not_inflated_past_the_lie(tmp_path):
    """Declared sizes are the attacker's to write: the stream stops at what the member declared."""
    liar = _patch_central(bomb(), "audit_events.jsonl", size=1000)
    _refused_fast(liar, tmp_path, "audit_events.jsonl is corrupt in the zip")


def test_a_bomb_as_the_manifest_itself_is_refused(tmp_path):
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("manifest.json", "w", force_zip64=True) as out,
    ):
        for _ in range(64):
            out.write(b" " * MiB)
    _refused_fast(buffer.getvalue(), tmp_path, "refused as a zip bomb")
    liar = _patch_central(buffer.getvalue(), "manifest.json", size=2000)
    _refused_fast(liar, tmp_path, "manifest.json is unreadable")


def test_a_2_gib_member_is_refused_from_its_declared_size_in_well_under_a_second(tmp_path):
    small = bomb(4 * MiB, "inventory.csv")
    compressed = zipfile.ZipFile(io.BytesIO(small)).getinfo("inventory.csv").compress_size
    two_gib = _patch_central(small, "inventory.csv", size=2 * 1024 * MiB)
    _refused_fast(two_gib, tmp_path, "refused as a zip bomb")
    # Declared honestly compressed (a ratio of 1:1) it is still over the total a pack may unpack to.
    over_total = _patch_central(small, "inventory.csv", size=2 * 1024 * MiB + 1, compressed=2 * 1024 * MiB)
    _refused_fast(over_total, tmp_path, "unpacks to 2,147,483,649 bytes")
    assert compressed < 10 * 1024


def test_the_browser_upload_of_the_bomb_says_why_in_well_under_a_second(client, auditor):
    client.force_login(auditor)
    upload = bomb()
    assert client.get("/evidence/verify/").status_code == 200  # the page itself, once, outside the timing
    started = time.perf_counter()
    response = client.post("/evidence/verify/", {"pack": io.BytesIO(upload)})
    assert time.perf_counter() - started < FAST
    assert response.status_code == 200
    assert "refused as a zip bomb" in response.content.decode()


def test_verify_evidence_exits_1_on_the_bomb(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(bomb())
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence", str(path))
    assert failure.value.returncode == 1 and "zip bomb" in str(failure.value)


# ---------------------------------------------------------------- odd zips


def test_a_duplicate_member_name_is_an_error(tmp_path):
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name" and writes it
        zf.writestr("a.txt", b"what the verifier would check")
        zf.writestr("a.txt", b"what a person would open")
        zf.writestr("manifest.json", _manifest({"a.txt": b"what a person would open"}))
    _refused_fast(pack.getvalue(), tmp_path, "two files named 'a.txt'")


def test_too_many_members_are_refused_before_the_directory_is_parsed(tmp_path):
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as zf:
        for n in range(PACK_LIMITS.max_members + 1):
            zf.writestr(f"f{n}", b"")
    _refused_fast(pack.getvalue(), tmp_path, f"the zip holds {PACK_LIMITS.max_members + 1:,} files")


def test_an_encrypted_member_is_refused(tmp_path):
    _refused_fast(_patch_central(_small_pack(), "a.txt", flags=0x1), tmp_path, "a.txt is encrypted")


def test_an_unknown_compression_method_is_refused(tmp_path):
    _refused_fast(_patch_central(_small_pack(), "a.txt", method=99), tmp_path, "uses a compression method")


def test_a_pack_within_the_limits_still_verifies(tmp_path):
    path = tmp_path / "pack.zip"
    rows = b"".join(
        b"%d,bot-%d,platform,2026-01-%02dT10:00:00Z,active\n" % (n, n, n % 28 + 1) for n in range(100_000)
    )
    assert len(rows) > 4 * MiB
    path.write_bytes(_small_pack(**{"inventory.csv": rows}))
    result = verify_pack(path, allow_unsigned=True)  # signing is another test's subject
    assert result.ok, result.problems


# ---------------------------------------------------------------- the helper


def test_open_zip_checks_the_total_and_read_caps_a_member():
    limits = ZipLimits(max_total_bytes=10, max_member_bytes=10, max_members=5)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("a", b"12345678")
        zf.writestr("b", b"12345678")
    with pytest.raises(ZipRefused, match="unpacks to more than 10 bytes"):
        open_zip(io.BytesIO(data.getvalue()), limits)
    roomy = ZipLimits(max_total_bytes=100, max_member_bytes=100)
    with open_zip(io.BytesIO(data.getvalue()), roomy) as pack:
        assert pack.read("a") == b"12345678"
        with pytest.raises(ZipRefused, match="at most 4 are read"):
            pack.read("b", max_bytes=4)
        with pytest.raises(KeyError):
            pack.read("c")
