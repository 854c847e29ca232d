#!/bin/sh
# One-shot Kafka set-up, run by the kafka-init service over the INTERNAL (compose-network only)
# listener. Idempotent: rerun it after changing users or topic settings.
#   1. SASL on: create/update the client's SCRAM user from INIT_SASL_USERNAME/INIT_SASL_PASSWORD
#      (from the environment; kafka-configs.sh reads it from a 0600 temporary file, so it is on
#      no command line).
#   2. Create the topics (3 partitions, replication 2) if missing; apply retention and
#      min.insync.replicas to existing ones; report a partition count that differs (never
#      changed automatically: it would move keys between partitions).
set -eu

BIN=${KAFKA_BIN:-/opt/kafka/bin}
BOOTSTRAP=${INIT_BOOTSTRAP_SERVERS:?}
PARTITIONS=${INIT_PARTITIONS:-3}
REPLICATION=${INIT_REPLICATION_FACTOR:-2}
MIN_ISR=${INIT_MIN_INSYNC_REPLICAS:-1}
RETENTION_MS=${INIT_RETENTION_MS:-604800000}
PROTOCOL=${INIT_SECURITY_PROTOCOL:-SASL_SSL}

log() { echo "kafka-init: $*"; }

case "$PROTOCOL" in
  SASL_SSL|SASL_PLAINTEXT)
    MECHANISM=${INIT_SASL_MECHANISM:-SCRAM-SHA-512}
    case "$MECHANISM" in
      SCRAM-SHA-256|SCRAM-SHA-512) ;;
      *) log "KAFKA_SASL_MECHANISM must be SCRAM-SHA-256 or SCRAM-SHA-512, got $MECHANISM"; exit 2 ;;
    esac
    if [ -z "${INIT_SASL_USERNAME:-}" ] || [ -z "${INIT_SASL_PASSWORD:-}" ]; then
      log "KAFKA_SECURITY_PROTOCOL=$PROTOCOL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"; exit 2
    fi
    case "$INIT_SASL_PASSWORD" in
      *[],=[]*) log "KAFKA_SASL_PASSWORD must not contain , = [ or ] (use: openssl rand -hex 24)"; exit 2 ;;
    esac
    case "$INIT_SASL_PASSWORD" in
      *\\*) log "KAFKA_SASL_PASSWORD must not contain a backslash (use: openssl rand -hex 24)"; exit 2 ;;
    esac
    log "SCRAM user $INIT_SASL_USERNAME ($MECHANISM)"
    # The password goes through a private file (--add-config-file), never on a command line:
    # printf is a shell builtin, and the file is 0600 from its creation and removed on exit.
    scram_file=$(umask 077 && mktemp)
    trap 'rm -f "$scram_file"' EXIT
    printf '%s=password=%s\n' "$MECHANISM" "$INIT_SASL_PASSWORD" > "$scram_file"
    "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type users \
      --entity-name "$INIT_SASL_USERNAME" --add-config-file "$scram_file" >/dev/null
    rm -f "$scram_file"
    ;;
  PLAINTEXT|SSL) log "no SASL on the EXTERNAL listener ($PROTOCOL)" ;;
  *) log "unknown KAFKA_SECURITY_PROTOCOL $PROTOCOL"; exit 2 ;;
esac

for topic in $(echo "${INIT_TOPICS:?}" | tr ',' ' '); do
  "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$topic" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
    --config "min.insync.replicas=$MIN_ISR" --config "retention.ms=$RETENTION_MS"
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type topics --entity-name "$topic" \
    --add-config "min.insync.replicas=$MIN_ISR,retention.ms=$RETENTION_MS" >/dev/null
  summary=$("$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topic "$topic" | head -n 1)
  log "$summary"
  have=$(echo "$summary" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p')
  if [ "$have" != "$PARTITIONS" ]; then
    log "WARNING: $topic has $have partitions, expected $PARTITIONS (not changed automatically)"
  fi
done
log "done"
