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

/* Assertions for loops of many thousand checks. A passing ck_assert* is not free: Check sends
 * its file and line to the runner (a write() per assertion, the test's "last checkpoint"), and
 * test_merkle's loops of hundreds of thousands of them were most of its time under ASan. These
 * check the same and fail with Check's message; only a failure reaches Check. Each argument is
 * evaluated once. */
#define TEST_ASSERT(EXPR)                                             \
	do {                                                          \
		if (!(EXPR))                                          \
			ck_abort_msg("Assertion '%s' failed", #EXPR); \
	} while (0)
#define TEST_ASSERT_MSG(EXPR, ...)                 \
	do {                                       \
		if (!(EXPR))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)
#define TEST_ASSERT_INT(X, OP, Y)                                                   \
	do {                                                                        \
		intmax_t test_x_ = (X), test_y_ = (Y);                              \
		if (!(test_x_ OP test_y_))                                          \
			ck_abort_msg("Assertion '%s' failed: %s == %jd, %s == %jd", \
			             #X " " #OP " " #Y, #X, test_x_, #Y, test_y_);  \
	} while (0)
#define TEST_ASSERT_UINT(X, OP, Y)                                                  \
	do {                                                                        \
		uintmax_t test_x_ = (X), test_y_ = (Y);                             \
		if (!(test_x_ OP test_y_))                                          \
			ck_abort_msg("Assertion '%s' failed: %s == %ju, %s == %ju", \
			             #X " " #OP " " #Y, #X, test_x_, #Y, test_y_);  \
	} while (0)
#define TEST_ASSERT_MEM_EQ(X, Y, L)                                                             \
	do {                                                                                    \
		const uint8_t *test_x_ = (const uint8_t *)(X), *test_y_ = (const uint8_t *)(Y); \
		size_t test_l_ = (L), test_i_ = 0;                                              \
		while (test_i_ < test_l_ && test_x_[test_i_] == test_y_[test_i_])               \
			test_i_++;                                                              \
		if (test_i_ < test_l_)                                                          \
			ck_abort_msg("Assertion '%s == %s' failed: byte %zu of %zu differs "    \
			             "(%02x, %02x)",                                            \
			             #X, #Y, test_i_, test_l_, test_x_[test_i_],                \
			             test_y_[test_i_]);                                         \
	} while (0)
