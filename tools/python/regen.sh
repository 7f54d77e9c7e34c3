#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Regenerates tools/python/evident/evident_pb2.py from proto/evident.proto.
#   tools/python/regen.sh            rewrite the committed module in place
#   tools/python/regen.sh OUTDIR     write OUTDIR/evident_pb2.py instead (used by the test that
#                                    checks the committed file is current)
# Needs protoc (Debian: protobuf-compiler, the same 3.21 release as python3-protobuf). Run it
# after every change to proto/evident.proto and commit the result with the .proto change.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$here/evident"}
if ! command -v protoc >/dev/null 2>&1; then
    echo "regen.sh: protoc not found (apt-get install protobuf-compiler)" >&2
    exit 2
fi
# -I proto: the descriptor is registered as "evident.proto", as the C side names it.
exec protoc -I "$root/proto" --python_out="$out" "$root/proto/evident.proto"
