#!/usr/bin/env bash
# usage: tools/unchanged.sh CMD [ARGS...]
# Runs CMD and fails if it changed the work tree (tracked files, or new untracked files that git does not ignore).
# `make test` uses it for `nbdev_export` and `nbdev_clean`: the notebooks are the source of emtheory/, and their
# committed form is the cleaned one, so both commands must leave a committed tree as it is.
set -euo pipefail
snap() { { git diff HEAD --binary -- . ; git ls-files --others --exclude-standard; } | md5sum; }
before=$(snap)
"$@"
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "FAILED: '$*' changed the tree (the notebooks are the source: run it, review the diff and commit it):" >&2
  git status --short >&2
  exit 1
fi
echo "ok: '$*' left the tree unchanged"
