from django.urls import path

from governance.people.scim.views import scim_view

# With and without the slash after v2: a client's base URL is often configured without it, and a
# POST to a URL that is missing its slash cannot be redirected.
urlpatterns = [
    path("v2", scim_view, name="scim-root"),
    path("v2/", scim_view, name="scim-root"),
    path("v2/<path:scim_path>", scim_view, name="scim"),
]
