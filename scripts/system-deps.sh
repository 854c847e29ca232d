#!/usr/bin/env bash
# Debian packages the tests need beyond Python. Installs only what is missing, only as root.
#   required: Java for Spark
#   remote-execution tests (tripclick_assets_tests/remote): the Docker Engine, sshd, debootstrap;
#   Superset screenshot test (tripclick_assets_tests/deploy): headless Chromium and its driver;
#   without root they are not installed and those tests skip, saying why.
set -euo pipefail
required=()
remote=()
command -v java >/dev/null 2>&1 || required+=(openjdk-17-jre-headless)
# Checked by path: a docker CLI elsewhere on PATH is not an engine.
[ -x /usr/sbin/dockerd ] || remote+=(docker.io)
[ -x /usr/sbin/sshd ] || remote+=(openssh-server)
[ -x /usr/sbin/debootstrap ] || remote+=(debootstrap)
command -v chromium >/dev/null 2>&1 || remote+=(chromium)
command -v chromedriver >/dev/null 2>&1 || remote+=(chromium-driver)
missing=("${required[@]}" "${remote[@]}")
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  if [ ${#remote[@]} -gt 0 ]; then
    echo "system-deps: not root: the remote-execution and Superset tests will skip" \
         "(sudo apt-get install ${remote[*]})" >&2
  fi
  if [ ${#required[@]} -gt 0 ]; then
    echo "system-deps: missing ${required[*]}; install them (sudo apt-get install ${required[*]})" >&2
    exit 1
  fi
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
# --no-install-recommends: the engine's binaries without extra services; nothing is started.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
