#!/usr/bin/env bash
# Build the offline documentation site into _docs/ (or $DOCS_OUT) from the notebooks in nbs/, with no network at build
# or view time: nbdev_export; nbdev's processing into _proc/ (proc.py); convert.py (myst-nb sources, reading order, the
# API reference); sphinx-build -W (a warning fails the build) with MathJax 4 from npm (fetched once into $DOCS_CACHE).
# Uses the project's .venv (make docs creates it).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin OUT=${DOCS_OUT:-_docs} CACHE=${DOCS_CACHE:-.venv/docs-cache}/mathjax-4.1.3
export DOCS_WORK=$(realpath -m "${DOCS_WORK:-build/docs}")
if [ ! -f "$CACHE/node_modules/mathjax/tex-chtml.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "docs build: installing Debian's npm (needed once, to fetch MathJax)"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
  fi
  mkdir -p "$CACHE" && npm install --silent --no-audit --no-fund --no-save --prefix "$CACHE" mathjax@4.1.3
fi
# In CI the export must change nothing (as `make test` requires), or this build would hide a stale export from it
if [ "${CI:-}" = true ]; then tools/unchanged.sh $BIN/nbdev_export; else $BIN/nbdev_export; fi
$BIN/python tools/docs/proc.py
rm -rf "$DOCS_WORK" && mkdir -p "$DOCS_WORK/static/mathjax/fonts/mathjax-newcm-font"
# MathJax's TeX-to-CommonHTML bundle, what it loads on demand (TeX extensions, menu, speech) and its font
(cd "$CACHE/node_modules/mathjax" && cp -r tex-chtml.js input output ui a11y adaptors sre "$DOCS_WORK/static/mathjax/")
(cd "$CACHE/node_modules/@mathjax/mathjax-newcm-font" && cp -r chtml.js chtml "$DOCS_WORK/static/mathjax/fonts/mathjax-newcm-font/")
$BIN/python tools/docs/convert.py "$DOCS_WORK/src"
# built inside $DOCS_WORK, then moved: myst-nb writes its jupyter_execute/ beside the output folder
$BIN/sphinx-build -W --keep-going -q -b html -c tools/docs -d "$DOCS_WORK/doctrees" "$DOCS_WORK/src" "$DOCS_WORK/html"
touch "$DOCS_WORK/html/.nojekyll" && rm -rf "$OUT" && mkdir -p "$(dirname "$OUT")" && mv "$DOCS_WORK/html" "$OUT"
echo "docs build: site in $OUT/ ($(find "$OUT" -maxdepth 1 -name '*.html' | wc -l) pages); open $OUT/index.html"
