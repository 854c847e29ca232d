#!/usr/bin/env bash
# Debian packages beyond Python. Installs only what is missing, only as root.
#   scripts/system-deps.sh main   what the main job needs: Java for Spark
#   scripts/system-deps.sh test   also the Docker Engine, sshd and debootstrap (remote-execution
#                                 tests) and headless Chromium with its driver (Superset screenshot);
#                                 without root those are not installed and their tests skip, saying why.
set -euo pipefail
mode="${1:-test}"
case "$mode" in main|test) ;; *) echo "usage: $0 main|test" >&2; exit 2 ;; esac
required=()
optional=()
command -v java >/dev/null 2>&1 || required+=(openjdk-17-jre-headless)
if [ "$mode" = test ]; then
  # Checked by path: a docker CLI elsewhere on PATH is not an engine.
  [ -x /usr/sbin/dockerd ] || optional+=(docker.io)
  [ -x /usr/sbin/sshd ] || optional+=(openssh-server)
  [ -x /usr/sbin/debootstrap ] || optional+=(debootstrap)
  command -v chromium >/dev/null 2>&1 || optional+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || optional+=(chromium-driver)
fi
missing=("${required[@]+"${required[@]}"}" "${optional[@]+"${optional[@]}"}")
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  if [ ${#optional[@]} -gt 0 ]; then
    echo "system-deps: not root: the remote-execution and Superset tests will skip" \
         "(sudo apt-get install ${optional[*]})" >&2
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
