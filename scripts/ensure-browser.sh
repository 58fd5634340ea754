#!/usr/bin/env bash
# The browser of the webmail test (molecule/mail): Debian's chromium, driven by Playwright for Python with
# executable_path (never `playwright install`), and certutil (libnss3-tools) for its NSS trust store.
# Also the browser of the GDPR page test (molecule/backup/tests/test_gdpr_report.py). Installs only what is missing.
# Safe to run twice.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
if [ ${#missing[@]} -eq 0 ]; then echo "browser: chromium and certutil present"; exit 0; fi
echo "browser: installing ${missing[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
