"""The outbox's Slack channel: a notification about an approval request posts or updates the
request's one Slack message (chat/services.sync_message). Retried by the outbox like any channel;
never duplicated, since a request has one message and later rows update it."""

from __future__ import annotations

from approvals.notifications import Channel
from chat import slack


class SlackChannel(Channel):
    name = "slack"

    @property
    def follows_requests(self) -> bool:  # only when a bot token is configured
        return slack.configured()

    def accepts(self, row) -> bool:
        return row.approval_id is not None and slack.configured()

    def deliver(self, row, recipients) -> None:
        from chat.services import sync_message

        sync_message(row.approval)
