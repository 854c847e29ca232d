#!/bin/sh
# TLS material for the Gold PostgreSQL server (clients connect with sslmode=verify-full).
#
#   deploy/tls/make-postgres-certs.sh OUT_DIR SAN[,SAN...]
#   e.g. deploy/tls/make-postgres-certs.sh /secure/gold-tls 10.0.2.30,gold.internal
#
# Writes:
#   OUT_DIR/ca/ca.pem, ca-key.pem       the CA (reused when present; keep ca-key.pem offline)
#   OUT_DIR/server/server-cert.pem      the server certificate (SANs: every name and IP clients use
#   OUT_DIR/server/server-key.pem       in TRIPCLICK_POSTGRES_URL / GOLD_PG_HOST); the key 0400.
#                                       Gold server: /etc/tripclick/gold-tls/, owner uid 999 (postgres)
#   OUT_DIR/client/ca.pem               what clients trust: TRIPCLICK_POSTGRES_SSLROOTCERT
#                                       (/etc/tripclick/gold/ca.pem on the orchestration and Spark hosts)
set -eu
. "$(dirname "$0")/pki.sh"

[ $# -eq 2 ] || pki_die "usage: $0 OUT_DIR SAN[,SAN...]"
out=$1
mkdir -p "$out/server" "$out/client"
pki_ca "$out/ca" "tripclick gold postgres CA"
pki_leaf "$out/ca" "$out/server/server-key.pem" "$out/server/server-cert.pem" "tripclick-gold" serverAuth "$2"
cp -f "$out/ca/ca.pem" "$out/client/ca.pem"
echo "server: $out/server/server-cert.pem + server-key.pem  SAN $(pki_san "$2")"
echo "client CA: $out/client/ca.pem  (TRIPCLICK_POSTGRES_SSLROOTCERT)"
