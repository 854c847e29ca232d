"""A wrong setting fails with a message naming it, at load for literals and at run time for EnvVars."""

import dagster as dg
import pytest

from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource


@pytest.mark.parametrize("build,setting", [
    (lambda: KafkaResource(bootstrap_servers=" "), "kafka.bootstrap_servers"),
    (lambda: KafkaResource(bootstrap_servers="b:9092", security_protocol="TLS"), "kafka.security_protocol"),
    (lambda: LakeResource(root="hdfs://x/y"), "lake.root"),
    (lambda: PostgresResource(url="mysql://u@h/db"), "postgres.url"),
])
def test_literal_values_fail_at_load_naming_the_setting(build, setting):
    with pytest.raises(Exception) as info:
        build()
    assert setting in str(info.value)


def test_env_vars_load_and_are_validated_when_resolved(monkeypatch):
    kafka = KafkaResource(bootstrap_servers=dg.EnvVar("T_BOOTSTRAP"), security_protocol=dg.EnvVar("T_PROTOCOL"))
    postgres = PostgresResource(url=dg.EnvVar("T_PG_URL"))

    @dg.asset
    def probe(kafka: KafkaResource, postgres: PostgresResource) -> str:
        return kafka.security_protocol + " " + postgres.url

    monkeypatch.setenv("T_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("T_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("T_PG_URL", "postgresql://u:p@h/db")
    result = dg.materialize([probe], resources={"kafka": kafka, "postgres": postgres})
    assert result.output_for_node("probe") == "SASL_SSL postgresql://u:p@h/db"

    monkeypatch.setenv("T_PROTOCOL", "carrier-pigeon")
    with pytest.raises(dg.DagsterResourceFunctionError) as info:
        dg.materialize([probe], resources={"kafka": kafka, "postgres": postgres})
    chain, error = [], info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__
    assert any("kafka.security_protocol" in message for message in chain), chain


def test_kafka_client_certificates_go_to_librdkafka_and_to_the_producers_environment():
    kafka = KafkaResource(bootstrap_servers="b:9093", security_protocol="ssl", ssl_ca_location="/ca.pem",
                          ssl_certificate_location="/client.pem", ssl_key_location="/client.key",
                          ssl_key_password="pw")
    assert kafka.client_config() == {
        "bootstrap.servers": "b:9093", "security.protocol": "SSL", "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/client.pem", "ssl.key.location": "/client.key", "ssl.key.password": "pw",
    }
    assert kafka.security_env() == {
        "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/ca.pem",
        "KAFKA_SSL_CERTIFICATE_LOCATION": "/client.pem", "KAFKA_SSL_KEY_LOCATION": "/client.key",
        "KAFKA_SSL_KEY_PASSWORD": "pw",
    }
