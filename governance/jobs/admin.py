from django.contrib import admin

from governance.admin_common import ReadOnlyAdmin
from governance.jobs.models import JobRun, PostureSnapshot, Reminder, ReminderOptOut


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("name", "started_at", "finished_at", "ok", "trigger")
    list_filter = ("name", "ok", "trigger")


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("recipient", "kind", "subject_type", "subject_id", "window", "created_at", "sent_at")
    list_filter = ("kind",)
    list_select_related = ("recipient",)
    search_fields = ("recipient__username", "title")


@admin.register(ReminderOptOut)
class ReminderOptOutAdmin(admin.ModelAdmin):
    """People who asked not to get routine digests; overdue items and escalations still reach them."""

    list_display = ("user", "created_at")
    autocomplete_fields = ("user",)


@admin.register(PostureSnapshot)
class PostureSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("date", "taken_at")
