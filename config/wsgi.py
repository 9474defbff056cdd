import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from kernel.middleware import BodyFramingMiddleware  # noqa: E402 - needs the settings loaded above

# Request bodies reach Django whole or not at all (chunked bodies, bodies cut short).
application = BodyFramingMiddleware(application)

# Everything loaded so far (Django, DRF, the URL conf, the schema) lives as long as the process:
# moved out of the garbage collector's view, collections scan only what requests allocate.
gc.freeze()
