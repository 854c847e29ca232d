#!/bin/sh
# TLS material for the Kafka EXTERNAL listener when KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SSL).
#
#   deploy/tls/make-kafka-certs.sh OUT_DIR SAN[,SAN...]
#   e.g. deploy/tls/make-kafka-certs.sh /secure/kafka-tls 10.0.2.10,kafka.internal
#
# Writes:
#   OUT_DIR/ca/ca.pem, ca-key.pem   the CA (reused when present; keep ca-key.pem offline)
#   OUT_DIR/broker/broker.pem       private key + certificate chain, the PEM keystore the brokers
#                                   read (KAFKA_SSL_DIR = OUT_DIR/broker on the Kafka host; the
#                                   brokers run as uid 1000: chown 1000 broker.pem there)
#   OUT_DIR/client/ca.pem           what clients trust: KAFKA_SSL_CA_LOCATION
# SANs: every host name / IP the clients use in KAFKA_BOOTSTRAP_SERVERS (the advertised host),
# plus kafka-1..3 for tools inside the compose network.
set -eu
. "$(dirname "$0")/pki.sh"

[ $# -eq 2 ] || pki_die "usage: $0 OUT_DIR SAN[,SAN...]"
out=$1
sans="$2,kafka-1,kafka-2,kafka-3"
mkdir -p "$out/broker" "$out/client"
pki_ca "$out/ca" "tripclick kafka CA"
pki_leaf "$out/ca" "$out/broker/broker-key.pem" "$out/broker/broker-cert.pem" "tripclick-kafka" serverAuth "$sans"
rm -f "$out/broker/broker.pem"
(umask 077 && cat "$out/broker/broker-key.pem" "$out/broker/broker-cert.pem" "$out/ca/ca.pem" > "$out/broker/broker.pem")
chmod 0400 "$out/broker/broker.pem"
rm -f "$out/broker/broker-key.pem"
cp -f "$out/ca/ca.pem" "$out/client/ca.pem"
echo "broker keystore: $out/broker/broker.pem  SAN $(pki_san "$sans")"
echo "client CA:       $out/client/ca.pem  (KAFKA_SSL_CA_LOCATION)"
