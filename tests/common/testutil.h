/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the C tests: temporary folders and a Check runner with TAP output. */
#pragma once

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Creates a fresh folder under $TMPDIR (or /tmp); returns a malloc'd path. Aborts the test on
 * failure. */
char *test_tmpdir(const char *tag);
/* Removes a folder tree (best effort). */
void test_rmrf(const char *path);
/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on failure. */
char *test_read_file(const char *path, size_t *ret_len);
/* Runs a suite with TAP on stdout; returns the process exit status. */
int test_run_suite(Suite *s);
/* Deterministic xorshift64* generator for test data. */
uint64_t test_rand(uint64_t *state);
