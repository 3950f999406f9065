"""Signed checkpoints anchor the audit chain against someone with write access to the database
(issue 18 item 10): each attack below passes the hash chain alone and is caught by the checkpoints."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import jwt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from governance import signing
from governance.audit import compute_hash, verify_chain
from governance.checkpoints import sign_checkpoint, verify_anchored_chain
from governance.jobs.runner import run_job
from governance.models import AuditChainHead, AuditCheckpoint, AuditEvent
from tests.governance.audit_support import raw_sql, verify_fails, verify_passes, write_events


def _move_head_to(seq):
    event = AuditEvent.objects.get(seq=seq)
    raw_sql("UPDATE governance_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [seq, event.hash])


@pytest.fixture
def chain(team):
    """Five events, the head signed after them."""
    write_events(5, team)
    sign_checkpoint("test")
    return team


# ---------------------------------------------------------------- the attacks


@pytest.mark.django_db(transaction=True)
def test_deleting_the_last_events_and_moving_the_head_is_caught_as_truncation(chain):
    raw_sql("DELETE FROM governance_auditevent WHERE seq > 3")
    _move_head_to(3)

    assert verify_chain().ok  # the hash chain alone agrees with itself
    message = verify_fails()
    assert "truncated" in message and "#5" in message and "ends at #3" in message


@pytest.mark.django_db(transaction=True)
def test_editing_an_event_and_rehashing_every_later_one_is_caught_as_rewriting(chain):
    prev_hash = AuditEvent.objects.get(seq=1).hash
    for event in AuditEvent.objects.filter(seq__gte=2).order_by("seq"):
        if event.seq == 2:
            event.actor = "someone-else"
        event.prev_hash = prev_hash
        event.hash = compute_hash(event.hashed_fields())
        raw_sql(
            "UPDATE governance_auditevent SET actor = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [event.actor, event.prev_hash, event.hash, event.seq],
        )
        prev_hash = event.hash
    _move_head_to(5)

    assert verify_chain().ok
    message = verify_fails()
    assert "rewritten" in message and "event #5" in message


@pytest.mark.django_db(transaction=True)
def test_deleting_checkpoints_with_the_tail_is_caught_because_the_newest_left_is_stale(team):
    now = timezone.now()
    write_events(3, team)
    sign_checkpoint("scheduled", now=now - timedelta(hours=3))
    write_events(2, team)
    sign_checkpoint("scheduled", now=now - timedelta(minutes=10))
    call_command("verify_audit_chain")  # intact as it stands

    raw_sql("DELETE FROM governance_auditevent WHERE seq > 3")
    _move_head_to(3)
    raw_sql("DELETE FROM governance_auditcheckpoint WHERE seq > 3")

    assert verify_chain().ok
    message = verify_fails()
    assert "stale" in message and "#3" in message and "older than two intervals (2 h)" in message


@pytest.mark.django_db(transaction=True)
def test_deleting_every_checkpoint_is_caught_once_the_chain_is_older_than_two_intervals(team):
    write_events(2, team)
    sign_checkpoint("scheduled")
    raw_sql("DELETE FROM governance_auditcheckpoint")
    later = timezone.now() + timedelta(hours=3)

    report = verify_anchored_chain(now=later)
    assert not report.ok and "no signed checkpoint" in report.problems[0]


@pytest.mark.django_db(transaction=True)
def test_wiping_chain_and_checkpoints_is_caught_by_the_key_files_age(team):
    write_events(2, team)
    sign_checkpoint("scheduled")
    raw_sql("DELETE FROM governance_auditcheckpoint")
    raw_sql("DELETE FROM governance_auditevent")
    raw_sql("DELETE FROM governance_auditchainhead")

    report = verify_anchored_chain(now=timezone.now() + timedelta(hours=3))
    assert not report.ok and "checkpoint key has existed since" in report.problems[0]


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_row_signed_with_another_key_is_reported_as_not_genuine(chain):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    head = AuditChainHead.objects.get()
    real_kid = AuditCheckpoint.objects.get().kid
    forged = jwt.encode(
        {"iat": int(timezone.now().timestamp()), "seq": head.seq, "hash": head.hash},
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": real_kid, "typ": "steward-audit-checkpoint+jwt"},
    )
    AuditCheckpoint.objects.create(
        seq=head.seq, head_hash=head.hash, signed_at=timezone.now(), kid=real_kid, jws=forged
    )
    assert "is not genuine" in verify_fails()


@pytest.mark.django_db(transaction=True)
def test_an_altered_checkpoint_row_is_reported(chain):
    raw_sql("UPDATE governance_auditcheckpoint SET seq = 2")
    assert "was altered" in verify_fails()


@pytest.mark.django_db(transaction=True)
def test_an_attestation_token_is_not_accepted_as_a_checkpoint(chain):
    """Each purpose has its own key and typ: a token from the web nodes' key is not a checkpoint."""
    head = AuditChainHead.objects.get()
    token = signing.sign_jwt(
        "attestation", {"iat": int(timezone.now().timestamp()), "seq": 9, "hash": head.hash}
    )
    AuditCheckpoint.objects.create(seq=9, head_hash=head.hash, signed_at=timezone.now(), kid="x", jws=token)
    message = verify_fails()
    assert "is not genuine" in message and "typ" in message


# ---------------------------------------------------------------- what still passes


@pytest.mark.django_db
def test_an_anchored_intact_chain_exits_zero_and_says_what_was_checked(chain, capsys):
    out = verify_passes(capsys)
    assert "intact: 5 events" in out and "1 signed checkpoints, newest #5" in out


@pytest.mark.django_db
def test_events_after_the_newest_checkpoint_are_named_but_pass_within_the_interval(chain, capsys):
    write_events(2, chain)
    assert "events #6..#7 came after the newest checkpoint" in verify_passes(capsys)


@pytest.mark.django_db
def test_a_young_chain_without_checkpoints_passes_with_a_note(team, capsys):
    write_events(2, team)
    out = verify_passes(capsys)
    assert "no signed checkpoint yet" in out and "younger than two intervals" in out


@pytest.mark.django_db
def test_the_staleness_limit_follows_the_interval_setting(chain, settings):
    settings.STEWARD_AUDIT_CHECKPOINT_MINUTES = 15
    assert verify_anchored_chain(now=timezone.now() + timedelta(minutes=29)).ok
    report = verify_anchored_chain(now=timezone.now() + timedelta(minutes=31))
    assert not report.ok and "two intervals (30 min)" in report.problems[0]


# ---------------------------------------------------------------- keys and schedule


@pytest.mark.django_db
def test_the_checkpoint_key_is_a_file_of_its_own_published_in_the_jwks(chain, settings):
    path = settings.STEWARD_SIGNING_KEY_DIR / "audit-checkpoint.pem"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    checkpoint = AuditCheckpoint.objects.get()
    header = jwt.get_unverified_header(checkpoint.jws)
    assert header["typ"] == "steward-audit-checkpoint+jwt" and header["alg"] == "EdDSA"
    assert header["kid"].startswith("audit-checkpoint-")
    jwks = Client().get("/.well-known/jwks.json").json()
    _header, claims = signing.verify_jwt(checkpoint.jws, jwks, "audit-checkpoint")
    assert (claims["seq"], claims["hash"]) == (5, AuditChainHead.objects.get().hash)
    assert all("d" not in key for key in jwks["keys"])


@pytest.mark.django_db
def test_checkpoints_signed_before_a_rotation_still_verify(chain, capsys, tmp_path):
    old_kid = AuditCheckpoint.objects.get().kid
    call_command("rotate_signing_key", "audit-checkpoint")
    sign_checkpoint("after rotation")
    assert AuditCheckpoint.objects.exclude(kid=old_kid).count() == 1
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(Client().get("/.well-known/jwks.json").content.decode())
    assert old_kid in jwks_file.read_text()
    call_command("verify_audit_chain", "--jwks", str(jwks_file))
    assert "2 signed checkpoints" in capsys.readouterr().out
    assert AuditEvent.objects.filter(verb="signing_key.rotated").exists()


@pytest.mark.django_db
def test_checkpoints_are_refused_against_a_key_set_without_their_key(chain, tmp_path):
    jwks_file = tmp_path / "other.json"
    jwks_file.write_text(json.dumps({"keys": []}))
    with pytest.raises(CommandError, match="not in the key set"):
        call_command("verify_audit_chain", "--jwks", str(jwks_file))


@pytest.mark.django_db
def test_no_key_is_made_in_a_read_only_folder(team, settings, tmp_path, monkeypatch):
    folder = tmp_path / "provisioned"
    folder.mkdir()
    settings.STEWARD_SIGNING_KEY_DIR = folder
    # A provisioned folder mounted read-only (chmod cannot show it when the tests run as root).
    monkeypatch.setattr(signing.os, "access", lambda path, mode: False)
    with pytest.raises(signing.SigningKeyError, match="provision one"):
        sign_checkpoint("test")
    assert not AuditCheckpoint.objects.exists() and not list(folder.iterdir())


@pytest.mark.django_db
def test_the_scheduled_job_signs_the_head_even_when_it_did_not_move(chain):
    run_job("audit_checkpoint")
    run_job("audit_checkpoint")
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [5, 5, 5]
    task = PeriodicTask.objects.get(name="audit chain checkpoint")
    assert json.loads(task.args) == ["audit_checkpoint"] and task.interval.every == 60
    assert task.interval.period == "minutes"
