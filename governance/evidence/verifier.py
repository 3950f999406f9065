"""Check an evidence pack: each file against the manifest, and the audit chain head against the live log."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field

from governance.audit import GENESIS_HASH, compute_hash
from governance.models import AuditEvent


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    head_seq: int | None = None
    broken_seq: int | None = None

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"Pack verified: {self.files_checked} files match the manifest; "
                f"audit chain intact to #{self.head_seq}."
            )
        return "; ".join(self.problems)


def _file_digest(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_chain(head_seq: int, head_hash: str) -> tuple[int | None, str]:
    """Walk the live chain to head_seq; return (broken seq, why) or (None, "")."""
    prev_hash = GENESIS_HASH
    expected = 1
    events = AuditEvent.objects.filter(seq__lte=head_seq).order_by("seq")
    for event in events.iterator(chunk_size=5000):
        if event.seq != expected:
            return expected, f"audit event {expected} is missing"
        if event.prev_hash != prev_hash:
            return event.seq, f"audit event {event.seq}: previous-hash link does not match"
        if compute_hash(event.hashed_fields()) != event.hash:
            return event.seq, f"audit event {event.seq} was edited: its content does not match its hash"
        prev_hash = event.hash
        expected += 1
    if expected - 1 != head_seq:
        return expected, f"audit chain ends at {expected - 1}, the manifest's head is {head_seq}"
    if prev_hash != head_hash:
        return head_seq, f"audit chain head #{head_seq} does not match the manifest's head hash"
    return None, ""


def verify_pack(source) -> VerifyResult:
    """`source` is a path or a file-like object holding the zip."""
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        return VerifyResult(False, [f"not a readable zip: {exc}"])
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json"))
            files = manifest["files"]
            chain = manifest["audit_chain"]
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            return VerifyResult(False, [f"manifest.json is missing or unreadable: {exc}"])
        result = VerifyResult(True, head_seq=chain.get("head_seq") if isinstance(chain, dict) else None)
        names = set(zf.namelist()) - {"manifest.json"}
        for name in sorted(names - set(files)):
            result.problems.append(f"{name} is not listed in the manifest")
        for name, meta in sorted(files.items()):
            if name not in names:
                result.problems.append(f"{name} is listed in the manifest but missing from the pack")
                continue
            try:
                actual = _file_digest(zf, name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
                result.problems.append(f"{name} is corrupt in the zip")
                continue
            if actual != meta.get("sha256"):
                result.problems.append(f"{name} does not match its SHA-256 in the manifest")
            result.files_checked += 1
    try:
        head_seq, head_hash = int(chain.get("head_seq") or 0), str(chain.get("head_hash") or GENESIS_HASH)
    except (AttributeError, TypeError, ValueError):
        result.problems.append("manifest.json has no readable audit chain head")
        result.ok = False
        return result
    broken, why = check_chain(head_seq, head_hash)
    if broken is not None:
        result.broken_seq = broken
        result.problems.append(why)
    result.ok = not result.problems
    return result
