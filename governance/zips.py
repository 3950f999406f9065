"""Reading zip files from outside with limits: every zip Steward reads goes through `open_zip`.

A 261 KB upload expanding to 256 MiB grew the web process by about 500 MB, and a 2 GiB member took
10 s of CPU. So before a byte is inflated, the declared sizes are checked (total, per member, the
ratio to the compressed size, the number of members), and then every member is read through a
stream that counts what it really yields: declared sizes are the attacker's to write, so a member
that inflates past what it declared is refused at that byte, whatever its header says.

A zip with two members of the same name is refused too: readers disagree about which one counts
(zipfile takes the last, other tools the first), so a verifier could check one and a person open
the other.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = MiB
# What zipfile raises for damaged data besides BadZipFile (NotImplementedError: an unknown method).
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, struct.error)


class ZipRefused(ValueError):
    """The zip is unreadable, or breaks a limit; the message says which, for a person to read."""


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int
    max_member_bytes: int
    max_members: int = 1_000
    # Deflate reaches about 1,000:1 on a bomb; Steward's own CSV and JSONL packs compress 2-10:1.
    max_ratio: int = 100
    # Tiny members compress oddly well (a 2 KB run of spaces), and cannot hurt: no ratio below this.
    ratio_applies_above: int = MiB


def _source_file(source: Any) -> tuple[IO[bytes], bool]:
    if isinstance(source, (str, Path)):
        return open(source, "rb"), True
    return source, False


def _declared_members(fp: IO[bytes]) -> int | None:
    """The member count from the end-of-central-directory record, before zipfile parses every entry
    (a 512 MiB upload can hold millions of empty members: seconds of CPU and gigabytes to list)."""
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:  # a Python without the helper: the count is checked after parsing
        return None
    try:
        record = end_record(fp)
    except _DAMAGE:
        return None
    finally:
        fp.seek(0)
    return None if record is None else record[zipfile._ECD_ENTRIES_TOTAL]


def _check_declared(zf: zipfile.ZipFile, limits: ZipLimits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ZipRefused(f"the zip holds {len(infos):,} files; at most {limits.max_members:,} are read")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            raise ZipRefused(f"the zip holds two files named {name!r}; each name may appear once")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ZipRefused(f"{name} is encrypted; Steward reads only unencrypted zips")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ZipRefused(
                f"{name} uses a compression method Steward does not read (stored or deflate only)"
            )
        if info.file_size > limits.max_member_bytes:
            raise ZipRefused(
                f"{name} unpacks to {info.file_size:,} bytes; at most {limits.max_member_bytes:,} are read"
            )
        if info.file_size > limits.ratio_applies_above and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise ZipRefused(
                f"{name} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                f"(more than {limits.max_ratio}:1): refused as a zip bomb"
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ZipRefused(f"the zip unpacks to more than {limits.max_total_bytes:,} bytes; refused")


class LimitedZip:
    """An open zip whose declared sizes passed the limits; members are read only through the stream."""

    def __init__(self, zf: zipfile.ZipFile, owned: IO[bytes] | None):
        self._zf = zf
        self._owned = owned

    def __enter__(self) -> LimitedZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zf.close()
        if self._owned is not None:
            self._owned.close()

    def namelist(self) -> list[str]:
        return self._zf.namelist()

    def chunks(self, name: str, max_bytes: int | None = None) -> Iterator[bytes]:
        """The member's bytes in chunks; ZipRefused as soon as it yields more than it declared (or
        than `max_bytes`), and for damaged data. KeyError when there is no such member."""
        info = self._zf.getinfo(name)
        if max_bytes is not None and info.file_size > max_bytes:
            raise ZipRefused(f"{name} unpacks to {info.file_size:,} bytes; at most {max_bytes:,} are read")
        limit = info.file_size
        produced = 0
        try:
            with self._zf.open(info) as member:
                while chunk := member.read(CHUNK):
                    produced += len(chunk)
                    if produced > limit:
                        raise ZipRefused(f"{name} unpacks to more than the {limit:,} bytes it declares")
                    yield chunk
        except ZipRefused:
            raise
        except (*_DAMAGE, RuntimeError) as exc:  # RuntimeError: zipfile's "encrypted, password required"
            raise ZipRefused(f"{name} is corrupt in the zip ({exc})") from None

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        buffer = io.BytesIO()
        for chunk in self.chunks(name, max_bytes):
            buffer.write(chunk)
        return buffer.getvalue()


def open_zip(source: Any, limits: ZipLimits) -> LimitedZip:
    """Open `source` (a path or a seekable binary file) and check its declared sizes against `limits`.

    Raises ZipRefused with a reason a person can act on; nothing has been inflated by then."""
    try:
        fp, owned = _source_file(source)
    except OSError as exc:
        raise ZipRefused(f"cannot open it: {exc.strerror or exc}") from None
    try:
        declared = _declared_members(fp)
        if declared is not None and declared > limits.max_members:
            raise ZipRefused(f"the zip holds {declared:,} files; at most {limits.max_members:,} are read")
        try:
            zf = zipfile.ZipFile(fp)
        except _DAMAGE as exc:
            raise ZipRefused(f"not a readable zip: {exc}") from None
        try:
            _check_declared(zf, limits)
        except ZipRefused:
            zf.close()
            raise
    except BaseException:
        if owned:
            fp.close()
        raise
    return LimitedZip(zf, fp if owned else None)
