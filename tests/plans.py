"""The plans PostgreSQL chose for this connection's statements, via auto_explain at NOTICE level
(the plans come back to the client): for tests that a statement is planned robustly."""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def captured_plans():
    """Yields a list that fills with (text of) every plan run on Django's connection meanwhile."""
    plans: list[str] = []
    with connection.cursor() as cur:
        cur.execute("LOAD 'auto_explain'")
        cur.execute("SET auto_explain.log_min_duration = 0")
        cur.execute("SET auto_explain.log_level = 'notice'")

    def handler(diag):
        plans.append(diag.message_primary or "")

    connection.connection.add_notice_handler(handler)
    try:
        yield plans
    finally:
        with connection.cursor() as cur:
            cur.execute("SET auto_explain.log_min_duration = -1")
        connection.connection.remove_notice_handler(handler)


def plan_of(plans: list[str], marker: str) -> str:
    """The one captured plan whose query text holds `marker`."""
    found = [p for p in plans if marker in p]
    assert len(found) == 1, f"{len(found)} plans hold {marker!r}"
    return found[0]
