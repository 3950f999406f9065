import os

from django.core.asgi import get_asgi_application

from config.startup import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()
settle()  # load the URL patterns, then keep the loaded code out of the collector's way
