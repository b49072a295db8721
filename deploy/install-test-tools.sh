#!/usr/bin/env bash
# System tools the test suite needs beyond Python: Debian's chromium and chromium-driver (the
# console's browser test; browsers cannot be downloaded any other way here) and openssl (the
# cluster test's CA). Installs only what is missing, with apt (sudo when not root).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -gt 0 ] || exit 0

sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
echo "installing ${missing[*]} with apt-get"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
