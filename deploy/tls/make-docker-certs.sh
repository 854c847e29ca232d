#!/bin/sh
# Certificates for the Docker Engine API over mutual TLS (port 2376) on the web servers.
#
#   deploy/tls/make-docker-certs.sh OUT_DIR NAME=SAN[,SAN...] [NAME=SAN...]
#   e.g. deploy/tls/make-docker-certs.sh /secure/docker-tls server0=10.0.1.11,web0.internal server1=10.0.1.12
#
# Writes (keys 0400, never into the repository or an image):
#   OUT_DIR/ca/ca.pem, ca-key.pem      the CA; reused when present (keep ca-key.pem offline)
#   OUT_DIR/NAME/ca.pem, server-cert.pem, server-key.pem
#                                      -> /etc/docker/tls/ on web server NAME (daemon.json.example)
#   OUT_DIR/client/ca.pem, cert.pem, key.pem
#                                      -> the Dagster host; compose mounts it (DOCKER_TLS_DIR)
# Each server certificate carries NAME and every SAN given (IP literals as IP entries); the
# client certificate has extendedKeyUsage clientAuth only. Rerunning re-issues every leaf
# with the same CA (key rotation); delete OUT_DIR/ca to rotate the CA too.
# Environment: PKI_DAYS (leaf validity, default 825), PKI_CA_DAYS (3650).
set -eu
. "$(dirname "$0")/pki.sh"

[ $# -ge 2 ] || pki_die "usage: $0 OUT_DIR NAME=SAN[,SAN...] [NAME=SAN...]"
out=$1; shift
mkdir -p "$out"
pki_ca "$out/ca" "tripclick docker CA"

for spec in "$@"; do
  name=${spec%%=*}
  sans=${spec#*=}
  [ -n "$name" ] && [ "$name" != "$spec" ] && [ -n "$sans" ] || pki_die "expected NAME=SAN[,SAN...], got $spec"
  case "$name" in ca|client|*/*|.*) pki_die "invalid server name $name" ;; esac
  mkdir -p "$out/$name"
  pki_leaf "$out/ca" "$out/$name/server-key.pem" "$out/$name/server-cert.pem" "$name" serverAuth "$name,$sans"
  cp -f "$out/ca/ca.pem" "$out/$name/ca.pem"
  echo "server $name: $out/$name/{ca,server-cert,server-key}.pem  SAN $(pki_san "$name,$sans")"
done

mkdir -p "$out/client"
pki_leaf "$out/ca" "$out/client/key.pem" "$out/client/cert.pem" "tripclick-dagster" clientAuth
cp -f "$out/ca/ca.pem" "$out/client/ca.pem"
echo "client: $out/client/{ca,cert,key}.pem  (DOCKER_CERT_PATH layout)"
