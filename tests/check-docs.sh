#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when a tracked file refers to something outside the repository: the design folder that
# sits beside the checkout (a path starting with two dots and "shared"), or a document whose
# capitalised name ends in .md (as the project names its documents) that is not a tracked file.
# A citation with a folder (vault/FORMAT.md) must name a tracked file from the top of the
# repository or from the citing file's folder; a bare name (FORMAT.md §2) must be the name of a
# tracked file somewhere. Run by meson test, suite style; skipped outside a git checkout.
set -eu
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "skipped: not a git checkout (the check reads the list of tracked files)"
	exit 77
fi
status=0

if git grep -n -I -E '\.\./shared' -- .; then
	echo "check-docs: the lines above refer to a folder outside the repository" >&2
	status=1
fi

# Every citation as "path:citation" after the tracked files' paths, in one awk.
{
	git ls-files | sed 's/^/tracked:/'
	git grep -I -o -E '[A-Za-z0-9_./-]*[A-Z][A-Z0-9_-]*\.md' -- . || true
} | awk '
# a/b/../c -> a/c; a path that climbs above the top keeps its leading ".."
function normal(p,    n, i, k, part, out) {
	n = split(p, part, "/")
	k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "" || part[i] == ".")
			continue
		if (part[i] == ".." && k > 0 && out[k] != "..") {
			k--
			continue
		}
		out[++k] = part[i]
	}
	p = ""
	for (i = 1; i <= k; i++)
		p = p (i > 1 ? "/" : "") out[i]
	return p
}
/^tracked:/ {
	path = substr($0, 9)
	have[path] = 1
	base = path
	sub(/.*\//, "", base)
	name[base] = 1
	next
}
{
	i = index($0, ":")
	file = substr($0, 1, i - 1)
	doc = substr($0, i + 1)
	if (doc !~ /\//) {
		if (doc in name)
			next
	} else {
		dir = file
		if (!sub(/\/[^\/]*$/, "", dir))
			dir = ""
		if (normal(doc) in have || normal(dir "/" doc) in have)
			next
	}
	printf "%s: cites %s, which is not a tracked file of this repository\n", file, doc
	bad = 1
}
END { exit bad }
' >&2 || status=1
exit $status
