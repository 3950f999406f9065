from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("slack/interactions/", views.slack_interactions, name="slack-interactions"),
    path("slack/link/<str:token>/", views.slack_link, name="slack-link"),
]
