import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from bulkapi.middleware import BodyFramingMiddleware  # noqa: E402 - needs the settings loaded above

# Request bodies reach Django whole or not at all (chunked bodies, bodies cut short).
application = BodyFramingMiddleware(application)
