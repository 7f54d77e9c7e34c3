#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package evidentd from the committed tree (HEAD, as a clean clone has it):
#   tools/build-deb.sh [OUTDIR]      (default build-deb/)
# writes OUTDIR/evidentd_<version>_<arch>.deb and OUTDIR/lintian.txt, and fails when lintian
# reports an error. Installs what it needs first (tools/install-deps.sh build, debhelper,
# lintian; sudo when not root). The packaging lives in tools/debian/; it is copied to debian/
# in a temporary copy of the tree, never into this one. Uncommitted changes are not packaged.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=${1:-build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/evidentd_*.deb

tools/install-deps.sh build
missing=""
for p in debhelper dh-python dpkg-dev fakeroot lintian; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "build-deb: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        $missing > /dev/null 2>&1
fi

version=$(sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" meson.build | head -n 1)
[ -n "$version" ] || { echo "build-deb: no version in meson.build" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evidentd-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src="$tmp/evidentd-$version"
mkdir "$src"
git archive --format=tar HEAD | tar -x -C "$src"
cp -r tools/debian "$src/debian"

# A native package's changelog: one entry for this commit, dated by it (reproducible).
commit=$(git rev-parse --short HEAD)
date=$(git log -1 --format=%aD HEAD)
cat > "$src/debian/changelog" <<EOF
evidentd ($version) unstable; urgency=medium

  * Built from git commit $commit.

 -- evidentd developers <evidentd@example.org>  $date
EOF

echo "build-deb: building evidentd $version from $commit in $src"
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log"
    echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="evidentd_${version}_${arch}.deb"
mv "$tmp/$deb" "$out/$deb"
echo "build-deb: $out/$deb ($(( $(date +%s) - start )) s)"

# --fail-on error: warnings are listed (tools/debian/README.md says why any is left)
lintian --fail-on error --tag-display-limit 0 "$out/$deb" > "$out/lintian.txt" 2> /dev/null || {
    cat "$out/lintian.txt"
    echo "build-deb: lintian reports errors" >&2
    exit 1
}
if [ -s "$out/lintian.txt" ]; then
    echo "build-deb: lintian (no errors):"
    sed 's/^/  /' "$out/lintian.txt"
fi
cd "$top"
