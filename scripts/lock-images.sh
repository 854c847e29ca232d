#!/usr/bin/env bash
# Regenerates the hash-checked locks the deploy/ images install (pip install --require-hashes):
#
#   deploy/build-tools.lock           <- deploy/build-tools.txt       (pip, setuptools, wheel)
#   deploy/spark/requirements.lock    <- deploy/spark/requirements.txt
#   deploy/producer/requirements.lock <- deploy/producer/requirements.txt
#   deploy/dagster/requirements.lock  <- pyproject.toml [project] dependencies (the project itself
#                                        is installed --no-deps on top of it)
#   deploy/superset/requirements.lock <- deploy/superset/requirements.txt
#
# Each lock pins the whole dependency closure for CPython 3.11 on x86_64 Linux, glibc 2.36 (Debian
# 12's python3.11, which the images run), with the SHA-256 of every file PyPI has for each pinned
# release. Never edit a lock by hand: change the .txt / pyproject.toml and rerun this.
#
#   scripts/lock-images.sh            pins already in a lock are kept where still allowed (a minimal change)
#   scripts/lock-images.sh --upgrade  every unpinned transitive dependency moves to its newest release
#   scripts/lock-images.sh --check    regenerates into a temporary directory and fails if a lock differs
#
# The resolver is uv, pinned below, installed in a throw-away virtualenv (needs PyPI, nothing else).
# tripclick_assets_tests/deploy/test_image_locks.py checks the locks offline.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
PYTHON_VERSION=3.11
PYTHON_PLATFORM=x86_64-manylinux_2_36  # Debian 12 bookworm: glibc 2.36

mode="${1:-}"
case "$mode" in
  ""|--upgrade|--check) ;;
  *) echo "usage: scripts/lock-images.sh [--upgrade|--check]" >&2; exit 2 ;;
esac

LOCKS=(
  "deploy/build-tools.lock deploy/build-tools.txt"
  "deploy/spark/requirements.lock deploy/spark/requirements.txt"
  "deploy/producer/requirements.lock deploy/producer/requirements.txt"
  "deploy/dagster/requirements.lock pyproject.toml"
  "deploy/superset/requirements.lock deploy/superset/requirements.txt"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python_bin="$(command -v python3.11 || command -v python3)"
"$python_bin" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
uv="$work/tools/bin/uv"

status=0
for entry in "${LOCKS[@]}"; do
  read -r lock source <<<"$entry"
  out="$lock"
  if [ "$mode" = "--check" ]; then
    out="$work/check/$lock"
    mkdir -p "$(dirname "$out")"
    [ -f "$lock" ] && cp "$lock" "$out"  # its pins are the preferences, as in a normal run
  fi
  extra=()
  [ "$mode" = "--upgrade" ] && extra+=(--upgrade)
  "$uv" pip compile --quiet --generate-hashes \
    --python-version "$PYTHON_VERSION" --python-platform "$PYTHON_PLATFORM" \
    --custom-compile-command "scripts/lock-images.sh" \
    "${extra[@]}" "$source" -o "$out"
  if [ "$mode" = "--check" ]; then
    if ! diff -u "$lock" "$out" >&2; then
      echo "lock-images: $lock is not what $source resolves to; run scripts/lock-images.sh" >&2
      status=1
    fi
  else
    echo "lock-images: $lock ($(grep -c '^[A-Za-z0-9]' "$out") packages) from $source"
  fi
done
exit "$status"
