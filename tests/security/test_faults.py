"""Faults: the database dropping mid-sweep, the broker down at approval time, a worker killed in the
middle of an evidence export, and two people editing one identity at once.

Each test breaks the real thing (a terminated database session, a broker on a closed port, a
SIGKILLed process, two threads released together) and checks what a user relies on afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.utils import timezone

from approvals import notifications
from approvals.models import ApprovalRequest, Notification
from approvals.services import intake as intake_services
from governance import tasks
from governance.evidence import builder
from governance.evidence.models import EvidenceExport
from governance.evidence.services import default_period, request_export
from governance.evidence.verifier import verify_pack
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.jobs.models import JobRun
from governance.jobs.runner import run_job
from governance.models import AuditEvent
from governance.people.models import Role
from inventory.models import Identity
from tests.approvals.conftest import answers
from tests.factories import CredentialFactory, IdentityFactory, UserFactory
from tests.governance.evidence_support import post_export, small_estate
from tests.governance.test_celery_worker import _database_url_for_worker
from tests.races import race

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


# ---------------------------------------------------------------- database dropped during a sweep


def _drop_connection() -> None:
    """Lose the database session for real: PostgreSQL terminates it from another session; SQLite
    (no server to lose) has its file handle closed under Django."""
    if connection.vendor == "postgresql":
        pid = connection.connection.info.backend_pid
        killer = connections.create_connection("default")
        try:
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            killer.close()
        return
    connection.connection.close()
    raise OperationalError("database connection lost (simulated: the SQLite file handle was closed)")


def _findings_state() -> list[tuple]:
    return sorted(
        Finding.objects.values_list("rule", "identity__name", "status", "severity", "evidence").order_by()
    )


@pytest.fixture
def sweep_estate(owner):
    IdentityFactory(owner=owner, name="crossing-bot", environments=["prod", "dev"])
    IdentityFactory(owner=None, team=owner.team, name="orphan-bot")
    keyed = IdentityFactory(owner=owner, name="keyed-bot")
    CredentialFactory(identity=keyed, expires_at=None, issued_at=timezone.now() - timedelta(days=800))
    IdentityFactory(owner=owner, name="idle-bot", last_used_at=timezone.now() - timedelta(days=400))


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_mid_sweep_is_retried_and_leaves_what_a_clean_run_leaves(sweep_estate):
    # The clean run, rolled back: what the sweep should leave behind.
    with transaction.atomic():
        run_sweep()
        clean = _findings_state()
        clean_events = AuditEvent.objects.filter(verb="finding.opened").count()
        transaction.set_rollback(True)
    assert len({rule for rule, *_ in clean}) >= 3 and Finding.objects.count() == 0

    dropped = []

    def drop_once(execute, sql, params, many, context):
        # Mid-sweep: the rules ran and the lock is held; the first write of findings loses the session.
        if not dropped and sql.lstrip().upper().startswith("INSERT") and Finding._meta.db_table in sql:
            dropped.append(sql)
            _drop_connection()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop_once):
        result = tasks.sweep.apply().get()  # autoretry_for OperationalError/InterfaceError

    assert dropped, "the fault was never injected"
    assert result["ok"] is True
    failed, succeeded = JobRun.objects.filter(name="sweep").order_by("pk")
    assert failed.ok is False and failed.error.split(":")[0] in {"OperationalError", "InterfaceError"}
    assert succeeded.ok is True and succeeded.trigger == "celery"
    # Nothing of the interrupted attempt survived, nothing is missing or doubled.
    assert _findings_state() == clean
    assert AuditEvent.objects.filter(verb="finding.opened").count() == clean_events == len(clean)
    # And a further run changes nothing.
    assert tasks.sweep.apply().get()["summary"]["opened"] == 0
    assert _findings_state() == clean


def test_the_sweep_task_is_the_one_that_retries_on_a_lost_connection():
    assert {OperationalError, InterfaceError} <= set(tasks.sweep.autoretry_for)
    assert tasks.sweep.max_retries >= 3 and tasks.sweep.acks_late


# ---------------------------------------------------------------- broker down at approval time


@pytest.fixture
def broker_down(settings, monkeypatch):
    """A real broker URL on a closed port, no eager shortcut: publishing raises as in production."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = CLOSED_PORT_BROKER
    # The app reads Django's settings live, unless something pinned a key in its own conf: pin
    # both here, and unpin them on recovery so the settings speak again.
    app.conf.changes.update(task_always_eager=False, broker_url=CLOSED_PORT_BROKER)
    monkeypatch.setattr(notifications, "_broker_down_until", 0.0)
    # Connection pools are made once per app; start without them, and put the normal ones back after.
    saved = app._pool, app.amqp._producer_pool
    app._pool = app.amqp._producer_pool = None

    def recover():
        settings.CELERY_TASK_ALWAYS_EAGER = True
        app.conf.changes.pop("task_always_eager", None)
        app.conf.changes.pop("broker_url", None)
        monkeypatch.setattr(notifications, "_broker_down_until", 0.0)
        app._pool, app.amqp._producer_pool = saved

    yield recover
    recover()


@pytest.mark.django_db
def test_broker_down_the_approval_is_saved_and_the_mail_goes_once_from_the_outbox_after_recovery(
    owner, iam, api_as, broker_down, django_capture_on_commit_callbacks
):
    intake = intake_services.submit(owner, intake_services.create_draft(owner, answers("medium")))
    Notification.objects.all().delete()  # the submission's own notices are not under test
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(iam).post(
            f"/api/v1/intake-requests/{intake.pk}/approve/", {"comment": "fine"}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"
    request = ApprovalRequest.objects.get(object_id=intake.pk, kind="intake")
    assert request.state == ApprovalRequest.State.APPROVED
    assert Identity.objects.get(name=intake.name).status == Identity.Status.ACTIVE
    assert AuditEvent.objects.filter(verb__startswith="approval.").exists()
    # The refusal was noticed (and logged): the process holds off the broker for a while.
    assert notifications._broker_down_until > 0
    assert mail.outbox == []
    waiting = Notification.objects.get()
    assert waiting.state == Notification.State.PENDING and waiting.event == "approval.approved"

    broker_down()  # the broker is back: beat's entry runs the outbox job on a worker
    first = tasks.run_registered_job.apply(args=["notifications"]).get()
    assert first["summary"]["sent"] == 1
    assert [m.to for m in mail.outbox] == [["owner@example.com"]]
    assert "approved" in mail.outbox[0].subject
    waiting.refresh_from_db()
    assert waiting.state == Notification.State.SENT and waiting.sent_at

    # A second beat tick and a late redelivered task both find it sent: still exactly one mail.
    assert tasks.run_registered_job.apply(args=["notifications"]).get()["summary"]["sent"] == 0
    from approvals.tasks import deliver_notification

    assert deliver_notification.apply(args=[waiting.pk]).get() is False
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_change_that_rolls_back_leaves_nothing_in_the_outbox(owner, iam):
    intake = intake_services.submit(owner, intake_services.create_draft(owner, answers("medium")))
    before = Notification.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        intake_services.approve(iam, intake, comment="ok")
        raise RuntimeError("rolled back")
    assert Notification.objects.count() == before


@pytest.mark.django_db
def test_a_mail_server_down_keeps_the_notification_and_retries_only_what_failed(
    owner, iam, settings, django_capture_on_commit_callbacks
):
    sent_by_webhook = []

    class Recorder(notifications.Channel):
        name = "recorder"

        def send(self, event, recipients, subject, body, url):
            sent_by_webhook.append(event)

    recorder = Recorder()
    notifications.register_channel(recorder)
    settings.EMAIL_BACKEND = "tests.security.test_faults.RefusingEmailBackend"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            intake_services.submit(owner, intake_services.create_draft(owner, answers("medium")))
        row = Notification.objects.get(event="approval.step_opened")
        assert row.state == Notification.State.PENDING and "ConnectionRefusedError" in row.last_error
        assert row.channels_done == ["recorder"] and len(mail.outbox) == 0

        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        assert run_job("notifications").summary["sent"] == 1
        assert [m.to for m in mail.outbox] == [["iam@example.com"]]
        assert sent_by_webhook == ["approval.step_opened"]  # not repeated by the retry
    finally:
        notifications._extra_channels.remove(recorder)  # the app's own (Slack) stay


class RefusingEmailBackend:
    """An SMTP server that is down."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server unreachable")


# ---------------------------------------------------------------- worker killed mid-export

KILLABLE_BUILD = r"""
import os, sys, time
import django

django.setup()
from django.conf import settings

settings.MEDIA_ROOT = sys.argv[2]
from governance.evidence import builder


def stall(self, name, records):
    # The CSV sections are in the .part file; the worker dies here, as under the OOM killer.
    self.zf.fp.flush()
    print("PARTIAL", flush=True)
    time.sleep(120)


builder.PackWriter.jsonl = stall
builder.build_pack(int(sys.argv[1]))
print("FINISHED", flush=True)
"""


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _kill_mid_build(export: EvidenceExport, media: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "STEWARD_VAR_DIR": str(tmp_path / "var"),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_BUILD, str(export.pk), str(media)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        timer = threading.Timer(90, worker.kill)
        timer.start()
        for line in worker.stdout:
            if "PARTIAL" in line:
                break
        timer.cancel()
        assert "PARTIAL" in line, f"the build never started: {line}"
        assert builder.partial_files(export), "nothing was half-written before the kill"
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=20) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _request(user) -> EvidenceExport:
    start, end = default_period()
    return request_export(user, start.isoformat(), end.isoformat())


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_export_leaves_no_ready_pack_and_the_scheduled_job_rebuilds_it(
    auditor, owner, media, tmp_path, api_as, monkeypatch
):
    from governance.evidence import services

    small_estate(owner)
    # The message goes to the worker the test kills, not to the eager in-process one.
    monkeypatch.setattr(services, "_enqueue", lambda export_id: None)
    export = _request(auditor)
    _kill_mid_build(export, media, tmp_path)

    export.refresh_from_db()
    assert export.state == EvidenceExport.State.PENDING and export.attempts == 1 and export.started_at
    assert not builder.pack_path(export).exists()
    assert api_as(auditor).get(f"/api/v1/evidence-exports/{export.pk}/download/").status_code == 404

    # Within the lease the build may still be running somewhere: the job leaves it alone.
    assert run_job("evidence_recovery").summary == {"stuck": 0, "rebuilt": 0, "failed": 0}
    later = timezone.now() + builder.BUILD_LEASE + timedelta(minutes=1)
    assert run_job("evidence_recovery", now=later).summary == {"stuck": 1, "rebuilt": 1, "failed": 0}

    export.refresh_from_db()
    assert export.state == EvidenceExport.State.READY and export.attempts == 2
    assert builder.partial_files(export) == []
    assert verify_pack(builder.pack_path(export)).ok
    response = api_as(auditor).get(f"/api/v1/evidence-exports/{export.pk}/download/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_pack_interrupted_too_often_is_failed_with_its_partial_file_removed(auditor, media):
    export = _request(auditor)
    claimed = timezone.now() - builder.BUILD_LEASE - timedelta(minutes=5)
    EvidenceExport.objects.filter(pk=export.pk).update(
        started_at=claimed, attempts=builder.MAX_BUILD_ATTEMPTS
    )
    leftover = builder.pack_path(export).with_name(builder.pack_path(export).name + ".3.part")
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"PK\x03\x04 half a zip")

    assert run_job("evidence_recovery").summary == {"stuck": 1, "rebuilt": 0, "failed": 1}
    export.refresh_from_db()
    assert export.state == EvidenceExport.State.FAILED and "interrupted 3 times" in export.error
    assert not leftover.exists() and not builder.pack_path(export).exists()
    assert AuditEvent.objects.filter(verb="evidence.export_failed").count() == 1


@pytest.mark.django_db
def test_a_duplicate_message_does_not_build_a_pack_twice_at_once(auditor, media):
    export = _request(auditor)
    EvidenceExport.objects.filter(pk=export.pk).update(started_at=timezone.now(), attempts=1)
    again = builder.build_pack(export.pk)  # a second worker got the same message
    assert again.state == EvidenceExport.State.PENDING and again.attempts == 1
    assert builder.partial_files(export) == [] and not builder.pack_path(export).exists()


@pytest.mark.django_db
def test_with_the_broker_down_an_export_request_succeeds_and_waits_for_the_recovery_job(
    auditor, client, media, broker_down, django_capture_on_commit_callbacks
):
    client.force_login(auditor)
    response = post_export(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    export = EvidenceExport.objects.get()
    assert export.state == EvidenceExport.State.PENDING and export.attempts == 0
    broker_down()
    later = timezone.now() + builder.QUEUE_GRACE + timedelta(minutes=1)
    assert run_job("evidence_recovery", now=later).summary["rebuilt"] == 1
    export.refresh_from_db()
    assert export.state == EvidenceExport.State.READY


# ---------------------------------------------------------------- concurrent edits of one identity


def _edit_form(identity, purpose: str, version: int) -> dict:
    return {
        "name": identity.name,
        "kind": identity.kind,
        # The form shows these filled in; left out, they would ask to clear them (a scope change).
        "vendor": identity.vendor,
        "product": identity.product,
        "model_name": identity.model_name,
        "owner": identity.owner.username,
        "data_classification": identity.data_classification,
        "risk_tier": identity.risk_tier,
        "environments": identity.environments,
        "purpose": purpose,
        "version": version,
    }


@pytest.mark.django_db(transaction=True)
def test_two_editors_saving_the_same_version_at_once_one_wins_and_the_other_gets_409(iam, api_as, client):
    security = UserFactory(username="security-editor", roles=[Role.SECURITY], team=iam.team)
    identity = IdentityFactory(owner=iam, name="contended-bot", purpose="original")
    version = identity.version
    client.force_login(security)

    def by_api():
        return api_as(iam).patch(
            f"/api/v1/identities/{identity.pk}/",
            {"purpose": "from the API", "version": version},
            format="json",
        )

    def by_page():
        return client.post(f"/inventory/{identity.pk}/edit/", _edit_form(identity, "from the page", version))

    api_response, page_response = race([by_api, by_page])
    statuses = sorted([api_response.status_code, page_response.status_code])
    assert statuses in ([200, 409], [302, 409]), statuses
    identity.refresh_from_db()
    winner = "from the API" if api_response.status_code == 200 else "from the page"
    assert identity.purpose == winner and identity.version == version + 1  # no lost update
    assert AuditEvent.objects.filter(verb="identity.updated", subject_id=str(identity.pk)).count() == 1

    # The loser reloads, gets the new version, and its edit then goes through.
    fresh = api_as(iam).get(f"/api/v1/identities/{identity.pk}/").json()["version"]
    retry = api_as(iam).patch(
        f"/api/v1/identities/{identity.pk}/", {"purpose": "after reload", "version": fresh}, format="json"
    )
    assert retry.status_code == 200
