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


class TopicMissing(LookupError):
    """The topic does not exist on the broker (deleted, or the broker restarted with an empty store)."""


# A broker without topic ids (Kafka before 2.8) reports the all-zero UUID.
_NO_TOPIC_ID = {"", "AAAAAAAAAAAAAAAAAAAAAA", "00000000-0000-0000-0000-000000000000"}


def topic_id(client_config: Mapping[str, str], topic: str, *, timeout: float = 10.0) -> str | None:
    """The broker's id of ``topic`` (base64 UUID): a new one each time the topic is created.

    None when the broker gives none; raises :class:`TopicMissing` when the topic does not exist
    and :class:`BrokerUnreachable` when the broker does not answer. Offsets are only meaningful
    together with this id: a topic deleted and created again (or a broker that lost its store)
    numbers its records from 0 again, with other records at the same offsets.
    """
    from confluent_kafka import KafkaError, KafkaException, TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(client_config))
    future = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic]
    try:
        description = future.result(timeout=timeout + 1)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise TopicMissing(f"topic {topic} does not exist") from None
        raise BrokerUnreachable(f"Kafka at {client_config.get('bootstrap.servers')} could not describe {topic} "
                                f"within {timeout:.0f}s: {error}") from None
    text = str(description.topic_id) if description.topic_id is not None else ""
    return None if text in _NO_TOPIC_ID else text
