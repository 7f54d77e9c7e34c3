#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when a C source differs from .clang-format's style (run by meson test, suite style).
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
# shellcheck disable=SC2086
clang-format --dry-run -Werror $files
