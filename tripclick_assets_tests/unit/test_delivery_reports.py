"""Delivery reports: every message ends in a range or in the failed count."""

from tripclick_assets.producer.replay import _Deliveries


class Report:
    def __init__(self, partition: int, offset):
        self._partition, self._offset = partition, offset

    def partition(self) -> int:
        return self._partition

    def offset(self):
        return self._offset


def test_a_delivery_without_an_offset_counts_as_failed_not_as_a_crash():
    """librdkafka marks a batch the broker answered DUPLICATE_SEQUENCE_NUMBER delivered with offset -1
    (None in confluent-kafka); seen when a tansu broker died between storing the sequence and the batch."""
    deliveries = _Deliveries()
    for offset in (5, 6, None, 7, -1):
        deliveries.on_event(None, Report(0, offset))
    assert deliveries.partitions == {0: [5, 7, 3]}
    assert (deliveries.sent, deliveries.failed) == (3, 2)
    assert deliveries.errors == {"acknowledged without an offset (duplicate sequence number)": 2}
