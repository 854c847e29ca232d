"""Create the project's topics if they are missing (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

TOPIC = "tripclick_raw_logs"
DLQ_TOPIC = "tripclick_raw_logs_dlq"


class BrokerUnreachable(RuntimeError):
    pass


def ensure_topics(
    client_config: Mapping[str, str],
    topics: Iterable[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    timeout: float = 10.0,
) -> list[str]:
    """Create any missing topic; returns the ones created. Raises BrokerUnreachable on silence."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict(client_config))
    servers = client_config.get("bootstrap.servers")
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise BrokerUnreachable(f"Kafka at {servers} did not answer within {timeout:.0f}s: {exc}") from None
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t, partitions, replication_factor) for t in missing], operation_timeout=timeout
    )
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return missing
