"""The database backend of a process started without DATABASE_URL.

Every use of the database raises DatabaseNotConfigured, saying which variable to set and what was
found of a running `make run`, instead of quietly connecting to whatever database answers on a
default address. Commands that need no database (help, check, collectstatic) still run.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.dummy import base as dummy

from config.runenv import database_missing_message


class DatabaseNotConfigured(ImproperlyConfigured):
    pass


def complain(*args, **kwargs):
    raise DatabaseNotConfigured(database_missing_message())


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = complain


class DatabaseClient(dummy.DatabaseClient):
    runshell = complain


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = complain
    get_table_description = complain
    get_relations = complain
    get_indexes = complain


class DatabaseWrapper(dummy.DatabaseWrapper):
    vendor = "unconfigured"
    display_name = "no database (DATABASE_URL is not set)"
    _cursor = complain
    ensure_connection = complain
    _commit = complain
    _savepoint_commit = complain
    _set_autocommit = complain
    client_class = DatabaseClient
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
