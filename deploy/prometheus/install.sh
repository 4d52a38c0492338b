#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package when promtool is missing (idempotent).
# Used by CI and by tests/deploy (which need promtool and a real Prometheus). The package's postinst may try
# to start a Prometheus daemon on :9090; where it did (a machine with an init system), it is stopped again,
# so that nothing keeps listening on 9090 after the install.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

echo "prometheus: installing Debian's prometheus package (prometheus + promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# policy-rc.d exit 101 tells invoke-rc.d not to start the daemon during the install.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
$sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if [ -n "$created_policy" ]; then $sudo rm -f "$policy"; fi

# Belt and braces: if a daemon was started anyway, stop it (and keep it from starting at boot).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
  $sudo service prometheus stop >/dev/null 2>&1 || true
fi

promtool --version | head -n 1 >&2
