"""RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...): a private node, the API, a worker, no
beat. An import syncs end to end, and a broker restart mid-sync loses no message: with no beat
running, nothing but the quorum queues' own messages could carry the sync to its end."""

from tests.scale.engines import faults, require, table_row


def test_a_sync_runs_on_rabbitmq_and_a_broker_restart_mid_sync_loses_no_message():
    require("rabbitmq")

    output = faults("--broker", "rabbitmq", "--no-beat", "--scenarios", "clean,rabbitmq-restart")

    assert "broker rabbitmq, no beat" in output
    for scenario in ("clean", "rabbitmq-restart"):
        _, rows, stored, rejected, lost, dup, wrong, _, result = table_row(output, scenario)
        assert (rows, stored, rejected, lost, dup, wrong, result) == ("2,000", "1,980", "20", "0", "0", "0", "ok")
    assert "checker self-test: a deleted row and a duplicated row are both caught" in output
