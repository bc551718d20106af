#!/usr/bin/env bash
# pnpm package:agent: tripwire-agent as one executable and as a .deb, in dist/tripwire-agent/:
#   tripwire-agent_<version>_<arch>.deb  the binary, its companions, the systemd unit, the default
#                                        config; its scripts make the tripwire user
#   root/                                the package's tree: root/usr/bin/tripwire-agent is the single
#                                        executable (a copy of this node + the bundle); it finds its
#                                        companions (re2.node, default-rules.yaml) in
#                                        ../lib/tripwire-agent, so it runs from here as installed
# Steps: esbuild bundle (bundle.mjs) -> SEA blob (node --experimental-sea-config) -> postject
# into a copy of node -> tree -> dpkg-deb --build. Needs node 20 (its re2.node must match: the
# one pnpm install compiled for this node), dpkg-deb. The version is package.json's, the
# architecture dpkg's.
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  '') ;;
  -h | --help) usage && exit 0 ;;
  *) { echo "unknown argument: $1 (pnpm package:agent takes none)"; echo; usage; } >&2 && exit 2 ;;
esac
agent="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$agent/../.." && pwd)"
out="$repo/dist/tripwire-agent"
pkg="$agent/packaging"
started=$(date +%s%N)
say() { printf 'package:agent  %-44s %5d ms\n' "$1" $((($(date +%s%N) - started) / 1000000)); }

for tool in node dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "package:agent: $tool is required" >&2; exit 1; }
done
version=$(node -p "require('$agent/package.json').version")
arch=$(dpkg --print-architecture)
# The addon the bundle loads at run time: the one this workspace compiled (pnpm install).
re2_node=$(cd "$agent" && node -p "require.resolve('re2/build/Release/re2.node')")

rm -rf "$out"
mkdir -p "$out/build"
node "$pkg/bundle.mjs" "$out/build/agent.cjs" >/dev/null
say "bundle (esbuild)"
(cd "$out" && node --experimental-sea-config "$pkg/sea-config.json" >"$out/build/sea.log" 2>&1) || { cat "$out/build/sea.log" >&2; exit 1; }
say "SEA blob (node --experimental-sea-config)"
root="$out/root"
exe="$root/usr/bin/tripwire-agent"
install -D -m 0755 "$(command -v node)" "$exe"
# Node's release binary keeps its static symbol table (11 MB); its dynamic symbols, which re2.node
# links against, stay.
if command -v strip >/dev/null; then strip --strip-unneeded "$exe"; fi
# The sentinel Node's docs give for its SEA fuse. postject warns "Can't find string offset for
# section name '.note…'" on Node's Linux binary, harmlessly: its output shows only on failure.
if ! (cd "$agent" && pnpm exec postject "$exe" NODE_SEA_BLOB "$out/build/sea-prep.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2) >"$out/build/postject.log" 2>&1; then
  cat "$out/build/postject.log" >&2
  exit 1
fi
say "postject into a copy of node $(node -v)"
install -D -m 0644 "$re2_node" "$root/usr/lib/tripwire-agent/re2.node"
# node-gyp's build keeps its symbols: 20 MB, most of it debug information nobody reads.
if command -v strip >/dev/null; then strip --strip-unneeded "$root/usr/lib/tripwire-agent/re2.node"; fi
install -D -m 0644 "$agent/default-rules.yaml" "$root/usr/lib/tripwire-agent/default-rules.yaml"
# Debian bookworm keeps packaged units in /lib/systemd/system (the /usr-merge moratorium).
install -D -m 0644 "$repo/infra/systemd/tripwire-agent.service" "$root/lib/systemd/system/tripwire-agent.service"
install -d -m 0700 "$root/etc/tripwire-agent"
install -m 0600 "$pkg/agent.env" "$root/etc/tripwire-agent/agent.env"
install -d -m 0755 "$root/DEBIAN"
size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE_KB@/$size_kb/" \
  "$pkg/debian/control" >"$root/DEBIAN/control"
install -m 0644 "$pkg/debian/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "$pkg/debian/$script" "$root/DEBIAN/$script"; done

deb="$out/tripwire-agent_${version}_${arch}.deb"
# gzip -1: 4 s here against 40 s for xz, for 45 MB against 33 MB (the payload is mostly node
# itself), and every dpkg reads it (zstd needs dpkg 1.21.18+: not Debian 11).
dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$deb" >/dev/null
say "dpkg-deb --build"
rm -rf "$out/build"
echo "package:agent  $exe ($(du -h "$exe" | cut -f1)), $deb ($(du -h "$deb" | cut -f1))"
