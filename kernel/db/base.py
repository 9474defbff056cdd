"""The database ENGINE: Django's PostgreSQL backend with a cursor that binds `Value`s.

Settings point `DATABASES[...]["ENGINE"]` here for a PostgreSQL URL (config/settings.py); every
cursor Django opens (the ORM's, `connection.cursor()` and the raw psycopg cursor under it) is then
`Cursor`, so a composed statement's values always travel as parameters (see `kernel.db`).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base as postgresql
from psycopg import sql

from kernel.db import bind, render


class Cursor(postgresql.Cursor):
    def execute(self, query, params=None, **kwargs: Any):
        query, params = bind(query, params, self)
        return super().execute(query, params, **kwargs)

    def executemany(self, query, params_seq, **kwargs: Any):
        if isinstance(query, sql.Composable):
            query = render(query, self, escape=True)
        return super().executemany(query, params_seq, **kwargs)

    def copy(self, statement, params=None, **kwargs: Any):
        statement, params = bind(statement, params, self)
        return super().copy(statement, params, **kwargs)


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        if params.get("cursor_factory") is postgresql.Cursor:
            params["cursor_factory"] = Cursor
        return params
