#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The Debian package as an admin meets it: `apt-get install ./evidentd_*.deb`, then the
# installed programs at work (evidentd on a vault in a temp folder, fed through the installed
# Python module by /usr/bin/python3; evidentctl verify; a C program built against libevident
# with pkg-config), then `apt-get purge`, after which no file of the package is left and
# /etc/evidentd is gone.
#   EVIDENT_DEB=PATH: the package to test (tests/run.sh builds it once with
#   tools/build-deb.sh); without it the test builds one itself (minutes).
# Skipped (exit 77, reason printed) when not root, without apt-get, in a sanitizer build
# (EVIDENT_SANITIZE), or when a package evidentd is already installed (never touched).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)

skip() { echo "test_deb: SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
command -v apt-get > /dev/null || skip "no apt-get (not a Debian system)"
case "${EVIDENT_SANITIZE:-none}" in none | '') ;; *) skip "sanitizer build (the package is built without)" ;; esac
if dpkg-query -W -f='${Status}' evidentd 2> /dev/null | grep -q "ok installed"; then
    skip "a package evidentd is installed on this machine: this test would remove it"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-deb.XXXXXX")
daemon=""
cleanup() {
    [ -n "$daemon" ] && kill -TERM "$daemon" 2> /dev/null || true
    if dpkg-query -W -f='${Status}' evidentd 2> /dev/null | grep -q "installed"; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq evidentd > /dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }

deb=${EVIDENT_DEB:-}
if [ -z "$deb" ]; then
    echo "test_deb: building the package (tools/build-deb.sh $tmp/deb)"
    "$src/tools/build-deb.sh" "$tmp/deb"
    deb=$(ls "$tmp"/deb/evidentd_*.deb)
fi
[ -f "$deb" ] || fail "no package at $deb"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")

# What the package holds, and which of its folders exist already (they stay after purge).
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/*$' \
    | sort > "$tmp/contents"
: > "$tmp/existing"
while read -r p; do
    if [ -e "$p" ] || [ -L "$p" ]; then echo "$p" >> "$tmp/existing"; fi
done < "$tmp/contents"
state_existed=no
[ -e /var/lib/evidentd ] && state_existed=yes

echo "test_deb: apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" > "$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"
    fail "apt-get install failed"
}
dpkg -L evidentd | grep -v '^/\.$' | sort > "$tmp/listed"
cmp -s "$tmp/listed" "$tmp/contents" || {
    diff "$tmp/contents" "$tmp/listed" | head -n 20
    fail "dpkg -L differs from the package's contents"
}

# the files an admin expects
for f in /usr/bin/evidentd /usr/bin/evidentctl /usr/bin/evident-oracle \
    /lib/systemd/system/evidentd.service /lib/systemd/system/evidentd.socket \
    /usr/lib/sysusers.d/evidentd.conf /usr/lib/tmpfiles.d/evidentd.conf \
    /usr/share/man/man8/evidentd.8.gz /usr/share/man/man1/evidentctl.1.gz \
    /usr/share/man/man5/evidentd.conf.5.gz /usr/include/evident.h; do
    [ -e "$f" ] || fail "$f is not installed"
done
grep -q '^/etc/evidentd/evidentd.conf$' /var/lib/dpkg/info/evidentd.conffiles ||
    fail "/etc/evidentd/evidentd.conf is not a conffile"
if grep -v '^[[:space:]]*[;#]' /etc/evidentd/evidentd.conf | grep -q '[^[:space:]]'; then
    fail "/etc/evidentd/evidentd.conf has a line that is not a comment"
fi
/usr/bin/evidentd --check-config --config /etc/evidentd/evidentd.conf > /dev/null ||
    fail "evidentd --check-config refuses the installed configuration"
getent passwd evidentd > /dev/null || fail "no system user evidentd (sysusers.d)"
for unit in multi-user.target.wants/evidentd.service sockets.target.wants/evidentd.socket; do
    [ ! -e "/etc/systemd/system/$unit" ] || fail "$unit: enabled on install"
done

# libevident: SONAME, pkg-config, a program linked against it
soname=$(objdump -p /usr/lib/*/libevident.so.1 | awk '/SONAME/ {print $2}')
[ "$soname" = libevident.so.1 ] || fail "libevident's SONAME is '$soname'"
printf '#include <stddef.h>\n#include <evident.h>\nint main(void) { evident_client_free(NULL); return 0; }\n' > "$tmp/c.c"
# shellcheck disable=SC2046
cc -o "$tmp/c" "$tmp/c.c" $(pkg-config --cflags --libs evident) ||
    fail "a program does not build with pkg-config --cflags --libs evident"
"$tmp/c" || fail "a program linked against the installed libevident does not run"

# The installed daemon, fed by the installed Python module (cwd /, no PYTHONPATH)
echo "test_deb: /usr/bin/evidentd on $tmp/vault with the demo's configuration"
/usr/bin/evidentd --vault "$tmp/vault" --socket "$tmp/ingest.sock" \
    --config "$src/tools/demo/evidentd-demo.conf" 2> "$tmp/evidentd.log" &
daemon=$!
(cd / && env -u PYTHONPATH -u PYTHONDONTWRITEBYTECODE /usr/bin/python3 - "$tmp/ingest.sock" "$tmp/model.json") << 'EOF' ||
import json, os, sys, time
import evident
assert evident.__file__.startswith('/usr/lib/python3/dist-packages/evident/'), evident.__file__
sock, artifact = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while not os.path.exists(sock):
    assert time.monotonic() < deadline, 'evidentd did not create its socket within 60 s'
    time.sleep(0.05)
with open(artifact, 'w') as f:
    json.dump({'intercept': 0.1, 'coef': [0.5, -0.25], 'link': 'logit',
               'feature_names': ['a', 'b']}, f)
manifest = {'model_id': 'pkg-test', 'version': '1', 'framework': 'linear-json',
            'output_space': 'probability',
            'decision': {'kind': 'threshold', 'threshold': 0.5,
                         'label_below': 'allow', 'label_above': 'deny'},
            'features': [{'name': n, 'type': 'numeric', 'min': 0.0, 'max': 100.0}
                         for n in ('a', 'b')],
            'lineage': {'code_uri': 'https://example.com/repo', 'code_commit': 'abc123'}}
with evident.Client(sock, client_name='test-deb') as c:
    c.register(manifest, artifact)
    for i in range(20):
        ack = c.record_sync(model_id='pkg-test', model_version='1', features=[i, 1.0],
                            scores=[0.5], decision='allow', timeout=30)
    print('test_deb: 20 records acknowledged, the last as seq', ack.seq)
EOF
    { cat "$tmp/evidentd.log"; fail "the installed Python module could not record"; }
kill -TERM "$daemon"
wait "$daemon" || { cat "$tmp/evidentd.log"; fail "evidentd did not stop cleanly"; }
daemon=""
/usr/bin/evidentctl --vault "$tmp/vault" verify > "$tmp/verify.txt" ||
    { cat "$tmp/verify.txt"; fail "evidentctl verify failed on the installed daemon's vault"; }
records=$(/usr/bin/evidentctl --vault "$tmp/vault" status --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["entries_by_type"].get("record", 0))')
[ "$records" = 20 ] || fail "the vault holds $records records, not 20"

echo "test_deb: apt-get purge evidentd"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq evidentd > "$tmp/purge.log" 2>&1 || {
    cat "$tmp/purge.log"
    fail "apt-get purge failed"
}
left=""
while read -r p; do
    if { [ -e "$p" ] || [ -L "$p" ]; } && ! grep -qxF "$p" "$tmp/existing"; then
        left="$left $p"
    fi
done < "$tmp/contents"
[ -z "$left" ] || fail "left after purge:$left"
[ ! -e /etc/evidentd ] || fail "/etc/evidentd is left after purge"
if [ "$state_existed" = no ] && [ -e /var/lib/evidentd ]; then
    fail "the empty /var/lib/evidentd is left after purge"
fi
[ -z "$(ls /var/lib/dpkg/info/evidentd.* 2> /dev/null)" ] || fail "dpkg still lists evidentd"
echo "test_deb: OK ($(wc -l < "$tmp/contents") paths installed, none left after purge)"
