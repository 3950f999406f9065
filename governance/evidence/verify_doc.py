"""VERIFY.md inside every pack: how to check it with standard tools alone (issue 19 item 2).

Everything the instructions name is what the builder and the verifier do; the snippets are run by
tests/governance/test_evidence_signing.py, so they cannot drift from the code.
"""

from __future__ import annotations

from governance import links, signing

PYTHON_SNIPPET = r"""
import base64, hashlib, json, sys, zipfile
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

pack, jwks = zipfile.ZipFile(sys.argv[1]), json.load(open(sys.argv[2]))
manifest_bytes = pack.read("manifest.json")
header_b64, empty, signature_b64 = pack.read("manifest.sig").decode().strip().split(".")
header = json.loads(b64d(header_b64))
assert empty == "" and header["typ"] == "steward-evidence-manifest+jose"
assert header["kid"].startswith("evidence-"), "not an evidence key"
jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
signing_input = (header_b64 + "." + b64e(manifest_bytes)).encode()
signature = b64d(signature_b64)
if header["alg"] == "EdDSA" and jwk["kty"] == "OKP":
    ed25519.Ed25519PublicKey.from_public_bytes(b64d(jwk["x"])).verify(signature, signing_input)
elif header["alg"] == "ES256" and jwk["kty"] == "EC":
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
else:
    raise SystemExit("unexpected algorithm")
manifest = json.loads(manifest_bytes)
names = [info.filename for info in pack.infolist()]
assert len(names) == len(set(names)), "duplicate entries in the zip"
for name, meta in manifest["files"].items():
    assert hashlib.sha256(pack.read(name)).hexdigest() == meta["sha256"], name
assert set(names) == set(manifest["files"]) | {"manifest.json", "manifest.sig"}, "unlisted files"
prev = None
for line in pack.read("audit_events.jsonl").decode().splitlines():
    event = json.loads(line)
    stated = event.pop("hash")
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(body.encode()).hexdigest() == stated, event["seq"]
    assert prev is None or event["prev_hash"] == prev, event["seq"]
    prev = stated
print("signature, files and audit chain check out")
""".strip()

POPULATION_SNIPPET = r"""
import csv, hashlib, io, json, sys, zipfile

pack = zipfile.ZipFile(sys.argv[1])
snapshots = {}
for line in pack.read("review_population.jsonl").decode().splitlines():
    row = json.loads(line)
    snapshots.setdefault(row["campaign"], []).append((row["identity"], row["snapshot"]))
campaigns = csv.DictReader(io.StringIO(pack.read("review_campaigns.csv").decode()))
for campaign in campaigns:
    items = sorted(snapshots.get(int(campaign["id"]), []), key=lambda pair: pair[0])
    body = ",".join(
        json.dumps(s, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for _i, s in items
    )
    digest = hashlib.sha256(("[" + body + "]").encode("utf-8")).hexdigest()
    assert len(items) == int(campaign["population_count"]), campaign["id"]
    assert digest == campaign["population_sha256"], campaign["id"]
print("every campaign's population matches its hash")
""".strip()

OPENSSL_SNIPPET = r"""
unzip -o -q PACK.zip -d pack && cd pack
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
unb64url() {
  s=$(tr -- '-_' '+/'); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf %s "$s" | base64 -d
}
H=$(cut -d. -f1 manifest.sig); S=$(cut -d. -f3 manifest.sig | tr -d '\n')
printf %s "$H" | unb64url; echo        # the header: alg, kid, typ
printf '%s.%s' "$H" "$(b64url < manifest.json)" > signing-input.bin
printf %s "$S" | unb64url > signature.bin
X='<the "x" of the key with that kid in jwks.json>'
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; printf %s "$X" | unb64url; } > evidence-pub.der
openssl pkeyutl -verify -pubin -keyform DER -inkey evidence-pub.der -rawin \
  -in signing-input.bin -sigfile signature.bin
sha256sum inventory.csv grants.csv audit_events.jsonl   # ...and compare with manifest.json's "files"
""".strip()


def render_verify_doc(key: signing.SigningKey, chain: dict) -> str:
    jwks_uri = links.absolute(links.link("jwks"))
    typ = signing.PURPOSES["evidence"].typ
    checkpoint_typ = signing.PURPOSES["audit-checkpoint"].typ
    openssl = (
        OPENSSL_SNIPPET
        if key.algorithm == signing.EDDSA
        else "(This pack is signed with ES256: use the Python check below; openssl needs the signature "
        "converted from the JWS's raw r||s to DER first.)"
    )
    return f"""# Verifying this evidence pack

Steward signed this pack. The checks below need no Steward and no database: only this zip and
Steward's public keys (`{jwks_uri}`, a JSON Web Key Set; save it as `jwks.json`).

## 1. What is signed

`manifest.sig` is a JWS in compact serialization with a **detached payload** (RFC 7515, appendix F):
`BASE64URL(header) . (empty) . BASE64URL(signature)`. The payload is the **exact bytes of
`manifest.json`** as stored in the zip. The signature is over the ASCII string
`BASE64URL(header) + "." + BASE64URL(manifest.json bytes)` (base64url without padding).

The header of this pack's signature:

```json
{{"alg": "{key.algorithm}", "kid": "{key.kid}", "typ": "{typ}"}}
```

Accept it only with a key whose `kid` starts with `evidence-` (Steward's keys are one per purpose:
`attestation-…` and `audit-checkpoint-…` keys never sign packs) and only with `typ` `{typ}`.
Keys retired by rotation stay in the key set, so old packs keep verifying.

## 2. Then every file

`manifest.json` lists every other file with its SHA-256 and byte size (`files`) and how many rows it
holds (`row_counts`: CSV rows after the header line; JSON lines in `.jsonl`). The zip holds exactly
those files plus `manifest.json` and `manifest.sig`, each once (a duplicate entry name is an error).

## 3. With Steward's command

```sh
python manage.py verify_evidence PACK.zip --jwks {jwks_uri}   # no database needed
python manage.py verify_evidence PACK.zip                       # on Steward: also against the live chain
```

## 4. With openssl 3 and GNU coreutils (EdDSA / Ed25519 packs)

```bash
{openssl}
```

`openssl pkeyutl` prints `Signature Verified Successfully`. The 12 bytes written before the key are
the fixed DER prefix of an Ed25519 public key (RFC 8410).

## 5. With Python (the `cryptography` package)

Save as `check_pack.py` and run `python check_pack.py PACK.zip jwks.json`:

```python
{PYTHON_SNIPPET}
```

## 6. How the audit-chain hashes are computed

Each line of `audit_events.jsonl` is one audit event. Its `hash` is the lowercase hex SHA-256 of the
UTF-8 bytes of the event **without its `hash` member**, serialized as JSON with keys sorted, no
whitespace (`","` and `":"` as separators) and non-ASCII characters kept as they are (not `\\u`
escaped). The members are `seq`, `at` (ISO 8601), `actor`, `actor_kind`, `on_behalf_of`, `verb`,
`subject_type`, `subject_id`, `subject_label`, `before`, `after`, `reason`, `request_id` and
`prev_hash`: the `hash` of the event with the previous `seq` (64 zeros for event 1). So each event
commits to every event before it.

`manifest.json`'s `audit_chain` states:

- `head_seq`, `head_hash`: the chain's head when the pack was made; `checkpoint` is that head signed
  with Steward's **audit-checkpoint** key (a JWT, header `typ` `{checkpoint_typ}`, claims `seq`,
  `hash`, `iat`), verifiable with the same key set;
- `at_period_end`: the last event before the period ended (`seq`, `hash`) and the newest checkpoint
  Steward had signed before then (`checkpoint`, or null), so a period with no events still binds to
  the chain.

The events in the file are those of the period; an event whose `seq` equals `head_seq` (or
`at_period_end.seq`) must carry that hash. Steward's `verify_evidence` without `--jwks` also compares
every line with the live chain and checks the live chain up to `head_seq`.

## 7. How the population is reconstructed

`inventory.csv`, `grants.csv` and `credentials.csv` describe the estate **as at the period's end**
(`as_at` in inventory.csv), not as at export. Steward keeps no history tables; it keeps the audit log,
and every change to an identity's status, owner, backup owner, team, risk tier and other recorded
fields is an event carrying the values before and after. The values at the period's end are today's
values with every later change undone: the events on the identity at or after the period's end, newest
first, each putting its `before` back. A credential's label, expiry and last rotation replay the same
way from `credential.rotated` events. `suspended_at` and `decommissioned_at` are the times of the last
`identity.suspended` / `identity.decommissioned` events before the period's end; `status_now` is
today's status, for comparison.

Times recorded without an event are cut at the period's end: a grant that ended later was still in
force (`in_force_at_period_end`, its `ended_at` empty); a credential revoked later was live
(`live_at_period_end`); `last_used_at` is the last usage before the end; `approved_at` is empty when
the approval came later; `next_review_due` is empty when the identity was reviewed after the end.
Events from the period itself are in `audit_events.jsonl`, so a change during the period can be
checked against the rows.

## 8. How a review campaign's population hash is computed

`review_population.jsonl` holds, for every campaign in `review_campaigns.csv`, one line per item
frozen at launch: `{{"campaign": id, "identity": id, "snapshot": {{...}}}}`. A campaign's
`population_sha256` is the SHA-256 of the UTF-8 bytes of `[` + the snapshots, each serialized as JSON
with keys sorted, no whitespace and non-ASCII kept (as for the audit chain), joined by `,`, in
identity-id order + `]`; `population_count` is their number. In Python:

```python
{POPULATION_SNIPPET}
```

## 9. What threat_profiles.csv holds

One row per AI identity (assistants, agents, IDE plugins, MCP servers; decommissioned ones left out)
and agentic threat that applies to it, **as at export** like `status_now`: the OWASP Agentic Top 10
(2026) threat, the CSA MAESTRO (2025) layers it lives in, why it applies, the controls in place and the
gaps (`controlled` is `no` when there is a gap). Controls that are Cedar answers were asked of the
policy version in `cedar_policy_version`, with just-in-time grants left out and nothing recorded;
`threat_catalogue` is the catalogue version the governance policy names. The identity page's Threats
tab and the `agent_threat_uncontrolled` findings are computed by the same function, so an identity
with `controlled` = `no` on an active identity has an open finding of that rule in `findings.csv`
(unless an exception suppresses it).
"""
