#!/bin/sh
# Spark container entrypoint: render spark-defaults.conf from the image's base file and the
# environment, then run the master, a worker, or any command.
#   master            Spark standalone master (SPARK_MASTER_PORT 7077, UI SPARK_MASTER_WEBUI_PORT 8080)
#   worker            a worker of spark://spark-master:7077 (SPARK_MASTER_URL to change; UI
#                     SPARK_WORKER_WEBUI_PORT 8081)
#   anything else     exec'd as is (spark-submit ..., bash)
# Credentials: S3A takes AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment when
# set, else the EC2 instance profile; nothing is written to disk.
set -eu

conf="${SPARK_CONF_DIR:-/opt/spark/conf}/spark-defaults.conf"
{
  cat /opt/spark/conf-base/spark-defaults.conf
  region="${TRIPCLICK_LAKE_S3_REGION:-${AWS_REGION:-}}"
  if [ -n "$region" ]; then
    echo "spark.hadoop.fs.s3a.endpoint.region              $region"
  fi
  if [ -n "${TRIPCLICK_LAKE_S3_ENDPOINT:-}" ]; then   # S3-compatible store (MinIO, ...)
    echo "spark.hadoop.fs.s3a.endpoint                     $TRIPCLICK_LAKE_S3_ENDPOINT"
    echo "spark.hadoop.fs.s3a.path.style.access            true"
  fi
  if [ -n "${SPARK_EXTRA_DEFAULTS:-}" ]; then         # "key value;key value"
    echo "$SPARK_EXTRA_DEFAULTS" | tr ';' '\n'
  fi
} > "$conf"

case "${1:-master}" in
  master)
    shift || true
    exec spark-class org.apache.spark.deploy.master.Master \
      --host "${SPARK_MASTER_HOST:-$(hostname)}" --port "${SPARK_MASTER_PORT:-7077}" \
      --webui-port "${SPARK_MASTER_WEBUI_PORT:-8080}" "$@"
    ;;
  worker)
    shift
    exec spark-class org.apache.spark.deploy.worker.Worker \
      --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
      --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}" \
      "$@" "${SPARK_MASTER_URL:-spark://spark-master:7077}"
    ;;
  *)
    exec "$@"
    ;;
esac
