import os

from django.core.wsgi import get_wsgi_application

from config.startup import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
settle()  # load the URL patterns, then keep the loaded code out of the collector's way
