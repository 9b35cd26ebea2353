#!/usr/bin/env bash
# make docs-check: the notebooks' sources (rules.py), the site built (build.sh), then every page checked in headless
# Chromium by playwright (check.py), with a screenshot of each page in _docs_check/. Exits non-zero when a check fails.
# Installs Debian's chromium (as root, or with sudo) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
.venv/bin/python tools/docs/rules.py || status=1
tools/docs/build.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "docs-check: installing Debian's chromium"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python tools/docs/check.py "${DOCS_OUT:-_docs}" --shots "${DOCS_SHOTS:-_docs_check}" || status=1
exit $status
