"""The environment of every test run, and of the servers and workers the tests start (they inherit
it): loaded by pytest.ini (`-p tests.environment`) before Django reads `config/settings.py`.

Only what the tests need differs from the production defaults, and only here: DEBUG's development
mode (a development secret key; servers that test production behaviour set DJANGO_DEBUG=false and
a strong key themselves) and a fast password hasher (PBKDF2 takes 0.2 s a password by design)."""

import os

os.environ["DJANGO_DEBUG"] = "true"
os.environ["PASSWORD_HASHERS"] = "django.contrib.auth.hashers.MD5PasswordHasher"
