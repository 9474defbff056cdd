"""The Celery broker as health checks and metrics see it: how many messages wait in each queue.

Read the way kombu's Redis transport stores them: a queue is a Redis list under its name, plus one
list per non-zero priority step (`name\\x06\\x16<step>`); messages a worker has taken but not yet
acknowledged (running or prefetched, `acks_late`) wait in the `unacked` hash instead.

On RabbitMQ (`CELERY_BROKER_URL=amqp://...`) a passive queue declare answers each queue's ready
messages; AMQP has no count of unacknowledged ones (RabbitMQ's own Prometheus plugin has it, as
`rabbitmq_queue_messages_unacked`).
"""

from __future__ import annotations

import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel


def broker_client() -> redis.Redis:
    """A short-timeout client of the broker's Redis database (a scrape must not hang on it)."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)


def _keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]


def queue_lengths(client: redis.Redis, queues=None) -> dict[str, int]:
    """Messages waiting in each queue (all priorities), in one round trip."""
    queues = tuple(queues or settings.TASK_QUEUES)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for key in _keys(queue):
            pipe.llen(key)
    counts = iter(pipe.execute())
    return {queue: sum(next(counts) for _ in _keys(queue)) for queue in queues}


def unacked_count(client: redis.Redis) -> int:
    """Messages taken by a worker and not yet acknowledged (running, or prefetched)."""
    return client.hlen(Channel.unacked_key)


def amqp_queue_lengths(queues=None) -> dict[str, int]:
    """Ready messages in each queue of a RabbitMQ broker (a queue not declared yet has none)."""
    from amqp.exceptions import NotFound
    from celery import current_app as app

    out = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        for queue in tuple(queues or settings.TASK_QUEUES):
            channel = conn.channel()
            try:
                out[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except NotFound:
                out[queue] = 0  # a passive declare of a missing queue closes its channel
            finally:
                channel.close()
    return out


def broker_ping() -> None:
    """Raises when the broker does not answer within about 2 s."""
    if settings.BROKER_IS_RABBITMQ:
        from celery import current_app as app

        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    else:
        broker_client().ping()
