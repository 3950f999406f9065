"""Check an evidence pack: each file against the manifest, and the audit chain head against the live log."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from governance import safe_json, signing
from governance.audit import GENESIS_HASH, compute_hash
from governance.evidence import authenticity
from governance.ids import MAX_ID
from governance.models import AuditEvent
from governance.zips import GiB, LimitedZip, MiB, ZipLimits, ZipRefused, open_zip

# Steward's packs hold a dozen files; at estate scale (100,000 identities, a million audit events a
# year) a 90-day pack unpacks to a few hundred MB, so 2 GiB leaves room and stops a bomb's growth.
PACK_LIMITS = ZipLimits(max_total_bytes=2 * GiB, max_member_bytes=2 * GiB, max_members=100)
# The manifest lists files, digests and counts: kilobytes. It is parsed in memory, so it is capped.
MANIFEST_MAX_BYTES = 16 * MiB
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    head_seq: int | None = None
    broken_seq: int | None = None
    signed: bool = False
    kid: str = ""
    live_chain_checked: bool = True

    @property
    def message(self) -> str:
        if self.ok:
            signature = (
                f"signed by {self.kid}"
                if self.signed
                else "UNSIGNED (no manifest.sig: nothing proves who made it)"
            )
            chain = (
                f"audit chain intact to #{self.head_seq}"
                if self.live_chain_checked
                else f"audit events consistent with the signed head #{self.head_seq} (live chain not checked)"
            )
            return f"Pack verified, {signature}: {self.files_checked} files match the manifest; {chain}."
        return "; ".join(self.problems)


def _file_digest(pack: LimitedZip, name: str) -> str:
    digest = hashlib.sha256()
    for chunk in pack.chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def _shown(name: Any) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def manifest_problem(manifest: Any) -> str | None:
    """Why the manifest's shape cannot be used, or None. Checked before anything in it is used."""
    if not isinstance(manifest, dict):
        return "manifest.json is not a JSON object"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "manifest.json: 'files' must be an object mapping each file name to its sha256"
    for name, meta in files.items():
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            return f"manifest.json: the entry for {_shown(name)} must be an object with its sha256"
        if not SHA256.fullmatch(meta["sha256"]):
            return f"manifest.json: the sha256 of {_shown(name)} is not 64 hexadecimal digits"
    chain = manifest.get("audit_chain")
    if not isinstance(chain, dict):
        return "manifest.json: 'audit_chain' must be an object with head_seq and head_hash"
    head_seq = chain.get("head_seq")
    if isinstance(head_seq, bool) or not isinstance(head_seq, int) or not 0 <= head_seq <= MAX_ID:
        return f"manifest.json: audit_chain.head_seq must be a whole number from 0 to {MAX_ID}"
    if not isinstance(chain.get("head_hash"), str) or not SHA256.fullmatch(chain["head_hash"]):
        return "manifest.json: audit_chain.head_hash must be 64 hexadecimal digits"
    return None


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


def verify_pack(source, *, jwks: dict | None = None, allow_unsigned: bool = False) -> VerifyResult:
    """`source` is a path or a file-like object holding the zip. Never raises for a bad pack: every
    reason it does not verify is in the result's problems.

    With `jwks` (a key set) nothing touches the database: the signature, files, row counts and the
    pack's own audit events are checked. Without it the keys are Steward's key files and the pack's
    audit events are also compared with the live chain. An unsigned pack fails unless
    `allow_unsigned` (packs made before signing), and is then reported as unsigned."""
    database = jwks is None
    try:
        pack = open_zip(source, PACK_LIMITS)
    except ZipRefused as exc:
        return VerifyResult(False, [f"not a pack Steward reads: {exc}"])
    with pack:
        try:
            manifest_bytes = pack.read("manifest.json", max_bytes=MANIFEST_MAX_BYTES)
            manifest = safe_json.loads(manifest_bytes)
        except KeyError:
            return VerifyResult(False, ["manifest.json is missing from the pack"])
        except ValueError as exc:  # ZipRefused, JSON too deep or out of range, not JSON, not UTF-8
            return VerifyResult(False, [f"manifest.json is unreadable: {exc}"])
        if problem := manifest_problem(manifest):
            return VerifyResult(False, [problem])
        files, chain = manifest["files"], manifest["audit_chain"]
        result = VerifyResult(True, head_seq=chain["head_seq"], live_chain_checked=database)
        names = set(pack.namelist()) - {"manifest.json", authenticity.SIGNATURE_FILE}
        for name in sorted(names - set(files)):
            result.problems.append(f"{name} is not listed in the manifest")
        for name, meta in sorted(files.items()):
            if name not in names:
                result.problems.append(f"{_shown(name)} is listed in the manifest but missing from the pack")
                continue
            try:
                actual = _file_digest(pack, name)
            except ZipRefused as exc:
                result.problems.append(str(exc))
                continue
            if actual != meta["sha256"]:
                result.problems.append(f"{name} does not match its SHA-256 in the manifest")
            result.files_checked += 1
        _check_authenticity(pack, manifest_bytes, manifest, result, jwks, allow_unsigned)
    if database:
        broken, why = check_chain(chain["head_seq"], chain["head_hash"])
        if broken is not None:
            result.broken_seq = broken
            result.problems.append(why)
    result.ok = not result.problems
    return result


def _check_authenticity(pack, manifest_bytes, manifest, result, jwks, allow_unsigned) -> None:
    """The signature, row counts and the pack's audit events (governance.evidence.authenticity)."""
    keys = jwks if jwks is not None else signing.local_jwks()
    try:
        signature = (
            pack.read(authenticity.SIGNATURE_FILE, max_bytes=authenticity.SIGNATURE_MAX_BYTES)
            if authenticity.SIGNATURE_FILE in pack.namelist()
            else None
        )
    except ZipRefused as exc:
        result.problems.append(str(exc))
        return
    signed = authenticity.check_signature(manifest_bytes, signature, keys, allow_unsigned=allow_unsigned)
    result.signed, result.kid = signed.signed, signed.kid
    result.problems += signed.problems
    result.problems += authenticity.row_count_problems(pack, manifest)
    result.problems += authenticity.audit_file_problems(pack, manifest, keys)
    if jwks is None:
        result.problems += authenticity.live_audit_problems(pack, manifest)
