#!/usr/bin/env bash
# Installs ocm's test dependencies on a fresh Debian machine.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v skopeo >/dev/null || need+=(skopeo)
command -v jq >/dev/null || need+=(jq)   # the demo's digest check
command -v openssl >/dev/null || need+=(openssl)
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  # Debian's Go fetches the toolchain go.mod asks for through the module proxy.
  need+=(golang-go)
fi
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
# The package enables a registry service listening on every interface; tests
# start their own on 127.0.0.1 and never use it.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
