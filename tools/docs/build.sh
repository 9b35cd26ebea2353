#!/usr/bin/env bash
# Build the offline documentation site into _docs/ (or $DOCS_OUT) from the notebooks in nbs/, with no network at build
# or view time:
#   nbdev_export -> nbdev's own processing into _proc/ (tools/docs/proc.py: nbdev_proc_nbs without its Quarto install)
#   -> tools/docs/convert.py (Quarto cell options -> myst-nb tags, nbdev page names, sidebar order, API reference page)
#   -> sphinx-build -W (myst-nb + sphinx-book-theme; a warning fails the build) with MathJax 4 served from _static
#   -> tools/docs/search_texts.py (search excerpts that work when the site is opened from disk).
# Run from anywhere; uses the project's .venv (make docs creates it). MathJax comes from npm into $DOCS_CACHE once.
set -euo pipefail
cd "$(dirname "$0")/../.."
MATHJAX_VERSION=4.1.3
BIN=.venv/bin
OUT=${DOCS_OUT:-_docs}
export DOCS_WORK=$(realpath -m "${DOCS_WORK:-build/docs}")
CACHE=${DOCS_CACHE:-.venv/docs-cache}

MJ=$CACHE/mathjax-$MATHJAX_VERSION/node_modules/mathjax
if [ ! -f "$MJ/tex-chtml.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "docs build: installing Debian's npm (needed once, to fetch mathjax@$MATHJAX_VERSION)"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
  fi
  mkdir -p "$CACHE/mathjax-$MATHJAX_VERSION"
  npm install --silent --no-audit --no-fund --no-save --prefix "$CACHE/mathjax-$MATHJAX_VERSION" "mathjax@$MATHJAX_VERSION"
fi

# In CI the export must change nothing (as `make test` requires), or this build would hide a stale export from it
if [ "${CI:-}" = true ]; then tools/unchanged.sh $BIN/nbdev_export; else $BIN/nbdev_export; fi
$BIN/python tools/docs/proc.py
rm -rf "$DOCS_WORK"
mkdir -p "$DOCS_WORK/static/mathjax"
# MathJax's TeX-to-CommonHTML bundle plus what it loads on demand (TeX extensions, menu, speech), and its font
(cd "$MJ" && cp -r tex-chtml.js input output ui a11y adaptors sre "$DOCS_WORK/static/mathjax/")
mkdir -p "$DOCS_WORK/static/mathjax/fonts/mathjax-newcm-font"
(cd "$MJ/../@mathjax/mathjax-newcm-font" && cp -r chtml.js chtml "$DOCS_WORK/static/mathjax/fonts/mathjax-newcm-font/")
$BIN/python tools/docs/convert.py "$DOCS_WORK/src"
# built inside $DOCS_WORK, then moved: myst-nb writes its jupyter_execute/ beside the output folder
$BIN/sphinx-build -W --keep-going -q -b html -c tools/docs -d "$DOCS_WORK/doctrees" "$DOCS_WORK/src" "$DOCS_WORK/html"
$BIN/python tools/docs/search_texts.py "$DOCS_WORK/html"
touch "$DOCS_WORK/html/.nojekyll"
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$DOCS_WORK/html" "$OUT"
echo "docs build: site in $OUT/ ($(find "$OUT" -maxdepth 1 -name '*.html' | wc -l) pages); open $OUT/index.html"
