#!/usr/bin/env bash
# Makes the conformance fuzzer ready: a virtualenv (default .venv-fuzz/ at the repo root, or
# $SCHEMATHESIS_VENV) with the pinned requirements.txt installed from PyPI. Idempotent and fast
# when it is already there (a stamp records which requirements it holds). Fails loudly, never
# skips: .ci/run calls it before `npm test`, and the conformance test calls it when the venv is
# missing or stale. Prints the schemathesis executable's path last.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SCHEMATHESIS_VENV:-$repo/.venv-fuzz}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/schemathesis"
  exit 0
fi

fail() {
  echo "install-schemathesis: $*" >&2
  exit 1
}
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (Debian: apt-get install python3 python3-venv)"
python3 -c 'import venv, ensurepip' 2>/dev/null || fail "python3 cannot create virtualenvs (Debian: apt-get install python3-venv)"
echo "install-schemathesis: creating $venv with $(python3 --version) and installing $requirements" >&2
python3 -m venv --clear "$venv" || fail "python3 -m venv $venv failed"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2 ||
  fail "pip could not install $requirements from PyPI (network? proxy?)"
"$venv/bin/schemathesis" --version >&2 || fail "schemathesis does not run after installing"
echo "$want" >"$stamp"
echo "$venv/bin/schemathesis"
