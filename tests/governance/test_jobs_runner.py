# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""run_governance_jobs, the registry, JobRun records, the beat schedule, task options and /healthz."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from governance import tasks
from governance.findings.models import Finding
from governance.jobs.health import sweep_health
from governance.jobs.models import JobLock, JobRun
from governance.jobs.runner import run_job
from tests.factories import IdentityFactory
from tests.governance.jobs_support import clock, hooks  # noqa: F401

pytestmark = pytest.mark.django_db

JOBS = {"sweep", "review_cadence", "reminders", "expiry", "posture_snapshot"}
# Jobs other features register, scheduled through the generic governance.run_job task.
FEATURE_JOBS = {
    "stale_requests", "access_requests", "signing_keys", "notifications", "evidence_recovery",
    "audit_checkpoint",
}  # fmt: skip
FEATURE_JOBS |= {"import_previews"}  # inventory.jobs: abandoned import previews
FEATURE_JOBS |= {"connector_recovery"}  # connectors.jobs: resume runs whose worker died
FEATURE_JOBS |= {"workload_housekeeping"}  # workload.jobs: resend due security events, forget replays
ALL_JOBS = JOBS | FEATURE_JOBS


def test_run_governance_jobs_runs_every_job_once_and_records_each_run(clock, owner, capsys):
    IdentityFactory(owner=owner, environments=["prod", "dev"])
    call_command("run_governance_jobs")
    out = capsys.readouterr().out
    assert {line.split(":")[0] for line in out.strip().splitlines()} == ALL_JOBS
    runs = dict(JobRun.objects.values_list("name", "ok"))
    assert runs == dict.fromkeys(ALL_JOBS, True)
    assert Finding.objects.filter(rule="environment_crossing").count() == 1
    assert JobRun.objects.get(name="sweep").summary["opened"] == 1


def test_run_governance_jobs_runs_one_job_by_name(clock, owner):
    call_command("run_governance_jobs", "--job", "posture_snapshot")
    assert list(JobRun.objects.values_list("name", flat=True)) == ["posture_snapshot"]


def test_run_governance_jobs_refuses_an_unknown_job():
    with pytest.raises(CommandError, match="Unknown job 'nope'"):
        call_command("run_governance_jobs", "--job", "nope")


def test_a_failing_job_is_recorded_and_the_others_still_run(clock, hooks):
    def explode(now):
        raise ValueError("broken on purpose")

    hooks.register_job("explode", explode)
    with pytest.raises(CommandError, match="1 job"):
        call_command("run_governance_jobs")
    failed = JobRun.objects.get(name="explode")
    assert failed.ok is False and "broken on purpose" in failed.error and failed.finished_at
    assert JobRun.objects.filter(ok=True).count() == len(ALL_JOBS)


def test_review_cadence_runs_the_reviews_feature(clock):
    run = run_job("review_cadence")
    assert run.ok is True and "skipped" not in run.summary


def test_the_default_beat_schedule_is_in_the_database():
    defaults = PeriodicTask.objects.filter(description="Steward default")
    schedule = {t.task: t for t in defaults if t.task != "governance.run_job"}
    assert set(schedule) == {f"governance.{name}" for name in JOBS}
    generic = {json.loads(t.args)[0] for t in defaults if t.task == "governance.run_job"}
    assert generic == FEATURE_JOBS
    assert schedule["governance.sweep"].interval.every == 1
    assert schedule["governance.sweep"].interval.period == "hours"
    assert schedule["governance.expiry"].interval.period == "hours"
    for daily in ("reminders", "review_cadence", "posture_snapshot"):
        crontab = schedule[f"governance.{daily}"].crontab
        assert crontab.day_of_week == "*" and crontab.hour.isdigit()
    assert JobLock.objects.filter(name="sweep").exists()


def test_every_scheduled_task_name_is_a_registered_celery_task():
    from config.celery import app

    for task in PeriodicTask.objects.filter(description="Steward default").values_list("task", flat=True):
        assert task in app.tasks, task


@pytest.mark.parametrize("task", [tasks.sweep, tasks.reminders, tasks.expiry, tasks.posture_snapshot])
def test_tasks_ack_late_and_retry_on_a_lost_database_connection(task):
    assert task.acks_late is True
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.retry_backoff and task.max_retries


def test_the_sweep_task_runs_the_sweep_and_records_it(clock, owner):
    IdentityFactory(owner=owner, environments=["prod", "dev"])
    result = tasks.sweep.apply().get()
    assert result["ok"] is True and result["summary"]["opened"] == 1
    assert JobRun.objects.get().trigger == "celery"


def test_sweep_health_is_ok_within_two_hours_of_the_last_success(clock):
    run_job("sweep")
    clock.shift(timedelta(minutes=119))
    health = sweep_health()
    assert health["ok"] is True and health["age_seconds"] == 119 * 60
    assert health["last_success_at"]


def test_sweep_health_is_stale_after_two_hours_and_healthz_reports_it(clock, client, iam):
    client.force_login(iam)  # the checks are shown to IAM and Security; others see the status only
    run_job("sweep")
    clock.shift(timedelta(hours=2, minutes=1))
    assert sweep_health()["ok"] is False
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["checks"]["sweep"]["age_seconds"] == 7260


def test_a_failed_sweep_does_not_count_as_a_success(clock, hooks):
    run_job("sweep")
    clock.shift(timedelta(hours=3))
    JobRun.objects.create(name="sweep", ok=False, finished_at=timezone.now(), error="boom")
    assert sweep_health()["ok"] is False


def test_a_fresh_install_is_healthy_until_the_first_sweep_is_overdue(clock, client, iam):
    client.force_login(iam)
    JobLock.objects.update_or_create(name="sweep", defaults={"created_at": timezone.now()})
    health = sweep_health()
    assert health["ok"] is True and health["last_success_at"] is None
    assert client.get("/healthz").json()["checks"]["sweep"]["ok"] is True
    clock.shift(timedelta(hours=3))
    assert sweep_health()["ok"] is False
