"""Refuse values that look like secrets: Steward stores metadata and fingerprints only."""

from __future__ import annotations

import math
import re
from collections import Counter

# Well-known token shapes (prefixes of real secret formats).
_KNOWN_SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"ASIA[0-9A-Z]{16}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{30,}"),
    re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"sk-(ant-|proj-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI / Anthropic style
    re.compile(r"AIza[0-9A-Za-z_\-]{35}"),  # Google API key
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{5,}"),  # JWT
    re.compile(r"stw_[A-Za-z0-9_\-]{20,}"),  # our own tokens
    re.compile(r"(?i)(password|secret|token|api[_-]?key)\s*[:=]\s*\S{6,}"),
]
# A fingerprint is fine: SHA256:..., or colon-separated hex pairs.
_FINGERPRINT = re.compile(
    r"^(?:(?:SHA256|SHA1|MD5|sha256|sha1|md5):[A-Za-z0-9+/=:]+|(?:[0-9a-fA-F]{2}:){7,}[0-9a-fA-F]{2})$"
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def looks_like_secret(value: str | None) -> bool:
    if not value:
        return False
    text = value.strip()
    if _FINGERPRINT.match(text):
        return False
    if any(p.search(text) for p in _KNOWN_SECRET_PATTERNS):
        return True
    # Long unbroken high-entropy strings are keys, not labels.
    for word in re.split(r"[\s/,;()]+", text):
        if (
            len(word) >= 32
            and _entropy(word) >= 4.0
            and re.search(r"\d", word)
            and re.search(r"[A-Za-z]", word)
        ):
            return True
    return False


SECRET_MESSAGE = (
    "This looks like a secret value. Steward stores only metadata: give a label or fingerprint "
    "(e.g. 'SHA256:…' or 'ci-deploy-key-2026'), never the secret itself."
)
