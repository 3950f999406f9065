from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat (Slack)"

    def ready(self) -> None:
        # The outbox (approvals.notifications) sends through channels registered with it: a hook owned
        # by the lower layer, so approvals never imports chat.
        from approvals import notifications
        from chat.channel import SlackChannel

        notifications.register_channel(SlackChannel())
