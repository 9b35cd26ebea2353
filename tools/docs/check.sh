#!/usr/bin/env bash
# Check the notebooks' sources (tools/docs/rules.py: hand-typed chapter numbers, workshop words, long export cells,
# beyond the allowlist tools/docs/allow.txt), build the documentation site (tools/docs/build.sh), then check every page
# in headless Chromium (tools/docs/check.py: typeset math, no raw TeX, images, internal links, no hidden cells, sidebar
# order, previous/next links in the landing page's reading order, API reference complete) and save a screenshot of
# each page into _docs_check/. Exits non-zero when any check fails.
# Installs Debian's chromium (root, or sudo) when it is missing; playwright (the dev extra) drives it.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
.venv/bin/python tools/docs/rules.py || status=1
tools/docs/build.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "docs-check: installing Debian's chromium"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python tools/docs/check.py "${DOCS_OUT:-_docs}" --shots "${DOCS_SHOTS:-_docs_check}" || status=1
exit $status
