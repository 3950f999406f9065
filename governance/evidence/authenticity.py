"""Whether a pack is what Steward made: its signature, its row counts, its audit events.

A forger who edits a file and recomputes the manifest's hashes passes a hash check; they cannot make
`manifest.sig` without the evidence key (a file outside the database, governance.signing). Checked
here, all without a database:

- `manifest.sig`: a detached-payload JWS over the exact bytes of manifest.json, by an `evidence-` key
  of the key set, with the evidence `typ`;
- `row_counts` against the rows really in each file;
- `audit_events.jsonl`: every event's hash recomputed, the links between consecutive events, the
  events at `head_seq` and at the period's end carry the stated hashes, and the signed checkpoint in
  the manifest says the same head.

`live_audit_problems` (with the database) compares every line with the live chain.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from governance import safe_json, signing
from governance.audit import compute_hash

SIGNATURE_FILE = "manifest.sig"
AUDIT_FILE = "audit_events.jsonl"
SIGNATURE_MAX_BYTES = 64 * 1024
HASHED_FIELDS = (
    "seq", "at", "actor", "actor_kind", "on_behalf_of", "verb", "subject_type", "subject_id",
    "subject_label", "before", "after", "reason", "request_id", "prev_hash",
)  # fmt: skip


@dataclass
class Authenticity:
    signed: bool = False
    kid: str = ""
    problems: list[str] = field(default_factory=list)


def check_signature(
    manifest_bytes: bytes, signature: bytes | None, jwks: dict[str, Any], *, allow_unsigned: bool
) -> Authenticity:
    result = Authenticity()
    if signature is None:
        if not allow_unsigned:
            result.problems.append(
                "the pack is unsigned (no manifest.sig): nothing proves Steward made it. Packs made before "
                "signing verify only with --allow-unsigned, reported as unsigned"
            )
        return result
    try:
        header = signing.verify_detached(signature.decode("ascii"), manifest_bytes, jwks, "evidence")
    except UnicodeDecodeError:
        result.problems.append("manifest.sig is not a compact JWS")
        return result
    except signing.SignatureInvalid as exc:
        result.problems.append(
            f"manifest.sig does not verify: {exc}; manifest.json is not what Steward signed"
        )
        return result
    result.signed, result.kid = True, header["kid"]
    return result


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Text lines from a member read in chunks (never the whole file in memory)."""
    stream = io.TextIOWrapper(io.BufferedReader(_ChunkReader(chunks)), encoding="utf-8", newline="")
    yield from stream


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def count_rows(pack, name: str) -> int:
    """Rows after the header line of a CSV; lines of a JSONL file."""
    if name.endswith(".jsonl"):
        return sum(1 for line in _lines(pack.chunks(name)) if line.strip())
    rows = sum(1 for _row in csv.reader(_lines(pack.chunks(name))))
    return max(rows - 1, 0)


def row_count_problems(pack, manifest: dict[str, Any]) -> list[str]:
    counts = manifest.get("row_counts")
    if counts is None:
        return []
    if not isinstance(counts, dict):
        return ["manifest.json: 'row_counts' must be an object of file name to a number of rows"]
    problems = []
    files = manifest.get("files", {})
    for name, stated in sorted(counts.items()):
        if name not in files:
            problems.append(f"row_counts names {name!r}, which the manifest does not list")
            continue
        if isinstance(stated, bool) or not isinstance(stated, int):
            problems.append(f"row_counts for {name} is not a whole number")
            continue
        try:
            actual = count_rows(pack, name)
        except (KeyError, ValueError):  # missing (reported elsewhere), corrupt or not UTF-8
            continue
        if actual != stated:
            problems.append(f"{name} holds {actual} rows; the manifest's row_counts says {stated}")
    return problems


def audit_events(pack) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(_lines(pack.chunks(AUDIT_FILE)), start=1):
        if not line.strip():
            continue
        try:
            event = safe_json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{AUDIT_FILE} line {number} is not JSON: {exc}") from None
        if not isinstance(event, dict) or not isinstance(event.get("seq"), int) or "hash" not in event:
            raise ValueError(f"{AUDIT_FILE} line {number} is not an audit event")
        yield event


def event_hash(event: dict[str, Any]) -> str:
    return compute_hash({name: event.get(name) for name in HASHED_FIELDS})


def audit_file_problems(pack, manifest: dict[str, Any], jwks: dict[str, Any] | None) -> list[str]:
    """The audit events in the pack agree with themselves, with the stated heads and the checkpoint."""
    chain = manifest["audit_chain"]
    problems: list[str] = []
    anchors = {chain["head_seq"]: ("the head at export", chain["head_hash"])}
    at_end = chain.get("at_period_end")
    if isinstance(at_end, dict) and isinstance(at_end.get("seq"), int):
        anchors.setdefault(at_end["seq"], ("the head at the period's end", at_end.get("hash")))
    if AUDIT_FILE in manifest.get("files", {}):
        previous: dict[str, Any] | None = None
        try:
            for event in audit_events(pack):
                seq = event["seq"]
                if set(event) - {"hash"} != set(HASHED_FIELDS):
                    problems.append(f"{AUDIT_FILE}: event {seq} does not have exactly the hashed members")
                elif event_hash(event) != event["hash"]:
                    problems.append(f"{AUDIT_FILE}: event {seq} does not match its hash (it was edited)")
                if previous is not None:
                    if seq != previous["seq"] + 1:
                        problems.append(f"{AUDIT_FILE}: event {previous['seq'] + 1} is missing before {seq}")
                    elif event.get("prev_hash") != previous["hash"]:
                        problems.append(f"{AUDIT_FILE}: event {seq} does not link to event {previous['seq']}")
                if seq > chain["head_seq"]:
                    problems.append(
                        f"{AUDIT_FILE}: event {seq} is after the stated head #{chain['head_seq']}"
                    )
                if seq in anchors and anchors[seq][1] != event["hash"]:
                    problems.append(f"{AUDIT_FILE}: event {seq} does not have the hash of {anchors[seq][0]}")
                previous = event
                if len(problems) > 20:
                    problems.append("… and more; stopped counting")
                    break
        except KeyError:
            pass  # listed but missing: reported with the files
        except ValueError as exc:
            problems.append(str(exc))
    problems += _checkpoint_problems(chain, jwks)
    return problems


def _checkpoint_problems(chain: dict[str, Any], jwks: dict[str, Any] | None) -> list[str]:
    """The head at export is signed with the audit-checkpoint key: it must say the same seq and hash."""
    token = chain.get("checkpoint")
    if token is None:
        return []  # a pack from before checkpoints; its manifest signature (if any) still binds the head
    if jwks is None:
        return []
    if not isinstance(token, str):
        return ["manifest.json: audit_chain.checkpoint is not a signed checkpoint"]
    try:
        _header, claims = signing.verify_jwt(token, jwks, "audit-checkpoint")
    except signing.SignatureInvalid as exc:
        return [f"the audit-chain checkpoint in the manifest does not verify: {exc}"]
    if (claims.get("seq"), claims.get("hash")) != (chain["head_seq"], chain["head_hash"]):
        return [
            f"the signed checkpoint says head #{claims.get('seq')} {claims.get('hash')}, the manifest says "
            f"#{chain['head_seq']} {chain['head_hash']}"
        ]
    return []


def live_audit_problems(pack, manifest: dict[str, Any]) -> list[str]:
    """Every event in the pack equals the live event with its seq (needs the database)."""
    from governance.audit_models import AuditEvent

    if AUDIT_FILE not in manifest.get("files", {}):
        return []
    problems: list[str] = []
    batch: list[dict[str, Any]] = []

    def compare(events: list[dict[str, Any]]) -> None:
        live = {e.seq: e for e in AuditEvent.objects.filter(seq__in=[ev["seq"] for ev in events])}
        for event in events:
            row = live.get(event["seq"])
            if row is None:
                problems.append(f"{AUDIT_FILE}: event {event['seq']} is not in the live audit chain")
            elif row.hash != event["hash"]:  # the content hashes to event["hash"]: checked offline
                problems.append(f"{AUDIT_FILE}: event {event['seq']} differs from the live audit chain")

    try:
        for event in audit_events(pack):
            batch.append(event)
            if len(batch) == 500:
                compare(batch)
                batch = []
            if len(problems) > 20:
                problems.append("… and more; stopped counting")
                return problems
        if batch:
            compare(batch)
    except (KeyError, ValueError):
        pass  # reported by the offline checks
    return problems
