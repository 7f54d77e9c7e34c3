/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the C2SP tlog-tiles export (vault/tiles.c): tile paths; tile and bundle
 * contents checked against the vault and a root recomputed from the files alone, for tree sizes
 * around tile boundaries; incremental runs (exact files written, full tiles never rewritten,
 * superseded partials deleted); the checkpoint written last; refusals (another log, a fork, a
 * rollback, a locked folder); a damaged vault never published; an export beside the writer. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tamper.h"
#include "testutil.h"
#include "vault.h"

#define W (VAULT_OPEN_WRITE | VAULT_OPEN_CREATE)

static struct vault *open_origin(const char *dir, const char *origin)
{
	struct vault_options o = {.origin = origin};
	struct vault *v = NULL;
	int rc = vault_open(dir, W, &o, &v);
	ck_assert_msg(rc == 0, "vault_open(%s): %s", dir, strerror(-rc));
	return v;
}

static void append_n(struct vault *v, uint64_t n, int tag)
{
	enum { BATCH = 4096 };
	static struct vault_entry_in in[BATCH];
	static struct vault_append_result res[BATCH];
	static char buf[BATCH][48];

	while (n > 0) {
		size_t k = n < BATCH ? (size_t)n : BATCH;
		for (size_t i = 0; i < k; i++) {
			in[i].type = VAULT_ENTRY_RECORD;
			in[i].payload = buf[i];
			in[i].payload_len =
			    (size_t)snprintf(buf[i], sizeof(buf[i]), "tile test %d/%zu", tag, i);
		}
		ck_assert_int_eq(vault_append(v, in, k, res), 0);
		n -= k;
	}
}

static char *sign(struct vault *v)
{
	char *note = NULL;
	ck_assert_int_eq(vault_checkpoint_sign(v, &note), 0);
	return note;
}

static int export(struct vault *v, const char *note, const char *dir, unsigned flags,
                  struct vault_tiles_stats *st)
{
	struct vault_reader *r;
	int rc;

	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	rc = vault_tiles_export(r, note, strlen(note), dir, flags, st);
	vault_reader_end(r);
	return rc;
}

static char *path_of(const char *dir, int level, uint64_t n, unsigned width)
{
	char p[VAULT_TILE_PATH_MAX], *full;
	ck_assert_int_gt(vault_tile_path(level, n, width, p, sizeof(p)), 0);
	ck_assert_int_ge(asprintf(&full, "%s/%s", dir, p), 0);
	return full;
}

static char *read_at(const char *dir, const char *rel, size_t *len)
{
	char *p, *data;
	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, rel), 0);
	data = test_read_file(p, len);
	free(p);
	return data;
}

/* Files an export from a folder whose checkpoint has size old (0: none) to size writes. A
 * level whose hash count did not change keeps its partial tile. */
static uint64_t files_for(uint64_t old, uint64_t size)
{
	uint64_t n = 1; /* the checkpoint */

	for (unsigned l = 0; l < 8 && size >> (8 * l); l++) {
		uint64_t c = size >> (8 * l), oc = old >> (8 * l);
		uint64_t f = c / 256 - oc / 256 + (c % 256 != 0 && c != oc);
		n += l == 0 ? 2 * f : f;
	}
	return n;
}

/* ------------------------------------------------------------------ reading a tiles folder */

struct folder {
	const char *dir;
	uint64_t size;
};

/* The hash at level l, index i, read from the tile holding it (full, or the right edge's). */
static void tile_hash(const struct folder *f, unsigned l, uint64_t i, uint8_t out[32])
{
	uint64_t count = f->size >> (8 * l), n = i / 256;
	unsigned w = n < count / 256 ? 256 : (unsigned)(count % 256);
	size_t len;
	char *p = path_of(f->dir, (int)l, n, w), *data;

	TEST_ASSERT_UINT(i, <, count);
	data = test_read_file(p, &len);
	TEST_ASSERT_MSG(data, "%s missing", p);
	TEST_ASSERT_UINT(len, ==, (size_t)w * 32);
	memcpy(out, data + (i % 256) * 32, 32);
	free(data);
	free(p);
}

/* RFC 6962 MTH of the leaves [lo, hi) from the tiles alone: a perfect aligned subtree whose
 * height is a multiple of 8 is a tile hash, everything else is hashed here. */
static void files_mth(const struct folder *f, uint64_t lo, uint64_t hi, uint8_t out[32])
{
	uint64_t n = hi - lo, k = 1;
	uint8_t l[32], r[32];

	if (n == 0) {
		vault_hash_empty(out);
		return;
	}
	if ((n & (n - 1)) == 0 && lo % n == 0 && __builtin_ctzll(n) % 8 == 0) {
		unsigned level = (unsigned)__builtin_ctzll(n) / 8;
		tile_hash(f, level, lo >> (8 * level), out);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	files_mth(f, lo, lo + k, l);
	files_mth(f, lo + k, hi, r);
	TEST_ASSERT_INT(vault_hash_children(l, r, out), ==, 0);
}

static void perfect(const uint8_t *hashes, size_t n, uint8_t out[32])
{
	uint8_t l[32], r[32];

	if (n == 1) {
		memcpy(out, hashes, 32);
		return;
	}
	perfect(hashes, n / 2, l);
	perfect(hashes + n / 2 * 32, n / 2, r);
	TEST_ASSERT_INT(vault_hash_children(l, r, out), ==, 0);
}

static uint64_t walk_count;
static int count_file(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	TEST_ASSERT_MSG(strstr(p, "/.") == NULL, "temporary file left: %s", p);
	if (flag == FTW_F)
		walk_count++;
	return 0;
}

static uint64_t count_files(const char *dir)
{
	walk_count = 0;
	nftw(dir, count_file, 16, FTW_PHYS);
	return walk_count;
}

/* Checks a tiles folder for checkpoint note against the vault: every hash and entry, every
 * level above against the tile below, the root from the files, and no file but those the
 * checkpoint needs plus `extra` older partial tiles. */
static void check_folder(struct vault *v, const char *note, const char *dir, uint64_t extra)
{
	struct vault_checkpoint cp;
	struct vault_reader *r;
	struct vault_entry e;
	uint8_t root[32], h[32];
	size_t len;
	char *cpfile;

	TEST_ASSERT_INT(vault_checkpoint_parse(note, strlen(note), NULL, &cp), ==, 0);
	struct folder f = {dir, cp.size};
	cpfile = read_at(dir, "checkpoint", &len);
	ck_assert_ptr_nonnull(cpfile);
	ck_assert_str_eq(cpfile, note);
	free(cpfile);
	TEST_ASSERT_INT(vault_reader_begin(v, &r), ==, 0);
	/* level 0 and the bundles */
	for (uint64_t n = 0; n * 256 < cp.size; n++) {
		unsigned w = cp.size - n * 256 >= 256 ? 256 : (unsigned)(cp.size - n * 256);
		char *tp = path_of(dir, 0, n, w), *bp = path_of(dir, VAULT_TILE_ENTRIES, n, w);
		size_t tlen, blen;
		uint8_t *tile = (uint8_t *)test_read_file(tp, &tlen);
		uint8_t *bundle = (uint8_t *)test_read_file(bp, &blen);
		TEST_ASSERT_MSG(tile && bundle, "%s or %s missing", tp, bp);
		TEST_ASSERT_UINT(tlen, ==, (size_t)w * 32);
		TEST_ASSERT_UINT(blen, ==, (size_t)w * (2 + VAULT_LEAF_LEN));
		for (unsigned i = 0; i < w; i++) {
			const uint8_t *entry = bundle + (size_t)i * (2 + VAULT_LEAF_LEN);
			uint8_t enc[VAULT_LEAF_LEN];
			TEST_ASSERT_INT(vault_get(r, n * 256 + i, &e), ==, 0);
			TEST_ASSERT_MEM_EQ(tile + (size_t)i * 32, e.leaf_hash, 32);
			TEST_ASSERT_UINT(entry[0] << 8 | entry[1], ==, VAULT_LEAF_LEN);
			vault_leaf_encode(&e.leaf, enc);
			TEST_ASSERT_MEM_EQ(entry + 2, enc, VAULT_LEAF_LEN);
			TEST_ASSERT_INT(vault_hash_leaf(entry + 2, VAULT_LEAF_LEN, h), ==, 0);
			TEST_ASSERT_MEM_EQ(h, tile + (size_t)i * 32, 32);
		}
		free(tile);
		free(bundle);
		free(tp);
		free(bp);
	}
	/* every hash above level 0 is the MTH of the full tile below it */
	for (unsigned l = 1; l < 8 && cp.size >> (8 * l); l++)
		for (uint64_t i = 0; i < cp.size >> (8 * l); i++) {
			char *cp_path = path_of(dir, (int)l - 1, i, 256);
			uint8_t *child = (uint8_t *)test_read_file(cp_path, &len);
			TEST_ASSERT_MSG(child && len == 256 * 32, "%s", cp_path);
			perfect(child, 256, root);
			tile_hash(&f, l, i, h);
			TEST_ASSERT_MEM_EQ(h, root, 32);
			free(child);
			free(cp_path);
		}
	files_mth(&f, 0, cp.size, root);
	TEST_ASSERT_MEM_EQ(root, cp.root, 32);
	TEST_ASSERT_INT(vault_root(r, cp.size, h), ==, 0);
	TEST_ASSERT_MEM_EQ(root, h, 32);
	vault_reader_end(r);
	TEST_ASSERT_UINT(count_files(dir), ==, files_for(0, cp.size) + extra);
}

/* ------------------------------------------------------------------ vault_tile_path */

START_TEST(vault_tile_path_encodes_levels_indexes_and_widths)
{
	static const struct {
		int level;
		uint64_t index;
		unsigned width;
		const char *path;
	} cases[] = {
	    {0, 0, 256, "tile/0/000"},
	    {0, 7, 1, "tile/0/007.p/1"},
	    {0, 999, 256, "tile/0/999"},
	    {0, 1000, 256, "tile/0/x001/000"},
	    {3, 1234067, 256, "tile/3/x001/x234/067"},
	    {3, 1234067, 5, "tile/3/x001/x234/067.p/5"},
	    {63, 1000000, 255, "tile/63/x001/x000/000.p/255"},
	    {VAULT_TILE_ENTRIES, 0, 256, "tile/entries/000"},
	    {VAULT_TILE_ENTRIES, 272, 112, "tile/entries/272.p/112"},
	    {VAULT_TILE_ENTRIES, UINT64_MAX, 255,
	     "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255"},
	};
	char buf[VAULT_TILE_PATH_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = vault_tile_path(cases[i].level, cases[i].index, cases[i].width, buf,
		                        sizeof(buf));
		ck_assert_int_eq(n, (int)strlen(cases[i].path));
		ck_assert_str_eq(buf, cases[i].path);
	}
	/* the longest path fits VAULT_TILE_PATH_MAX */
	ck_assert_int_lt(vault_tile_path(VAULT_TILE_ENTRIES, UINT64_MAX, 255, buf, sizeof(buf)),
	                 VAULT_TILE_PATH_MAX);
	ck_assert_int_eq(vault_tile_path(0, 0, 0, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vault_tile_path(0, 0, 257, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vault_tile_path(64, 0, 256, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vault_tile_path(-2, 0, 256, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vault_tile_path(0, 1234067, 256, buf, 20), -ENOBUFS);
	ck_assert_int_eq(vault_tile_path(0, 1234067, 256, buf, 21), 20);
}
END_TEST

/* ------------------------------------------------------------------ vault_tiles_export */

START_TEST(vault_tiles_export_matches_the_vault_at_tile_boundaries)
{
	static const uint64_t sizes[] = {0, 1, 255, 256, 257, 511, 512, 65535, 65536, 65537};
	char *base = test_tmpdir("tiles-sizes"), vdir[512], incr[512];
	struct vault_tiles_stats st;
	struct vault *v;
	uint64_t have = 0;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(incr, sizeof(incr), "%s/incremental", base);
	v = open_origin(vdir, "tiles.test/sizes");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char fresh[600], *note;
		uint64_t prev = have;

		append_n(v, sizes[i] - have, (int)i);
		have = sizes[i];
		note = sign(v);
		/* into an empty folder */
		snprintf(fresh, sizeof(fresh), "%s/fresh-%zu", base, i);
		ck_assert_int_eq(export(v, note, fresh, 0, &st), 0);
		ck_assert_uint_eq(st.size, have);
		ck_assert_uint_eq(st.prev_size, 0);
		ck_assert_uint_eq(st.files_written, files_for(0, have));
		ck_assert_uint_eq(st.files_unchanged, 0);
		ck_assert_uint_eq(st.entries_written, have);
		check_folder(v, note, fresh, 0);
		test_rmrf(fresh);
		/* and into one folder following the log */
		ck_assert_int_eq(export(v, note, incr, 0, &st), 0);
		ck_assert_uint_eq(st.prev_size, prev);
		ck_assert_uint_eq(st.files_written, files_for(prev, have));
		ck_assert_uint_eq(st.files_written + st.files_unchanged, files_for(0, have));
		free(note);
	}
	vault_close(v);
	test_rmrf(base);
	free(base);
}
END_TEST

START_TEST(vault_tiles_export_is_incremental)
{
	char *base = test_tmpdir("tiles-incr"), vdir[512], out[512], *note1, *note2, *p, *q;
	char *first_tile, *first_bundle;
	struct vault_tiles_stats st;
	struct stat before, after;
	struct vault *v;
	size_t len;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	v = open_origin(vdir, NULL);
	append_n(v, 3 * 256 + 10, 1); /* 778: three full tiles, a partial of 10 */
	note1 = sign(v);
	ck_assert_int_eq(export(v, note1, out, 0, &st), 0);
	ck_assert_uint_eq(st.files_written, 2 * 4 + 1 + 1); /* 0-2, 3.p/10; level 1 .p/3 */
	p = path_of(out, 0, 0, 256);
	ck_assert_int_eq(stat(p, &before), 0);
	first_tile = test_read_file(p, &len);
	q = path_of(out, VAULT_TILE_ENTRIES, 0, 256);
	first_bundle = test_read_file(q, &len);

	/* +600 entries: 1378 = 5 full tiles and a partial of 98 */
	append_n(v, 600, 2);
	note2 = sign(v);
	ck_assert_int_eq(export(v, note2, out, 0, &st), 0);
	ck_assert_uint_eq(st.prev_size, 778);
	/* tiles 3 and 4, 5.p/98, twice (hashes and entries); level 1 .p/5; the checkpoint */
	ck_assert_uint_eq(st.files_written, 2 * 3 + 1 + 1);
	ck_assert_uint_eq(st.files_written, files_for(778, 1378));
	ck_assert_uint_eq(st.files_unchanged, 2 * 3);
	ck_assert_uint_eq(st.entries_written, 1378 - 768);
	ck_assert_uint_eq(st.partials_removed, 2); /* 003.p/10 and entries/003.p/10 */
	/* the full tiles of the first run were neither rewritten nor changed */
	ck_assert_int_eq(stat(p, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	ck_assert_int_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	char *again = test_read_file(p, &len);
	ck_assert_mem_eq(again, first_tile, 8192);
	free(again);
	again = test_read_file(q, &len);
	ck_assert_mem_eq(again, first_bundle, 256 * 93);
	free(again);
	/* a tile that became full lost its partial; the right edge's older partial stays */
	free(p);
	p = path_of(out, 0, 3, 10);
	ck_assert_int_eq(access(p, F_OK), -1);
	*strrchr(p, '/') = '\0';
	ck_assert_int_eq(access(p, F_OK), -1); /* the 003.p folder too */
	free(p);
	p = path_of(out, 1, 0, 3);
	ck_assert_int_eq(access(p, F_OK), 0);
	check_folder(v, note2, out, 1);

	/* the same checkpoint again: nothing to write */
	ck_assert_int_eq(export(v, note2, out, 0, &st), 0);
	ck_assert_uint_eq(st.files_written, 0);
	ck_assert_uint_eq(st.files_unchanged, files_for(0, 1378));
	ck_assert_uint_eq(st.bytes_written, 0);
	ck_assert_uint_eq(st.partials_removed, 0);

	free(p);
	free(q);
	free(first_tile);
	free(first_bundle);
	free(note1);
	free(note2);
	vault_close(v);
	test_rmrf(base);
	free(base);
}
END_TEST

START_TEST(vault_tiles_export_recheck_repairs_the_folder)
{
	char *base = test_tmpdir("tiles-recheck"), vdir[512], out[512], *note, *p, *q, *good;
	struct vault_tiles_stats st;
	struct vault *v;
	size_t len;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	v = open_origin(vdir, NULL);
	append_n(v, 1000, 1);
	note = sign(v);
	ck_assert_int_eq(export(v, note, out, 0, &st), 0);
	p = path_of(out, 0, 1, 256);
	q = path_of(out, VAULT_TILE_ENTRIES, 0, 256);
	good = test_read_file(q, &len);
	ck_assert_int_eq(unlink(p), 0);
	/* a flipped byte, same size */
	int fd = open(q, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "\xff", 1, 40), 1);
	close(fd);

	/* trusted: the checkpoint covers them, nothing is read */
	ck_assert_int_eq(export(v, note, out, 0, &st), 0);
	ck_assert_uint_eq(st.files_written, 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	/* read back: both rewritten */
	ck_assert_int_eq(export(v, note, out, VAULT_TILES_RECHECK, &st), 0);
	ck_assert_uint_eq(st.files_written, 2);
	ck_assert_uint_eq(st.files_unchanged, files_for(0, 1000) - 2);
	char *now = test_read_file(q, &len);
	ck_assert_mem_eq(now, good, len);
	free(now);
	check_folder(v, note, out, 0);
	ck_assert_int_eq(export(v, note, out, 42, &st), -EINVAL);

	free(good);
	free(p);
	free(q);
	free(note);
	vault_close(v);
	test_rmrf(base);
	free(base);
}
END_TEST

START_TEST(vault_tiles_export_writes_the_checkpoint_last)
{
	char *base = test_tmpdir("tiles-last"), vdir[512], out[512], *note1, *note2, *p, *cp;
	struct vault_tiles_stats st;
	struct vault *v;
	size_t len;
	int rc;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	v = open_origin(vdir, NULL);
	append_n(v, 778, 1);
	note1 = sign(v);
	ck_assert_int_eq(export(v, note1, out, 0, &st), 0);
	append_n(v, 600, 2);
	note2 = sign(v);
	/* a folder where the new full tile 3 must go: its rename fails (as root too) */
	p = path_of(out, 0, 3, 256);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	rc = export(v, note2, out, 0, &st);
	ck_assert_msg(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST, "rc %d", rc);
	cp = read_at(out, "checkpoint", &len);
	ck_assert_str_eq(cp, note1);
	free(cp);
	ck_assert_uint_eq(count_files(out), files_for(0, 778)); /* nothing else, no temp file */
	/* the obstacle gone, the export completes */
	ck_assert_int_eq(rmdir(p), 0);
	ck_assert_int_eq(export(v, note2, out, 0, &st), 0);
	check_folder(v, note2, out, 1);

	free(p);
	free(note1);
	free(note2);
	vault_close(v);
	test_rmrf(base);
	free(base);
}
END_TEST

START_TEST(vault_tiles_export_refuses_other_logs_forks_and_rollbacks)
{
	char *base = test_tmpdir("tiles-refuse"), a[512], b[512], c[512], out[512], bad[600];
	char *note1, *note2, *note_b, *note_c, *cp;
	struct vault_tiles_stats st;
	struct vault_reader *r;
	struct vault *va, *vb, *vc;
	size_t len;

	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", base);
	snprintf(c, sizeof(c), "%s/c", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	va = open_origin(a, "tiles.test/a");
	vb = open_origin(b, "tiles.test/b");
	vc = open_origin(c, "tiles.test/a"); /* a fork: same origin, other entries */
	append_n(va, 300, 1);
	note1 = sign(va);
	append_n(va, 300, 1);
	note2 = sign(va);
	append_n(vb, 10, 2);
	note_b = sign(vb);
	append_n(vc, 700, 3);
	note_c = sign(vc);

	/* notes that are not this vault's */
	ck_assert_int_eq(vault_reader_begin(va, &r), 0);
	ck_assert_int_eq(vault_tiles_export(r, "not a note\n", 11, out, 0, &st), -EBADMSG);
	ck_assert_int_eq(vault_tiles_export(r, note_b, strlen(note_b), out, 0, &st), -EUCLEAN);
	ck_assert_int_eq(vault_tiles_export(r, note_c, strlen(note_c), out, 0, &st), -ERANGE);
	ck_assert_int_eq(vault_tiles_export(r, note2, strlen(note2), a, 0, &st), -EINVAL);
	vault_reader_end(r);
	ck_assert_int_eq(access(out, F_OK), -1); /* nothing created */

	ck_assert_int_eq(export(va, note2, out, 0, &st), 0);
	/* another log, a fork, an older checkpoint: refused, nothing changed */
	ck_assert_int_eq(export(vb, note_b, out, 0, &st), -EEXIST);
	ck_assert_int_eq(export(vc, note_c, out, 0, &st), -EUCLEAN);
	ck_assert_int_eq(export(va, note1, out, 0, &st), -EALREADY);
	cp = read_at(out, "checkpoint", &len);
	ck_assert_str_eq(cp, note2);
	free(cp);
	check_folder(va, note2, out, 0);

	/* a folder another export holds */
	int fd = open(out, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_int_eq(export(va, note2, out, 0, &st), -EBUSY);
	close(fd);
	ck_assert_int_eq(export(va, note2, out, 0, &st), 0);

	/* a checkpoint beyond the reader's snapshot */
	ck_assert_int_eq(vault_reader_begin(va, &r), 0);
	append_n(va, 5, 4);
	free(note2);
	note2 = sign(va);
	ck_assert_int_eq(vault_tiles_export(r, note2, strlen(note2), out, 0, &st), -ERANGE);
	vault_reader_end(r);

	/* something else where the checkpoint goes */
	snprintf(bad, sizeof(bad), "%s/checkpoint", out);
	fd = open(bad, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "garbage\n", 8), 8);
	close(fd);
	ck_assert_int_eq(export(va, note2, out, 0, &st), -EBADMSG);

	free(note1);
	free(note2);
	free(note_b);
	free(note_c);
	vault_close(va);
	vault_close(vb);
	vault_close(vc);
	test_rmrf(base);
	free(base);
}
END_TEST

START_TEST(vault_tiles_export_never_publishes_a_damaged_vault)
{
	char *base = test_tmpdir("tiles-damage"), vdir[512], out[512], *note;
	struct vault_tiles_stats st;
	struct vault *v;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	v = open_origin(vdir, NULL);
	append_n(v, 600, 1);
	note = sign(v);
	vault_close(v);
	/* a stored level-8 node (the hash of tile 0, unused by the root of 600 entries) */
	ck_assert_int_eq(tamper_node_byte(vdir, 8, 0), 0);
	ck_assert_int_eq(vault_open(vdir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(export(v, note, out, 0, &st), -EUCLEAN);
	vault_close(v);
	ck_assert_uint_eq(count_files(out), 0); /* tile 0 is checked before it is written */
	/* a leaf byte of entry 300 (its stored hash and the tree unchanged) */
	ck_assert_int_eq(tamper_node_byte(vdir, 8, 0), 0); /* flipped back */
	ck_assert_int_eq(tamper_leaf_byte(vdir, 300, 20), 0);
	ck_assert_int_eq(vault_open(vdir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(export(v, note, out, 0, &st), -EUCLEAN);
	vault_close(v);
	ck_assert_uint_eq(count_files(out), 2); /* tile 0 and its bundle; no checkpoint */

	free(note);
	test_rmrf(base);
	free(base);
}
END_TEST

struct writer_arg {
	struct vault *v;
	int rounds;
};

static void *writer_main(void *p)
{
	struct writer_arg *w = p;

	for (int i = 0; i < w->rounds; i++) {
		append_n(w->v, 97, i);
		free(sign(w->v));
	}
	return NULL;
}

START_TEST(vault_tiles_export_beside_the_writer)
{
	char *base = test_tmpdir("tiles-thread"), vdir[512], out[512], *note;
	struct writer_arg w = {.rounds = 40};
	struct vault_tiles_stats st;
	struct vault_reader *r;
	pthread_t th;
	int exports = 0;

	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(out, sizeof(out), "%s/tiles", base);
	w.v = open_origin(vdir, NULL);
	append_n(w.v, 10, 0);
	free(sign(w.v));
	ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
	for (int i = 0; i < 60; i++) {
		ck_assert_int_eq(vault_reader_begin(w.v, &r), 0);
		ck_assert_int_eq(vault_checkpoint_latest(r, &note, NULL), 0);
		ck_assert_int_eq(vault_tiles_export(r, note, strlen(note), out, 0, &st), 0);
		vault_reader_end(r);
		free(note);
		exports++;
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(vault_reader_begin(w.v, &r), 0);
	ck_assert_int_eq(vault_checkpoint_latest(r, &note, NULL), 0);
	ck_assert_int_eq(vault_tiles_export(r, note, strlen(note), out, 0, &st), 0);
	vault_reader_end(r);
	ck_assert_uint_eq(st.size, 10 + 40 * 97);
	/* what remains: the files the last checkpoint needs and older partials of its edge */
	struct vault_checkpoint cp;
	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), NULL, &cp), 0);
	uint64_t extra = count_files(out) - files_for(0, cp.size);
	check_folder(w.v, note, out, extra);
	ck_assert_int_eq(exports, 60);

	free(note);
	vault_close(w.v);
	test_rmrf(base);
	free(base);
}
END_TEST

static Suite *tiles_suite(void)
{
	Suite *s = suite_create("tiles");
	TCase *tc;

	tc = tcase_create("vault_tile_path");
	tcase_add_test(tc, vault_tile_path_encodes_levels_indexes_and_widths);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_tiles_export");
	tcase_add_test(tc, vault_tiles_export_matches_the_vault_at_tile_boundaries);
	tcase_add_test(tc, vault_tiles_export_is_incremental);
	tcase_add_test(tc, vault_tiles_export_recheck_repairs_the_folder);
	tcase_add_test(tc, vault_tiles_export_writes_the_checkpoint_last);
	tcase_add_test(tc, vault_tiles_export_refuses_other_logs_forks_and_rollbacks);
	tcase_add_test(tc, vault_tiles_export_never_publishes_a_damaged_vault);
	tcase_add_test(tc, vault_tiles_export_beside_the_writer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(tiles_suite());
}
