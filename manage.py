#!/usr/bin/env python
"""Django's command-line utility.

Next to a running `make run` (in another terminal of this checkout) it uses that server's database
and Redis, read from the .run/env it leaves, unless DATABASE_URL is set. Without either it says so
instead of connecting to some default database.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.runenv import run_env_load

    run = run_env_load()
    if run is not None:
        print(f"manage.py: using the database and Redis of `make run` (pid {run.pid}, {run.path})", file=sys.stderr)

    from django.core.management import execute_from_command_line

    from config.nodb.base import DatabaseNotConfigured

    try:
        execute_from_command_line(sys.argv)
    except DatabaseNotConfigured as exc:
        print(f"manage.py: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
