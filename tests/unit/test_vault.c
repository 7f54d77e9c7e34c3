/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the vault: opening, appends and dedup, reads, pruning, checkpoints, blobs,
 * map growth, and vault_verify against every kind of tampering (tests/common/tamper.c). */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tamper.h"
#include "testutil.h"
#include "vault.h"

#define W (VAULT_OPEN_WRITE | VAULT_OPEN_CREATE)

static struct vault *open_w(const char *dir)
{
	struct vault *v = NULL;
	int rc = vault_open(dir, W, NULL, &v);
	ck_assert_msg(rc == 0, "vault_open(%s): %s", dir, strerror(-rc));
	return v;
}

static void append_n(struct vault *v, int n, int tag)
{
	struct vault_entry_in *in = calloc((size_t)n, sizeof(*in));
	struct vault_append_result *res = calloc((size_t)n, sizeof(*res));
	char(*buf)[64] = calloc((size_t)n, 64);

	for (int i = 0; i < n; i++) {
		in[i].type = VAULT_ENTRY_RECORD;
		in[i].payload = buf[i];
		in[i].payload_len = (size_t)snprintf(buf[i], 64, "payload %d/%d", tag, i);
	}
	ck_assert_int_eq(vault_append(v, in, (size_t)n, res), 0);
	free(in);
	free(res);
	free(buf);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	char *data = test_read_file(from, &len);
	ck_assert_ptr_nonnull(data);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
}

/* ------------------------------------------------------------------ vault_open */

START_TEST(vault_open_creates_and_reopens)
{
	char *dir = test_tmpdir("open");
	char sub[512], key[600];
	struct vault *v, *r;
	struct vault_info info;
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/vault", dir);
	ck_assert_int_eq(vault_open(sub, VAULT_OPEN_READ, NULL, &r), -ENOENT);
	ck_assert_int_eq(vault_open(sub, VAULT_OPEN_CREATE, NULL, &r), -EINVAL);
	v = open_w(sub);
	snprintf(key, sizeof(key), "%s/signing.key", sub);
	ck_assert_int_eq(stat(key, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(vault_open(sub, W, NULL, &r), -EBUSY); /* one writer */
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_uint_eq(info.size, 0);
	ck_assert_str_eq(info.key.name, info.origin);
	ck_assert(strncmp(info.origin, "evidentd.local/", 15) == 0);
	append_n(v, 10, 1);
	vault_close(v);

	ck_assert_int_eq(vault_open(sub, VAULT_OPEN_READ, NULL, &r), 0);
	ck_assert_int_eq(vault_info(r, &info), 0);
	ck_assert_uint_eq(info.size, 10);
	struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD, .payload = "x", .payload_len = 1};
	struct vault_append_result res;
	ck_assert_int_eq(vault_append(r, &in, 1, &res), -EROFS);
	ck_assert_int_eq(vault_checkpoint_sign(r, NULL), -EROFS);
	vault_close(r);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_open_refuses_bad_folders_and_keys)
{
	char *dir = test_tmpdir("badopen");
	char p[512], key[600];
	struct vault *v;

	/* a folder without a vault: readers never create one */
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), -ENOENT);
	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	ck_assert_int_eq(access(p, F_OK), -1);
	/* garbage where data.mdb should be */
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_eq(write(fd, "not an lmdb file at all, just text....", 38), 38);
	close(fd);
	int rc = vault_open(dir, VAULT_OPEN_READ, NULL, &v);
	ck_assert_msg(rc == -EBADMSG || rc == -EIO || rc == -EINVAL, "rc %d", rc);
	unlink(p);

	/* a readable signing key is refused; a different key is refused */
	snprintf(p, sizeof(p), "%s/v", dir);
	v = open_w(p);
	vault_close(v);
	snprintf(key, sizeof(key), "%s/v/signing.key", dir);
	ck_assert_int_eq(chmod(key, 0644), 0);
	ck_assert_int_eq(vault_open(p, W, NULL, &v), -EPERM);
	ck_assert_int_eq(chmod(key, 0600), 0);
	char other[600];
	snprintf(other, sizeof(other), "%s/other.key", dir);
	struct vault_options o = {.key_path = other};
	ck_assert_int_eq(vault_open(p, W, &o, &v), -EKEYREJECTED); /* created, but not ours */
	/* a malformed key file */
	fd = open(other, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_eq(write(fd, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33), 33);
	close(fd);
	ck_assert_int_eq(vault_open(p, W, &o, &v), -EBADMSG);
	/* a bad origin */
	struct vault_options bad = {.origin = "has space"};
	snprintf(p, sizeof(p), "%s/v2", dir);
	ck_assert_int_eq(vault_open(p, W, &bad, &v), -EINVAL);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* A vault with small entries, a few large ones (LMDB overflow pages) and a second tree level,
 * closed; returns its data.mdb's bytes. */
static char *damage_template(const char *dir, size_t *ret_len)
{
	static char big[6000];
	struct vault *v = open_w(dir);
	struct vault_entry_in in[3];
	struct vault_append_result res[3];
	char path[600];

	append_n(v, 400, 7);
	for (int i = 0; i < 3; i++)
		in[i] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
		                                .payload = big,
		                                .payload_len = sizeof(big) - 500 * i};
	ck_assert_int_eq(vault_append(v, in, 3, res), 0);
	vault_close(v);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return test_read_file(path, ret_len);
}

static void write_data(const char *dir, const char *data, size_t len)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Opens dir read-only and reads everything, expecting success or a named damaged page.
 * Returns the vault_open_detail result. */
static int open_damaged(const char *dir)
{
	struct vault *v;
	struct vault_verify_report rep;
	char err[300];
	int rc = vault_open_detail(dir, VAULT_OPEN_READ, NULL, &v, err, sizeof(err));

	if (rc == 0) {
		struct vault_info info;
		(void)vault_info(v, &info);
		ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
		vault_close(v);
		return 0;
	}
	ck_assert_msg(rc == -EUCLEAN || rc == -EBADMSG, "rc %d (%s)", rc, err);
	if (rc == -EUCLEAN)
		ck_assert_msg(strncmp(err, "data.mdb: page ", 15) == 0, "detail \"%s\"", err);
	return rc;
}

START_TEST(vault_open_detail_names_damaged_pages)
{
	char *dir = test_tmpdir("damage");
	size_t len, psize = 4096;
	char *data = damage_template(dir, &len), *copy = malloc(len);
	int damaged = 0;

	ck_assert_int_eq(open_damaged(dir), 0);
	/* cut short: pages of the trees are missing */
	write_data(dir, data, len / 2);
	ck_assert_int_eq(open_damaged(dir), -EUCLEAN);
	/* meta page 0's magic: the other meta page shows it is LMDB's, damaged */
	memcpy(copy, data, len);
	copy[16] ^= 0x40;
	write_data(dir, copy, len);
	ck_assert_int_eq(open_damaged(dir), -EUCLEAN);
	/* every page's free-space bounds and first node offset in turn: an unused page changes
	 * nothing, a used one is named */
	for (size_t pg = 2; pg < len / psize; pg++) {
		memcpy(copy, data, len);
		memset(copy + pg * psize + 12, 0xff, 6);
		write_data(dir, copy, len);
		damaged += open_damaged(dir) == -EUCLEAN;
	}
	ck_assert_int_gt(damaged, 10);
	free(copy);
	free(data);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* A reader checks the pages each read reaches, not the whole file at open: damage in a page
 * no read reaches leaves the reads that do not reach it working, and the read that reaches it
 * (or verify, which reads everything) fails naming the page. */
START_TEST(vault_reads_check_the_pages_they_reach)
{
	char *dir = test_tmpdir("lazy"), path[600], marker[64], err[300];
	enum { N = 5000, TARGET = 4000 };
	struct vault_entry_in *in = calloc(N, sizeof(*in));
	struct vault_append_result *res = calloc(N, sizeof(*res));
	char(*buf)[256] = calloc(N, 256);
	struct vault_verify_report rep;
	struct vault_reader *r;
	struct vault_entry e;
	struct vault *v = open_w(dir);
	size_t len, psize = 4096;
	char *data, *at;

	/* payloads of 200 bytes: the payloads database is far over the 64 pages checked whole */
	for (int i = 0; i < N; i++) {
		in[i].type = VAULT_ENTRY_RECORD;
		in[i].payload = buf[i];
		memset(buf[i], 'x', 200);
		in[i].payload_len = (size_t)snprintf(buf[i] + 200, 56, "<entry-%05d>", i) + 200;
	}
	ck_assert_int_eq(vault_append(v, in, N, res), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);
	/* damage the node table of the leaf page holding entry TARGET's payload */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	data = test_read_file(path, &len);
	snprintf(marker, sizeof(marker), "<entry-%05d>", TARGET);
	at = memmem(data, len, marker, strlen(marker));
	ck_assert_ptr_nonnull(at);
	size_t pg = (size_t)(at - data) / psize;
	memset(data + pg * psize + 12, 0xff, 4); /* lower and upper */
	write_data(dir, data, len);

	ck_assert_int_eq(vault_open_detail(dir, VAULT_OPEN_READ, NULL, &v, err, sizeof(err)), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, 10, &e), 0);
	ck_assert_int_eq(vault_get(r, N - 1, &e), 0);
	ck_assert_int_eq(vault_damage_detail(v, err, sizeof(err)), 0);
	ck_assert_int_eq(vault_get(r, TARGET, &e), -EUCLEAN);
	ck_assert_int_gt(vault_damage_detail(v, err, sizeof(err)), 0);
	snprintf(marker, sizeof(marker), "data.mdb: page %zu: ", pg);
	ck_assert_msg(strncmp(err, marker, strlen(marker)) == 0, "detail \"%s\"", err);
	/* the snapshot stays failed: LMDB is never let near the damage */
	ck_assert_int_eq(vault_get(r, 10, &e), -EUCLEAN);
	vault_reader_end(r);
	vault_close(v);
	/* verify reads everything: a fresh open finds it */
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), -EUCLEAN);
	vault_close(v);
	free(data);
	free(in);
	free(res);
	free(buf);
	test_rmrf(dir);
	free(dir);
}
END_TEST

static char *file_digest(const char *path, struct stat *st)
{
	size_t len;
	char *data = test_read_file(path, &len), *out = malloc(65);
	uint8_t h[VAULT_HASH_LEN];

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(vault_sha256(data, len, h), 0);
	ck_assert_int_eq(stat(path, st), 0);
	free(data);
	return vault_hex(h, out);
}

START_TEST(vault_open_reader_leaves_lock_files_alone)
{
	char *dir = test_tmpdir("nolock");
	char lock[600], wlock[600], *before, *after;
	struct stat st0, st1, wst0, wst1;
	struct vault *v = open_w(dir), *r;
	struct vault_reader *rd;
	struct vault_info info;

	append_n(v, 20, 1);
	vault_close(v);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	snprintf(wlock, sizeof(wlock), "%s/writer.lock", dir);
	before = file_digest(lock, &st0);
	free(file_digest(wlock, &wst0));
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &r), 0);
	ck_assert_int_eq(vault_reader_begin(r, &rd), 0);
	ck_assert_uint_eq(vault_reader_size(rd), 20);
	vault_reader_end(rd);
	ck_assert_int_eq(vault_info(r, &info), 0);
	vault_close(r);
	after = file_digest(lock, &st1);
	free(file_digest(wlock, &wst1));
	ck_assert_str_eq(before, after);
	ck_assert(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
	          st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
	ck_assert(wst0.st_mtim.tv_nsec == wst1.st_mtim.tv_nsec);
	/* a copy without lock files: a reader creates none */
	ck_assert_int_eq(unlink(lock), 0);
	ck_assert_int_eq(unlink(wlock), 0);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &r), 0);
	ck_assert_int_eq(vault_info(r, &info), 0);
	ck_assert_uint_eq(info.size, 20);
	vault_close(r);
	ck_assert_int_eq(access(lock, F_OK), -1);
	ck_assert_int_eq(access(wlock, F_OK), -1);
	free(before);
	free(after);
	test_rmrf(dir);
	free(dir);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct writer_arg {
	const char *dir;
	struct vault *v;
	int rc;
};

static void *open_writer(void *arg)
{
	struct writer_arg *a = arg;
	a->rc = vault_open(a->dir, W, NULL, &a->v);
	return NULL;
}

START_TEST(vault_open_writer_waits_for_a_readers_transaction)
{
	char *dir = test_tmpdir("wait");
	struct vault *v = open_w(dir), *r;
	struct vault_reader *rd;
	struct writer_arg a = {.dir = dir, .rc = 1};
	pthread_t th;

	append_n(v, 5, 1);
	vault_close(v);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &r), 0);
	ck_assert_int_eq(vault_reader_begin(r, &rd), 0);
	double t0 = now_s();
	ck_assert_int_eq(pthread_create(&th, NULL, open_writer, &a), 0);
	usleep(300 * 1000);
	vault_reader_end(rd); /* the writer may start now */
	pthread_join(th, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_msg(now_s() - t0 >= 0.25, "the writer did not wait for the reader");
	vault_close(r);
	append_n(a.v, 5, 2);
	vault_close(a.v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_reader_registers_once_a_writer_starts)
{
	char *dir = test_tmpdir("relock");
	struct vault *v = open_w(dir), *r;
	struct vault_reader *rd;
	int go[2], done[2];
	char c;

	append_n(v, 10, 1);
	vault_close(v);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &r), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* a writer process that appends and stays open until told to stop */
		if (vault_open(dir, W, NULL, &v) < 0)
			_exit(1);
		struct vault_entry_in in = {
		    .type = VAULT_ENTRY_RECORD, .payload = "x", .payload_len = 1};
		struct vault_append_result res;
		for (int i = 0; i < 5; i++)
			if (vault_append(v, &in, 1, &res) < 0)
				_exit(1);
		if (write(done[1], "a", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		vault_close(v);
		_exit(0);
	}
	ck_assert_int_eq(read(done[0], &c, 1), 1);
	/* the reader opened without locks; the writer runs now: it reads through LMDB's locks */
	ck_assert_int_eq(vault_reader_begin(r, &rd), 0);
	ck_assert_uint_eq(vault_reader_size(rd), 15);
	vault_reader_end(rd);
	ck_assert_int_eq(write(go[1], "b", 1), 1);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(vault_reader_begin(r, &rd), 0);
	ck_assert_uint_eq(vault_reader_size(rd), 15);
	vault_reader_end(rd);
	vault_close(r);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ vault_append */

START_TEST(vault_append_chains_and_persists)
{
	char *dir = test_tmpdir("append");
	struct vault *v = open_w(dir);
	struct vault_reader *r;
	struct vault_entry e, prev;
	uint8_t root_before[32], root_after[32];

	append_n(v, 1000, 1); /* one transaction */
	append_n(v, 1, 2);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_uint_eq(vault_reader_size(r), 1001);
	for (uint64_t s = 0; s < 1001; s++) {
		ck_assert_int_eq(vault_get(r, s, &e), 0);
		ck_assert_uint_eq(e.leaf.seq, s);
		ck_assert_uint_eq(e.leaf.type, VAULT_ENTRY_RECORD);
		ck_assert_uint_eq(e.leaf.payload_len, e.payload_len);
		if (s > 0) {
			ck_assert_mem_eq(e.leaf.prev_hash, prev.leaf_hash, 32);
			ck_assert_uint_ge(e.leaf.timestamp_ns, prev.leaf.timestamp_ns);
		}
		uint8_t enc[VAULT_LEAF_LEN], lh[32];
		vault_leaf_encode(&e.leaf, enc);
		ck_assert_int_eq(vault_hash_leaf(enc, sizeof(enc), lh), 0);
		ck_assert_mem_eq(lh, e.leaf_hash, 32);
		prev = e;
	}
	ck_assert_int_eq(vault_get(r, 1001, &e), -ENOENT);
	ck_assert_int_eq(vault_root(r, 1001, root_before), 0);
	vault_reader_end(r);
	vault_close(v);

	/* A new writer rebuilds its frontier from the store: later roots still agree. */
	v = open_w(dir);
	append_n(v, 5, 3);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_root(r, 1001, root_after), 0);
	ck_assert_mem_eq(root_before, root_after, 32);
	struct vault_verify_report rep;
	vault_reader_end(r);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	ck_assert_uint_eq(rep.entries, 1006);
	ck_assert_uint_eq(rep.signed_size, 1001);
	ck_assert_uint_eq(rep.unsigned_entries, 5);
	ck_assert_uint_gt(rep.unsigned_since_ns, 0);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_append_validates_input)
{
	char *dir = test_tmpdir("appendbad");
	struct vault *v = open_w(dir);
	struct vault_append_result res;
	struct vault_entry_in in = {.type = 0, .payload = "x", .payload_len = 1};
	char longkey[VAULT_DEDUP_KEY_MAX + 10];

	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	in.type = _VAULT_ENTRY_TYPE_MAX;
	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	in.type = VAULT_ENTRY_PRUNE; /* only vault_prune writes those */
	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	in.type = VAULT_ENTRY_RECORD;
	in.payload = NULL;
	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	in.payload = "x";
	in.dedup_client = "c"; /* half a dedup key */
	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = 0;
	in.dedup_request = longkey;
	ck_assert_int_eq(vault_append(v, &in, 1, &res), -EINVAL);
	in.dedup_client = in.dedup_request = NULL;
	in.payload_len = 0; /* empty payloads are fine */
	ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	ck_assert_uint_eq(res.seq, 0);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_append_dedups_retries)
{
	char *dir = test_tmpdir("dedup");
	struct vault *v = open_w(dir);
	struct vault_entry_in in[4] = {
	    {.type = 1,
	     .payload = "a",
	     .payload_len = 1,
	     .dedup_client = "c1",
	     .dedup_request = "r1"},
	    {.type = 1,
	     .payload = "b",
	     .payload_len = 1,
	     .dedup_client = "c2",
	     .dedup_request = "r1"},
	    {.type = 1,
	     .payload = "a",
	     .payload_len = 1,
	     .dedup_client = "c1",
	     .dedup_request = "r1"},
	    {.type = 1, .payload = "c", .payload_len = 1},
	};
	struct vault_append_result res[4];
	uint64_t seq;

	ck_assert_int_eq(vault_append(v, in, 4, res), 0);
	ck_assert(!res[0].duplicate && !res[1].duplicate && res[2].duplicate);
	ck_assert_uint_eq(res[0].seq, 0);
	ck_assert_uint_eq(res[1].seq, 1); /* same request id, other client */
	ck_assert_uint_eq(res[2].seq, 0); /* a retry inside the same batch */
	ck_assert_mem_eq(res[2].leaf_hash, res[0].leaf_hash, 32);
	ck_assert_uint_eq(res[3].seq, 2);
	vault_close(v);
	v = open_w(dir);
	ck_assert_int_eq(vault_append(v, in, 1, res), 0); /* a retry after a restart */
	ck_assert(res[0].duplicate);
	ck_assert_uint_eq(res[0].seq, 0);
	ck_assert_int_eq(vault_dedup_lookup(v, "c2", "r1", &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(vault_dedup_lookup(v, "c2", "r2", &seq), -ENOENT);
	struct vault_info info;
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_uint_eq(info.size, 3);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ readers */

START_TEST(vault_iter_next_walks_and_skips_pruned)
{
	char *dir = test_tmpdir("iter");
	struct vault *v = open_w(dir);
	struct vault_reader *r;
	struct vault_iter it;
	struct vault_entry e;
	struct vault_append_result pr;
	uint64_t count = 0;
	int rc;

	append_n(v, 50, 1);
	ck_assert_int_eq(vault_prune(v, 7, "retention: 30 days", &pr), 0);
	ck_assert_uint_eq(pr.seq, 50);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_iter_init(r, 5, &it), 0);
	while ((rc = vault_iter_next(&it, &e)) == 1) {
		ck_assert_uint_eq(e.leaf.seq, 5 + count);
		if (e.leaf.seq == 7)
			ck_assert_ptr_null(e.payload);
		else
			ck_assert_ptr_nonnull(e.payload);
		count++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(count, 46);
	vault_iter_deinit(&it);

	ck_assert_int_eq(vault_get(r, 50, &e), 0);
	ck_assert_uint_eq(e.leaf.type, VAULT_ENTRY_PRUNE);
	struct vault_prune_info pi;
	ck_assert_int_eq(vault_prune_decode(e.payload, e.payload_len, &pi), 0);
	ck_assert_uint_eq(pi.target_seq, 7);
	ck_assert_str_eq(pi.reason, "retention: 30 days");
	vault_reader_end(r);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_seek_time_finds_first_at_or_after)
{
	char *dir = test_tmpdir("seek");
	struct vault *v = open_w(dir);
	struct vault_reader *r;
	struct vault_entry e;
	uint64_t seq;

	for (int i = 0; i < 20; i++)
		append_n(v, 3, i);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_seek_time(r, 0, &seq), 0);
	ck_assert_uint_eq(seq, 0);
	ck_assert_int_eq(vault_seek_time(r, UINT64_MAX, &seq), 0);
	ck_assert_uint_eq(seq, 60);
	ck_assert_int_eq(vault_get(r, 31, &e), 0);
	ck_assert_int_eq(vault_seek_time(r, e.leaf.timestamp_ns, &seq), 0);
	ck_assert_uint_le(seq, 31);
	struct vault_entry f;
	ck_assert_int_eq(vault_get(r, seq, &f), 0);
	ck_assert_uint_eq(f.leaf.timestamp_ns, e.leaf.timestamp_ns);
	if (seq > 0) {
		ck_assert_int_eq(vault_get(r, seq - 1, &f), 0);
		ck_assert_uint_lt(f.leaf.timestamp_ns, e.leaf.timestamp_ns);
	}
	vault_reader_end(r);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

struct reader_arg {
	struct vault *v;
	int errors;
	uint64_t max_seen;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	for (int i = 0; i < 200; i++) {
		struct vault_reader *r;
		uint8_t root[32];
		if (vault_reader_begin(a->v, &r) < 0) {
			a->errors++;
			continue;
		}
		uint64_t n = vault_reader_size(r);
		if (n < a->max_seen || vault_root(r, n, root) < 0)
			a->errors++;
		a->max_seen = n;
		if (n > 0) {
			struct vault_entry e;
			if (vault_get(r, n - 1, &e) < 0 || e.leaf.seq != n - 1)
				a->errors++;
		}
		vault_reader_end(r);
	}
	return NULL;
}

START_TEST(vault_reader_begin_concurrent_with_writer)
{
	char *dir = test_tmpdir("conc");
	/* A tiny map forces resizes while readers run in other threads. */
	struct vault_options o = {.map_size = 1 << 20, .map_max = 1 << 30};
	struct vault *v;
	struct reader_arg args[3];
	pthread_t th[3];

	ck_assert_int_eq(vault_open(dir, W, &o, &v), 0);
	for (int i = 0; i < 3; i++) {
		args[i] = (struct reader_arg){.v = v};
		pthread_create(&th[i], NULL, reader_thread, &args[i]);
	}
	for (int i = 0; i < 40; i++) {
		static char big[16384];
		struct vault_entry_in in[16];
		struct vault_append_result res[16];
		for (int k = 0; k < 16; k++)
			in[k] = (struct vault_entry_in){
			    .type = 1, .payload = big, .payload_len = sizeof(big)};
		ck_assert_int_eq(vault_append(v, in, 16, res), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].errors, 0);
	}
	struct vault_info info;
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_uint_gt(info.map_bytes, 1 << 20); /* it grew */
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_next_of_type_uses_index)
{
	char *dir = test_tmpdir("types");
	struct vault *v = open_w(dir);
	struct vault_reader *r;
	struct vault_entry_in in[6] = {
	    {.type = VAULT_ENTRY_LIFECYCLE, .payload = "s", .payload_len = 1},
	    {.type = VAULT_ENTRY_MODEL, .payload = "m1", .payload_len = 2},
	    {.type = VAULT_ENTRY_RECORD, .payload = "r", .payload_len = 1},
	    {.type = VAULT_ENTRY_RECORD, .payload = "r", .payload_len = 1},
	    {.type = VAULT_ENTRY_MODEL, .payload = "m2", .payload_len = 2},
	    {.type = VAULT_ENTRY_RECORD, .payload = "r", .payload_len = 1},
	};
	struct vault_append_result res[6];
	uint64_t seq, count;

	ck_assert_int_eq(vault_append(v, in, 6, res), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_MODEL, 0, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_MODEL, 2, &seq), 0);
	ck_assert_uint_eq(seq, 4);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_MODEL, 5, &seq), -ENOENT);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_RECORD, 4, &seq), 0);
	ck_assert_uint_eq(seq, 5);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_AUDIT, 0, &seq), -ENOENT);
	ck_assert_int_eq(vault_next_of_type(r, 0, 0, &seq), -EINVAL);
	ck_assert_int_eq(vault_count_type(r, VAULT_ENTRY_MODEL, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(vault_count_type(r, VAULT_ENTRY_RECORD, &count), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(vault_count_type(r, VAULT_ENTRY_LIFECYCLE, &count), 0);
	ck_assert_uint_eq(count, 1);
	/* backwards: the last of a type before a seq (a lifecycle entry precedes the models in
	 * the index: its neighbour key is of another type) */
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_MODEL, 6, &seq), 0);
	ck_assert_uint_eq(seq, 4);
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_MODEL, 4, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_MODEL, 1, &seq), -ENOENT);
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_LIFECYCLE, UINT64_MAX, &seq), 0);
	ck_assert_uint_eq(seq, 0);
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_RECORD, 5, &seq), 0);
	ck_assert_uint_eq(seq, 3);
	ck_assert_int_eq(vault_prev_of_type(r, VAULT_ENTRY_AUDIT, 6, &seq), -ENOENT);
	ck_assert_int_eq(vault_prev_of_type(r, 99, 6, &seq), -EINVAL);
	vault_reader_end(r);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ map limits */

START_TEST(vault_append_reports_full_map_and_recovers)
{
	char *dir = test_tmpdir("full");
	struct vault_options o = {.map_size = 1 << 20, .map_max = 4 << 20};
	static char big[64 * 1024];
	struct vault_entry_in in = {.type = 1, .payload = big, .payload_len = sizeof(big)};
	struct vault_append_result res;
	struct vault *v;
	int rc = 0, appended = 0;

	ck_assert_int_eq(vault_open(dir, W, &o, &v), 0);
	ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	appended = 1;
	for (int i = 0; i < 200 && rc == 0; i++) {
		rc = vault_append(v, &in, 1, &res);
		if (rc == 0)
			appended++;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_gt(appended, 20);
	/* nothing half-written: the vault verifies and still takes small entries or a
	 * checkpoint once there is room */
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	ck_assert_uint_eq(rep.entries, (uint64_t)appended);
	vault_close(v);
	o.map_max = 64 << 20; /* the operator gives it more room */
	ck_assert_int_eq(vault_open(dir, W, &o, &v), 0);
	ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	ck_assert_uint_eq(res.seq, (uint64_t)appended);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ vault_prune */

START_TEST(vault_prune_keeps_proofs)
{
	char *dir = test_tmpdir("prune");
	struct vault *v = open_w(dir);
	struct vault_append_result res;
	struct vault_reader *r;
	uint8_t root[32], proof[VAULT_PROOF_MAX][32];
	struct vault_entry e;

	append_n(v, 20, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	ck_assert_int_eq(vault_prune(v, 3, "subject request", &res), 0);
	ck_assert_int_eq(vault_prune(v, 3, "again", &res), -EALREADY);
	ck_assert_int_eq(vault_prune(v, 20, "a prune entry", &res), -EINVAL);
	ck_assert_int_eq(vault_prune(v, 99, "nothing", &res), -ENOENT);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, 3, &e), 0);
	ck_assert_ptr_null(e.payload);
	ck_assert_int_eq(vault_root(r, 21, root), 0);
	int n = vault_prove_inclusion(r, 3, 21, proof);
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(vault_merkle_verify_inclusion(
	                     3, 21, e.leaf_hash, (const uint8_t(*)[32])proof, (size_t)n, root),
	                 0);
	vault_reader_end(r);
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	ck_assert_uint_eq(rep.pruned, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0); /* still consistent */
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ checkpoints */

START_TEST(vault_checkpoint_sign_signs_and_refuses_rollback)
{
	char *dir = test_tmpdir("ckpt");
	struct vault *v = open_w(dir);
	struct vault_checkpoint cp;
	struct vault_info info;
	char *note = NULL, *again = NULL, path[600];

	append_n(v, 9, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, &note), 0);
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), &info.key, &cp), 0);
	ck_assert_uint_eq(cp.size, 9);
	ck_assert_mem_eq(cp.root, info.root, 32);
	ck_assert_str_eq(cp.origin, info.origin);
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	char *file = test_read_file(path, NULL);
	ck_assert_ptr_nonnull(file);
	ck_assert_str_eq(file, note);
	free(file);
	/* no growth: the same checkpoint */
	ck_assert_int_eq(vault_checkpoint_sign(v, &again), 0);
	ck_assert_str_eq(again, note);
	free(again);
	append_n(v, 4, 2);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);

	/* roll the entries back below the last checkpoint: the writer refuses to sign, even
	 * after it has grown past the old size again */
	ck_assert_int_eq(tamper_truncate_entries(dir, 5), 0);
	v = open_w(dir);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), -EUCLEAN);
	append_n(v, 20, 3);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), -EUCLEAN);
	vault_close(v);
	free(note);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_checkpoint_sign_refuses_forked_history)
{
	char *dir = test_tmpdir("fork");
	struct vault *v = open_w(dir);

	append_n(v, 16, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);
	/* change the stored tree under the checkpoint */
	ck_assert_int_eq(tamper_node_byte(dir, 4, 0), 0);
	v = open_w(dir);
	append_n(v, 1, 2);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), -EUCLEAN);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* Cosignatures are stored beside their checkpoint, checked before they are kept, and the
 * witnessed checkpoint is the newest one with the quorum. */
/* Flips one byte of the signature in every stored cosignature of checkpoint size (raw LMDB,
 * as someone with file access would). Returns how many were changed. */
static int flip_stored_cosigs(const char *dir, uint64_t size)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, d;
	int n = 0;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "cosigs", 0, &dbi), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	for (int rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		uint8_t *copy = malloc(d.mv_size), *kb = k.mv_data;
		uint64_t ksize = 0;
		for (int i = 0; i < 8; i++)
			ksize = ksize << 8 | kb[i];
		if (ksize != size) {
			free(copy);
			continue;
		}
		memcpy(copy, d.mv_data, d.mv_size);
		/* a base64 character well inside the signature, to another valid one */
		copy[d.mv_size - 10] = copy[d.mv_size - 10] == 'A' ? 'B' : 'A';
		MDB_val nd = {d.mv_size, copy};
		ck_assert_int_eq(mdb_cursor_put(cur, &k, &nd, MDB_CURRENT), 0);
		free(copy);
		n++;
	}
	mdb_cursor_close(cur);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	return n;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void cosign_stored(struct vault *v, struct vault_signer *w, uint64_t size, uint64_t ts,
                          int want)
{
	struct vault_reader *r;
	char *note, line[VAULT_SIGLINE_MAX + 1];
	size_t body_len;
	int n;

	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_checkpoint_get(r, size, &note, NULL), 0);
	vault_reader_end(r);
	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	n = vault_signer_cosign(w, note, body_len, ts, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(vault_cosignature_add(v, size, vault_signer_pubkey(w), line, (size_t)n),
	                 want);
	free(note);
}

START_TEST(vault_cosignature_add_stores_beside_checkpoint)
{
	char *dir = test_tmpdir("cosig"), path[600], line[VAULT_SIGLINE_MAX + 1];
	struct vault *v = open_w(dir);
	struct vault_signer *w[3];
	struct vault_pubkey keys[3];
	struct vault_reader *r;
	struct vault_checkpoint cp;
	unsigned count, quorum;
	char *note;
	size_t body_len;
	int n;

	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(path, sizeof(path), "%s/w%d.key", dir, i);
		snprintf(name, sizeof(name), "witness.test/w%d", i);
		ck_assert_int_eq(
		    vault_signer_load(path, true, name, VAULT_KEY_COSIGNATURE_V1, &w[i]), 0);
		keys[i] = *vault_signer_pubkey(w[i]);
	}
	append_n(v, 10, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	append_n(v, 10, 2);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	ck_assert_int_eq(vault_witness_quorum_set(v, 2), 0);

	/* no checkpoint of size 15; a line over another checkpoint; a log key */
	cosign_stored(v, w[0], 10, 1700000000, 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_checkpoint_get(r, 20, &note, NULL), 0);
	vault_reader_end(r);
	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	n = vault_signer_cosign(w[1], note, body_len, 1700000001, line, sizeof(line));
	ck_assert_int_eq(vault_cosignature_add(v, 15, &keys[1], line, (size_t)n), -ENOENT);
	ck_assert_int_eq(vault_cosignature_add(v, 10, &keys[1], line, (size_t)n), -EKEYREJECTED);
	ck_assert_int_eq(vault_cosignature_add(v, 20, &keys[0], line, (size_t)n), -EKEYREJECTED);
	struct vault_info info;
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_int_eq(vault_cosignature_add(v, 20, &info.key, line, (size_t)n), -EINVAL);
	ck_assert_int_eq(vault_cosignature_add(v, 20, &keys[1], line, (size_t)n - 1), -EINVAL);
	ck_assert_int_eq(vault_cosignature_add(v, 20, &keys[1], line, (size_t)n), 0);
	free(note);

	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_witness_quorum(r, &quorum), 0);
	ck_assert_uint_eq(quorum, 2);
	/* the forwarder's position: absent is 0, then what was set (any thread) */
	uint64_t forwarded = 7;
	ck_assert_int_eq(vault_forwarded(r, &forwarded), 0);
	ck_assert_uint_eq(forwarded, 0);
	vault_reader_end(r);
	ck_assert_int_eq(vault_forwarded_set(v, 18), 0);
	ck_assert_int_eq(vault_forwarded_set(v, 20), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_forwarded(r, &forwarded), 1);
	ck_assert_uint_eq(forwarded, 20);
	ck_assert_int_eq(vault_cosignature_count(r, 10, &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(vault_cosignature_count(r, 20, &count), 0);
	ck_assert_uint_eq(count, 1);
	/* no checkpoint has two yet */
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 0, 2, &note, &cp), -ENOENT);
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 0, 1, NULL, &cp), 0);
	ck_assert_uint_eq(cp.size, 20);
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 0, 0, NULL, &cp), 0);
	ck_assert_uint_eq(cp.size, 20);
	vault_reader_end(r);

	/* a second witness on 10, and the same witness again (a newer line replaces it) */
	cosign_stored(v, w[2], 10, 1700000002, 0);
	cosign_stored(v, w[0], 10, 1700000003, 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_cosignature_count(r, 10, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 0, 2, &note, &cp), 0);
	ck_assert_uint_eq(cp.size, 10);
	/* the note carries the log's signature and both cosignatures, and nothing else */
	struct vault_cosig_check chk[3];
	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), &info.key, &cp), 0);
	ck_assert_int_eq(vault_cosignatures_verify(note, strlen(note), keys, 3, 0, chk), 2);
	ck_assert(chk[0].valid && !chk[1].valid && chk[2].valid);
	ck_assert_uint_eq(chk[0].timestamp, 1700000003);
	ck_assert_int_eq(count_lines(note), 3 + 1 + 3);
	free(note);
	/* entry 10 is not covered by checkpoint 10: none witnessed covers it */
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 10, 2, NULL, &cp), -ENOENT);
	ck_assert_int_eq(vault_checkpoint_witnessed(r, 9, 2, NULL, &cp), 0);
	/* the latest checkpoint carries its one cosignature */
	ck_assert_int_eq(vault_checkpoint_latest(r, &note, &cp), 0);
	ck_assert_uint_eq(cp.size, 20);
	ck_assert_int_eq(vault_cosignatures_verify(note, strlen(note), keys, 3, 0, chk), 1);
	ck_assert(chk[1].valid);
	free(note);
	vault_reader_end(r);
	vault_close(v);

	/* a reader sees them too, and the vault still verifies */
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_cosignature_count(r, 10, &count), 0);
	ck_assert_uint_eq(count, 2);
	vault_reader_end(r);
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	ck_assert_uint_eq(rep.cosignatures, 3);
	ck_assert_int_eq(vault_cosignature_add(v, 10, &keys[0], line, (size_t)n), -EROFS);
	vault_close(v);

	/* a stored cosignature changed on disk: verify names it, and no note carries it */
	ck_assert_int_eq(flip_stored_cosigs(dir, 20), 1);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_PROBLEM_CHECKPOINT_SIG);
	ck_assert_msg(strstr(rep.detail, "cosignature by witness.test/w1 of the checkpoint of size "
	                                 "20 does not verify"),
	              "%s", rep.detail);
	vault_close(v);
	for (int i = 0; i < 3; i++)
		vault_signer_free(w[i]);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ commitments, subjects */

/* v2 leaves commit to SHA-256(nonce || payload) with a fresh nonce per entry: identical
 * payloads get different commitments, and hashing the payload alone matches nothing. */
START_TEST(vault_append_v2_blinds_commitments)
{
	char *dir = test_tmpdir("v2");
	struct vault *v = open_w(dir);
	struct vault_entry_in in[2] = {
	    {.type = VAULT_ENTRY_RECORD, .payload = "approve", .payload_len = 7},
	    {.type = VAULT_ENTRY_RECORD, .payload = "approve", .payload_len = 7}};
	struct vault_append_result res[2];
	struct vault_entry e[2];
	struct vault_reader *r;
	uint8_t c[32], plain[32];

	ck_assert_int_eq(vault_append(v, in, 2, res), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(vault_get(r, (uint64_t)i, &e[i]), 0);
		ck_assert_uint_eq(e[i].leaf.version, 2);
		ck_assert_ptr_nonnull(e[i].payload_nonce);
		ck_assert_uint_eq(e[i].payload_len, 7);
		ck_assert_mem_eq(e[i].payload, "approve", 7);
		ck_assert_int_eq(
		    vault_payload_commitment(2, e[i].payload_nonce, e[i].payload, 7, c), 0);
		ck_assert_mem_eq(c, e[i].leaf.payload_hash, 32);
	}
	ck_assert_mem_ne(e[0].leaf.payload_hash, e[1].leaf.payload_hash, 32);
	ck_assert_mem_ne(e[0].payload_nonce, e[1].payload_nonce, VAULT_NONCE_LEN);
	ck_assert_int_eq(vault_sha256("approve", 7, plain), 0);
	ck_assert_mem_ne(plain, e[0].leaf.payload_hash, 32);
	ck_assert_int_eq(vault_payload_commitment(2, NULL, "x", 1, c), -EINVAL);
	ck_assert_int_eq(vault_payload_commitment(3, e[0].payload_nonce, "x", 1, c), -EINVAL);
	vault_reader_end(r);

	/* pruned: payload and nonce gone; no guess can be confirmed from the leaf */
	ck_assert_int_eq(vault_prune(v, 0, "test", NULL), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, 0, &e[0]), 0);
	ck_assert_ptr_null(e[0].payload);
	ck_assert_ptr_null(e[0].payload_nonce);
	vault_reader_end(r);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* A vault written first with v1 leaves and then with v2 verifies, prunes and proves both. */
START_TEST(vault_verify_accepts_mixed_leaf_versions)
{
	char *dir = test_tmpdir("mixed");
	struct vault_options o1 = {.leaf_version = 1}, bad = {.leaf_version = 3};
	struct vault_verify_report rep;
	struct vault_reader *r;
	struct vault_entry e;
	struct vault *v;

	ck_assert_int_eq(vault_open(dir, W, &bad, &v), -EINVAL);
	ck_assert_int_eq(vault_open(dir, W, &o1, &v), 0);
	append_n(v, 20, 1);
	ck_assert_int_eq(vault_prune(v, 3, "v1 prune", NULL), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);
	v = open_w(dir);
	append_n(v, 20, 2);
	ck_assert_int_eq(vault_prune(v, 5, "v1 entry, v2 prune", NULL), 0);
	ck_assert_int_eq(vault_prune(v, 30, "v2 entry", NULL), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, 7, &e), 0);
	ck_assert_uint_eq(e.leaf.version, 1);
	ck_assert_ptr_null(e.payload_nonce);
	ck_assert_int_eq(vault_get(r, 25, &e), 0);
	ck_assert_uint_eq(e.leaf.version, 2);
	vault_reader_end(r);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	ck_assert_uint_eq(rep.pruned, 3);
	vault_close(v);
	/* a changed byte of a v2 payload or of its nonce is found */
	ck_assert_int_eq(tamper_payload_byte(dir, 25, 3), 0);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_PROBLEM_PAYLOAD_HASH);
	ck_assert_uint_eq(rep.bad_seq, 25);
	ck_assert_msg(strstr(rep.detail, "nonce || payload"), "%s", rep.detail);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* vault_prune_batch: one transaction, dedup keys go with the payloads, pruned ones skipped. */
START_TEST(vault_prune_batch_removes_payloads_and_dedup_keys)
{
	char *dir = test_tmpdir("pbatch");
	struct vault *v = open_w(dir);
	struct vault_entry_in in[3] = {
	    {.type = VAULT_ENTRY_RECORD,
	     .payload = "a",
	     .payload_len = 1,
	     .dedup_client = "c",
	     .dedup_request = "r0"},
	    {.type = VAULT_ENTRY_RECORD,
	     .payload = "b",
	     .payload_len = 1,
	     .dedup_client = "c",
	     .dedup_request = "r1"},
	    {.type = VAULT_ENTRY_RECORD, .payload = "c", .payload_len = 1}};
	struct vault_append_result res[3], pres[3];
	struct vault_prune_in p[3] = {
	    {.seq = 0, .reason = "erasure", .dedup_client = "c", .dedup_request = "r0"},
	    {.seq = 2, .reason = "erasure"},
	    {.seq = 0, .reason = "again"}};
	uint64_t seq;

	ck_assert_int_eq(vault_append(v, in, 3, res), 0);
	ck_assert_int_eq(vault_prune_batch(v, p, 2, pres), 0);
	ck_assert_uint_eq(pres[0].seq, 3);
	ck_assert_uint_eq(pres[1].seq, 4);
	ck_assert(!pres[0].duplicate && !pres[1].duplicate);
	/* r0's key is gone: a retry is a new record; r1's stays */
	ck_assert_int_eq(vault_dedup_lookup(v, "c", "r0", &seq), -ENOENT);
	ck_assert_int_eq(vault_dedup_lookup(v, "c", "r1", &seq), 0);
	ck_assert_int_eq(vault_append(v, in, 1, res), 0);
	ck_assert(!res[0].duplicate);
	ck_assert_uint_eq(res[0].seq, 5);
	/* an entry already pruned appends nothing */
	ck_assert_int_eq(vault_prune_batch(v, &p[2], 1, pres), 0);
	ck_assert(pres[0].duplicate);
	ck_assert_uint_eq(vault_size(v), 6);
	/* a bad item anywhere changes nothing: a prune entry's seq, a seq beyond the log */
	struct vault_prune_in badp[2] = {{.seq = 1}, {.seq = 3}};
	ck_assert_int_eq(vault_prune_batch(v, badp, 2, pres), -EINVAL);
	badp[1].seq = 99;
	ck_assert_int_eq(vault_prune_batch(v, badp, 2, pres), -ENOENT);
	struct vault_reader *r;
	struct vault_entry e;
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, 1, &e), 0);
	ck_assert_ptr_nonnull(e.payload); /* entry 1 of the failed batches is intact */
	vault_reader_end(r);
	ck_assert_uint_eq(vault_size(v), 6);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_subject_next_walks_a_subjects_entries)
{
	char *dir = test_tmpdir("subj");
	struct vault *v = open_w(dir);
	const char *subjects[] = {"ab", "abc", NULL, "ab", "b", "abc", "ab"};
	struct vault_append_result res[7];
	struct vault_entry_in in[7];
	char big[VAULT_SUBJECT_MAX + 2];
	struct vault_reader *r;
	uint64_t seq, from = 0, found[8];
	size_t n = 0;

	for (int i = 0; i < 7; i++)
		in[i] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
		                                .payload = "p",
		                                .payload_len = 1,
		                                .subject = subjects[i]};
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	in[2].subject = big;
	ck_assert_int_eq(vault_append(v, in, 7, res), -EINVAL);
	in[2].subject = "";
	ck_assert_int_eq(vault_append(v, in, 7, res), -EINVAL);
	in[2].subject = NULL;
	ck_assert_int_eq(vault_append(v, in, 7, res), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	while (vault_subject_next(r, "ab", from, &seq) == 0) {
		found[n++] = seq;
		from = seq + 1;
	}
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(found[0], 0);
	ck_assert_uint_eq(found[1], 3);
	ck_assert_uint_eq(found[2], 6);
	ck_assert_int_eq(vault_subject_next(r, "abc", 2, &seq), 0);
	ck_assert_uint_eq(seq, 5);
	ck_assert_int_eq(vault_subject_next(r, "a", 0, &seq), -ENOENT);
	ck_assert_int_eq(vault_subject_next(r, "zz", 0, &seq), -ENOENT);
	ck_assert_int_eq(vault_subject_next(r, "", 0, &seq), -EINVAL);
	vault_reader_end(r);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);

	/* a subject key naming an entry beyond the log is found by verify */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t sk[] = {'z', 0, 0, 0, 0, 0, 0, 0, 0, 99};
	MDB_val k = {sizeof(sk), sk}, d = {0, NULL};
	struct vault_verify_report rep;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "subjects", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_PROBLEM_INDEX);
	ck_assert_msg(strstr(rep.detail, "subject index"), "%s", rep.detail);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* Whether the file holds the bytes. */
static bool file_contains(const char *path, const char *needle)
{
	size_t len = 0;
	char *data = test_read_file(path, &len);
	bool found = false;

	for (size_t i = 0; data && i + strlen(needle) <= len && !found; i++)
		found = memcmp(data + i, needle, strlen(needle)) == 0;
	free(data);
	return found;
}

/* Pruned bytes stay in data.mdb until LMDB reuses the page; compaction removes them and
 * changes no entry, root or proof. */
START_TEST(vault_compact_removes_pruned_bytes)
{
	char *dir = test_tmpdir("compact"), path[600];
	struct vault *v = open_w(dir);
	const char *secret = "SUBJECT-4711-SECRET-PAYLOAD";
	struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD,
	                            .payload = secret,
	                            .payload_len = strlen(secret),
	                            .subject = "s-4711"};
	struct vault_append_result res;
	struct vault_verify_report rep;
	struct vault_info before, after;
	uint64_t b = 0, a = 0;
	struct vault *busy;

	append_n(v, 50, 1);
	ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	append_n(v, 50, 2);
	ck_assert_int_eq(vault_prune(v, res.seq, "erasure", NULL), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	ck_assert_int_eq(vault_info(v, &before), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	ck_assert(file_contains(path, secret));               /* what LMDB leaves in freed pages */
	ck_assert_int_eq(vault_compact(dir, &b, &a), -EBUSY); /* the writer is open */
	vault_close(v);
	ck_assert_int_eq(vault_compact(dir, &b, &a), 0);
	ck_assert_uint_gt(b, 0);
	ck_assert_uint_gt(a, 0);
	ck_assert(!file_contains(path, secret));
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_info(v, &after), 0);
	ck_assert_uint_eq(after.size, before.size);
	ck_assert_mem_eq(after.root, before.root, 32);
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	vault_close(v);
	/* and a writer opens it again */
	ck_assert_int_eq(vault_open(dir, W, NULL, &busy), 0);
	append_n(busy, 1, 3);
	vault_close(busy);
	ck_assert_int_eq(vault_compact("/nonexistent-vault-dir", NULL, NULL), -ENOENT);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ the model index */

/* The test's payloads: "m=ID@VERSION;..." names a model, anything else none. */
static int test_model_key(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                          char model[VAULT_MODEL_MAX + 1])
{
	const uint8_t *end = len > 2 ? memchr(payload, ';', len) : NULL;

	(void)type;
	if (userdata)
		(*(int *)userdata)++;
	if (!end || memcmp(payload, "m=", 2) != 0 || end - payload - 2 > VAULT_MODEL_MAX)
		return 0;
	memcpy(model, payload + 2, (size_t)(end - payload - 2));
	model[end - payload - 2] = '\0';
	return 1;
}

static struct vault *open_models(const char *dir, bool with_key)
{
	struct vault_options o = {.model_key = with_key ? test_model_key : NULL};
	struct vault *v = NULL;
	int rc = vault_open(dir, W, &o, &v);
	ck_assert_msg(rc == 0, "vault_open(%s): %s", dir, strerror(-rc));
	return v;
}

/* Appends n entries of type type whose payloads name model (NULL: none). */
static void append_model(struct vault *v, uint16_t type, const char *model, int n)
{
	for (int i = 0; i < n; i++) {
		char buf[300];
		struct vault_entry_in in = {.type = type, .payload = buf};
		struct vault_append_result res;
		in.payload_len = model ? (size_t)snprintf(buf, sizeof(buf), "m=%s;%d", model, i)
		                       : (size_t)snprintf(buf, sizeof(buf), "none;%d", i);
		ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	}
}

/* The seqs vault_model_next finds for model from 0, into seqs; returns how many, or -errno. */
static int model_seqs(const char *dir, const char *model, uint64_t *seqs, int max)
{
	struct vault *v;
	struct vault_reader *r;
	uint64_t from = 0, seq;
	int n = 0, rc;

	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	while ((rc = vault_model_next(r, model, from, &seq)) == 0 && n < max) {
		ck_assert_uint_ge(seq, from);
		seqs[n++] = seq;
		from = seq + 1;
	}
	vault_reader_end(r);
	vault_close(v);
	return rc == -ENOENT ? n : rc;
}

START_TEST(vault_model_next_follows_every_append)
{
	char *dir = test_tmpdir("models");
	struct vault *v = open_models(dir, true);
	uint64_t seqs[64], want_a1[] = {0, 1, 6, 7}, want_a[] = {0, 1, 2, 6, 7, 10};
	struct vault_reader *r;
	uint64_t seq;

	append_model(v, VAULT_ENTRY_RECORD, "a@1", 2);   /* 0, 1 */
	append_model(v, VAULT_ENTRY_MODEL, "a@2", 1);    /* 2: a model entry */
	append_model(v, VAULT_ENTRY_RECORD, "b@1", 1);   /* 3 */
	append_model(v, VAULT_ENTRY_AUDIT, "a@1", 1);    /* 4: other types are not indexed */
	append_model(v, VAULT_ENTRY_RECORD, NULL, 1);    /* 5: no model */
	append_model(v, VAULT_ENTRY_RECORD, "a@1", 2);   /* 6, 7 */
	append_model(v, VAULT_ENTRY_RECORD, "ab@1", 1);  /* 8: another model, same prefix */
	append_model(v, VAULT_ENTRY_RECORD, "a@1.0", 1); /* 9: a version with a longer name */
	ck_assert_int_eq(vault_prune(v, 9, "retention", NULL), 0); /* 10: prune entry */
	append_model(v, VAULT_ENTRY_RECORD, "a@10", 1);            /* 11 */
	vault_close(v);

	ck_assert_int_eq(model_seqs(dir, "a@1", seqs, 64), 4);
	ck_assert_mem_eq(seqs, want_a1, sizeof(want_a1));
	/* any version: a@1, a@2, a@1.0 (pruned: the index says which entries were its) and a@10 */
	ck_assert_int_eq(model_seqs(dir, "a", seqs, 64), 7);
	want_a[5] = 9;
	ck_assert_mem_eq(seqs, want_a, sizeof(want_a));
	ck_assert_uint_eq(seqs[6], 11);
	ck_assert_int_eq(model_seqs(dir, "b@1", seqs, 64), 1);
	ck_assert_uint_eq(seqs[0], 3);
	ck_assert_int_eq(model_seqs(dir, "ab", seqs, 64), 1);
	ck_assert_int_eq(model_seqs(dir, "c", seqs, 64), 0);

	/* input errors, and the snapshot's end */
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_model_next(r, "", 0, &seq), -EINVAL);
	ck_assert_int_eq(vault_model_next(r, NULL, 0, &seq), -EINVAL);
	ck_assert_int_eq(vault_model_next(r, "a@1", 8, &seq), -ENOENT);
	vault_reader_end(r);
	vault_close(v);

	/* compacting keeps the index */
	ck_assert_int_eq(vault_compact(dir, NULL, NULL), 0);
	ck_assert_int_eq(model_seqs(dir, "a", seqs, 64), 7);

	/* a writer without model_key: its appends are not indexed, so readers are told to scan
	 * until a writer with one catches up */
	v = open_models(dir, false);
	append_model(v, VAULT_ENTRY_RECORD, "a@1", 2); /* 12, 13 */
	vault_close(v);
	ck_assert_int_eq(model_seqs(dir, "a@1", seqs, 64), -ENOTSUP);
	v = open_models(dir, true);
	vault_close(v);
	ck_assert_int_eq(model_seqs(dir, "a@1", seqs, 64), 6);
	ck_assert_uint_eq(seqs[4], 12);
	ck_assert_uint_eq(seqs[5], 13);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_open_migrates_format_1)
{
	char *dir = test_tmpdir("models-v1"), *fresh = test_tmpdir("models-v2");
	enum { N = 70000 }; /* more than one migration transaction (65,536 entries) */
	static uint64_t got[N + 8], want[N + 8];
	struct vault_entry_in *in = calloc(N, sizeof(*in));
	struct vault_append_result *res = calloc(N, sizeof(*res));
	char(*buf)[32] = calloc(N, 32);
	int calls = 0, n_want, n_got;

	for (int i = 0; i < N; i++) {
		in[i].type = VAULT_ENTRY_RECORD;
		in[i].payload = buf[i];
		in[i].payload_len =
		    (size_t)snprintf(buf[i], 32, "m=%s;%d", i % 3 ? "x@1" : "y@2", i);
	}
	for (int pass = 0; pass < 2; pass++) {
		struct vault *v = open_models(pass ? fresh : dir, pass == 1);
		ck_assert_int_eq(vault_append(v, in, N, res), 0);
		ck_assert_int_eq(vault_prune(v, 5, "retention", NULL), 0);
		ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
		vault_close(v);
	}
	ck_assert_int_eq(tamper_format1(dir), 0);
	/* readers of format 1 are told to scan */
	ck_assert_int_eq(model_seqs(dir, "x@1", got, N), -ENOTSUP);
	/* a writer migrates it: every entry but the pruned one, and new appends */
	struct vault_options o = {.model_key = test_model_key, .model_userdata = &calls};
	struct vault *v;
	ck_assert_int_eq(vault_open(dir, W, &o, &v), 0);
	ck_assert_int_ge(calls, N - 1);
	append_model(v, VAULT_ENTRY_RECORD, "x@1", 1);
	vault_close(v);
	v = open_models(fresh, true);
	append_model(v, VAULT_ENTRY_RECORD, "x@1", 1);
	vault_close(v);
	for (int m = 0; m < 3; m++) {
		const char *model = m == 0 ? "x@1" : m == 1 ? "y" : "x";
		n_want = model_seqs(fresh, model, want, N + 8);
		n_got = model_seqs(dir, model, got, N + 8);
		ck_assert_int_gt(n_want, 20000);
		/* the fresh vault indexed entry 5 (x@1) before it was pruned: the migration
		 * cannot read its model any more */
		ck_assert_int_eq(n_got, n_want - (m != 1));
		for (int i = 0, j = 0; i < n_want; i++) {
			if (m != 1 && want[i] == 5)
				continue;
			ck_assert_uint_eq(got[j++], want[i]);
		}
	}
	/* reopening a migrated vault does no work */
	calls = 0;
	ck_assert_int_eq(vault_open(dir, W, &o, &v), 0);
	ck_assert_int_eq(calls, 0);
	vault_close(v);
	free(in);
	free(res);
	free(buf);
	test_rmrf(dir);
	test_rmrf(fresh);
	free(dir);
	free(fresh);
}
END_TEST

/* ------------------------------------------------------------------ blobs */

START_TEST(vault_blob_finish_stores_by_hash)
{
	char *dir = test_tmpdir("blob");
	struct vault *v = open_w(dir);
	struct vault_blob_writer *w;
	struct vault_reader *r;
	size_t size = 3 * 1024 * 1024 + 12345;
	uint8_t *data = malloc(size), hash[32], got_hash[32], wrong[32] = {0};
	uint64_t st = 0, seed = 7;

	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)test_rand(&seed);
	ck_assert_int_eq(vault_sha256(data, size, hash), 0);
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	for (size_t off = 0; off < size;) {
		size_t n = 1 + (size_t)(test_rand(&seed) % 300000);
		if (n > size - off)
			n = size - off;
		ck_assert_int_eq(vault_blob_write(w, data + off, n), 0);
		off += n;
	}
	ck_assert_uint_eq(vault_blob_written(w), size);
	ck_assert_int_eq(vault_blob_finish(w, hash, size, got_hash), 0);
	ck_assert_mem_eq(got_hash, hash, 32);

	/* the same content again: reported, stored once */
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	ck_assert_int_eq(vault_blob_write(w, data, size), 0);
	ck_assert_int_eq(vault_blob_finish(w, NULL, UINT64_MAX, NULL), 1);
	/* wrong hash or size: refused, nothing kept */
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	ck_assert_int_eq(vault_blob_write(w, data, 2 * 1024 * 1024), 0);
	ck_assert_int_eq(vault_blob_finish(w, wrong, UINT64_MAX, NULL), -EBADMSG);
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	ck_assert_int_eq(vault_blob_write(w, "abc", 3), 0);
	ck_assert_int_eq(vault_blob_finish(w, NULL, 4, NULL), -EBADMSG);
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	ck_assert_int_eq(vault_blob_write(w, data, 1024 * 1024 + 1), 0);
	vault_blob_abort(w);

	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_blob_stat(r, hash, &st), 0);
	ck_assert_uint_eq(st, size);
	ck_assert_int_eq(vault_blob_stat(r, wrong, &st), -ENOENT);
	uint8_t *back = malloc(size);
	ck_assert_int_eq(vault_blob_read(r, hash, 0, back, size), (ssize_t)size);
	ck_assert_mem_eq(back, data, size);
	ck_assert_int_eq(vault_blob_read(r, hash, size - 10, back, 100), 10);
	ck_assert_mem_eq(back, data + size - 10, 10);
	ck_assert_int_eq(vault_blob_read(r, hash, 1024 * 1024 - 5, back, 10), 10);
	ck_assert_mem_eq(back, data + 1024 * 1024 - 5, 10);
	ck_assert_int_eq(vault_blob_read(r, hash, size, back, 10), 0);
	/* the whole blob at once, its hash checked */
	void *all;
	size_t all_len;
	ck_assert_int_eq(vault_blob_load(r, hash, size, &all, &all_len), 0);
	ck_assert_uint_eq(all_len, size);
	ck_assert_mem_eq(all, data, size);
	free(all);
	ck_assert_int_eq(vault_blob_load(r, hash, size - 1, &all, &all_len), -EFBIG);
	ck_assert_int_eq(vault_blob_load(r, wrong, size, &all, &all_len), -ENOENT);
	vault_reader_end(r);
	struct vault_info info;
	ck_assert_int_eq(vault_info(v, &info), 0);
	ck_assert_uint_eq(info.blob_count, 1);
	ck_assert_uint_eq(info.blob_bytes, size);
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	ck_assert_uint_eq(rep.blobs, 1);
	free(back);
	free(data);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_blob_begin_crash_leaves_nothing)
{
	char *dir = test_tmpdir("blobcrash");
	struct vault *v = open_w(dir);
	vault_close(v);
	pid_t pid = fork();
	if (pid == 0) {
		struct vault_blob_writer *w;
		static uint8_t chunk[3 * 1024 * 1024];
		if (vault_open(dir, W, NULL, &v) || vault_blob_begin(v, &w) ||
		    vault_blob_write(w, chunk, sizeof(chunk)))
			_exit(1);
		_exit(0); /* dies mid-upload */
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	v = open_w(dir); /* drops the staged chunks */
	vault_close(v);
	/* check through LMDB directly that no chunk is left */
	struct vault *rv;
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &rv), 0);
	struct vault_info info;
	ck_assert_int_eq(vault_info(rv, &info), 0);
	ck_assert_uint_eq(info.blob_count, 0);
	vault_close(rv);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "mdb_stat -s chunks '%s' 2>/dev/null | grep -q 'Entries: 0'",
	         dir);
	if (system("command -v mdb_stat >/dev/null 2>&1") == 0)
		ck_assert_int_eq(system(cmd), 0);
	test_rmrf(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ vault_verify */

static char *template_dir;
static char *ext_checkpoint; /* signed at 300 entries, kept "elsewhere" */

/* 299 records, a prune (entry 299), a blob, 20 more records; checkpoints at 200 and 320. */
static void verify_setup(void)
{
	struct vault *v;
	struct vault_blob_writer *w;
	static uint8_t blob[100000];
	struct vault_append_result res;

	template_dir = test_tmpdir("verify-template");
	v = open_w(template_dir);
	append_n(v, 200, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	append_n(v, 99, 2);
	ck_assert_int_eq(vault_prune(v, 17, "retention", &res), 0);
	memset(blob, 'm', sizeof(blob));
	ck_assert_int_eq(vault_blob_begin(v, &w), 0);
	ck_assert_int_eq(vault_blob_write(w, blob, sizeof(blob)), 0);
	ck_assert_int_eq(vault_blob_finish(w, NULL, UINT64_MAX, NULL), 0);
	append_n(v, 20, 3);
	ck_assert_int_eq(vault_checkpoint_sign(v, &ext_checkpoint), 0);
	vault_close(v);
}

static void verify_teardown(void)
{
	test_rmrf(template_dir);
	free(template_dir);
	free(ext_checkpoint);
}

static char *copy_template(void)
{
	char *dir = test_tmpdir("verify");
	char a[600], b[600];
	snprintf(a, sizeof(a), "%s/data.mdb", template_dir);
	snprintf(b, sizeof(b), "%s/data.mdb", dir);
	copy_file(a, b, 0640);
	snprintf(a, sizeof(a), "%s/signing.key", template_dir);
	snprintf(b, sizeof(b), "%s/signing.key", dir);
	copy_file(a, b, 0600);
	return dir;
}

static struct vault_verify_report verify_dir(const char *dir, unsigned threads, bool with_ext)
{
	struct vault *v;
	struct vault_verify_report rep;
	const char *cps[1] = {ext_checkpoint};
	size_t lens[1] = {strlen(ext_checkpoint)};
	struct vault_verify_options o = {.threads = threads};

	if (with_ext) {
		o.checkpoints = cps;
		o.checkpoint_lens = lens;
		o.n_checkpoints = 1;
	}
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, &o, &rep), 0);
	vault_close(v);
	return rep;
}

static void expect_problem2(int (*tamper)(const char *), enum vault_problem want,
                            enum vault_problem or_want, uint64_t want_seq)
{
	for (unsigned threads = 1; threads <= 2; threads++) {
		char *dir = copy_template();
		ck_assert_int_eq(tamper(dir), 0);
		struct vault_verify_report rep = verify_dir(dir, threads, true);
		ck_assert_msg(
		    (rep.problem == want || rep.problem == or_want) && rep.bad_seq == want_seq,
		    "threads %u: want %s at %llu, got %s at %llu: %s", threads,
		    vault_problem_name(want), (unsigned long long)want_seq,
		    vault_problem_name(rep.problem), (unsigned long long)rep.bad_seq, rep.detail);
		test_rmrf(dir);
		free(dir);
	}
}

static void expect_problem(int (*tamper)(const char *), enum vault_problem want, uint64_t want_seq)
{
	expect_problem2(tamper, want, want, want_seq);
}

static int t_payload(const char *d)
{
	return tamper_payload_byte(d, 123, 4);
}
static int t_leaf_enc(const char *d)
{
	return tamper_leaf_byte(d, 250, 15);
}
static int t_leaf_type(const char *d)
{
	return tamper_leaf_byte(d, 42, 10);
}
static int t_leaf_hash(const char *d)
{
	return tamper_leaf_byte(d, 64, 100);
}
static int t_forge(const char *d)
{
	return tamper_forge_leaf(d, 77);
}
static int t_delete(const char *d)
{
	return tamper_delete_entry(d, 150);
}
static int t_unpayload(const char *d)
{
	return tamper_delete_payload(d, 151);
}
static int t_swap(const char *d)
{
	return tamper_swap_entries(d, 9);
}
static int t_node(const char *d)
{
	return tamper_node_byte(d, 3, 5); /* covers leaves 40..47, completed by 47 */
}
static int t_blob(const char *d)
{
	return tamper_blob_byte(d, 5000);
}
static int t_unindex(const char *d)
{
	return tamper_unindex(d, 299); /* the prune entry */
}
static int t_truncate(const char *d)
{
	return tamper_truncate(d, 310);
}
static int t_delete_last(const char *d)
{
	return tamper_delete_entry(d, 319);
}
static int t_leaf_of_prune(const char *d)
{
	return tamper_payload_byte(d, 299, 55); /* the prune entry's own payload (reason) */
}

/* vault_verify of the vault at dir, opened for reading, with options o. */
static struct vault_verify_report verify_with(const char *dir, struct vault_verify_options o)
{
	struct vault *v;
	struct vault_verify_report rep;

	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_READ, NULL, &v), 0);
	ck_assert_int_eq(vault_verify(v, &o, &rep), 0);
	vault_close(v);
	return rep;
}

/* Databases of more than 64 pages are checked by a whole walk when verify starts, a database
 * per thread: 6,000 entries make three (leaves, payloads, nodes). Every thread count gives the
 * same answer, on the intact vault and on one with an altered leaf. */
START_TEST(vault_verify_big_databases_on_threads)
{
	char *dir = test_tmpdir("verify-big");
	struct vault *v = open_w(dir);
	append_n(v, 6000, 4);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);
	for (int damaged = 0; damaged <= 1; damaged++) {
		if (damaged)
			ck_assert_int_eq(tamper_leaf_byte(dir, 4321, 20), 0);
		for (unsigned threads = 1; threads <= 3; threads++) {
			struct vault_verify_report rep =
			    verify_with(dir, (struct vault_verify_options){.threads = threads});
			if (!damaged)
				ck_assert_uint_eq(rep.entries, 6000);
			ck_assert_msg(rep.problem == (damaged ? VAULT_PROBLEM_LEAF_HASH : VAULT_OK),
			              "threads %u: %s", threads, rep.detail);
			if (damaged)
				ck_assert_uint_eq(rep.bad_seq, 4321);
		}
	}
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_verify_passes_intact_vault)
{
	for (unsigned threads = 1; threads <= 3; threads++) {
		struct vault_verify_report rep = verify_dir(template_dir, threads, true);
		ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
		ck_assert_uint_eq(rep.entries, 320);
		ck_assert_uint_eq(rep.pruned, 1);
		ck_assert_uint_eq(rep.blobs, 1);
		ck_assert_uint_eq(rep.checkpoints, 3); /* 2 stored + 1 given */
	}
}
END_TEST

START_TEST(vault_verify_detects_changed_payload)
{
	expect_problem(t_payload, VAULT_PROBLEM_PAYLOAD_HASH, 123);
	expect_problem(t_leaf_of_prune, VAULT_PROBLEM_PAYLOAD_HASH, 299);
}
END_TEST

START_TEST(vault_verify_detects_changed_leaf)
{
	expect_problem(t_leaf_enc, VAULT_PROBLEM_LEAF_HASH, 250);
	expect_problem(t_leaf_type, VAULT_PROBLEM_LEAF_HASH, 42);
	expect_problem(t_leaf_hash, VAULT_PROBLEM_LEAF_HASH, 64);
	/* a forger who fixes the stored leaf hash is caught by the chain or by the stored
	 * Merkle node above the leaf, whichever is checked first */
	expect_problem2(t_forge, VAULT_PROBLEM_NODE, VAULT_PROBLEM_CHAIN, 77);
}
END_TEST

START_TEST(vault_verify_detects_deleted_and_swapped)
{
	expect_problem(t_delete, VAULT_PROBLEM_SEQ_GAP, 150);
	expect_problem(t_unpayload, VAULT_PROBLEM_PAYLOAD_MISSING, 151);
	expect_problem(t_swap, VAULT_PROBLEM_SEQ_MISMATCH, 9);
	/* the removed last entry left its Merkle node and payload behind; the kept
	 * checkpoint of 320 entries says the same */
	expect_problem2(t_delete_last, VAULT_PROBLEM_EXTRA, VAULT_PROBLEM_TRUNCATED, 319);
}
END_TEST

START_TEST(vault_verify_detects_node_and_blob_changes)
{
	expect_problem(t_node, VAULT_PROBLEM_NODE, 47);
	expect_problem(t_blob, VAULT_PROBLEM_BLOB, 320);
	expect_problem(t_unindex, VAULT_PROBLEM_INDEX, 299);
}
END_TEST

START_TEST(vault_verify_detects_rollback_against_kept_checkpoint)
{
	/* A clean rollback to 310 entries (stored checkpoints beyond removed too) passes a
	 * check without outside knowledge... */
	char *dir = copy_template();
	ck_assert_int_eq(t_truncate(dir), 0);
	struct vault_verify_report rep = verify_dir(dir, 2, false);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	test_rmrf(dir);
	free(dir);
	/* ...and fails against the checkpoint someone kept elsewhere. */
	expect_problem(t_truncate, VAULT_PROBLEM_TRUNCATED, 310);
}
END_TEST

START_TEST(vault_verify_requires_a_signed_checkpoint)
{
	/* No checkpoint at all: the whole log could have been rewritten consistently. */
	char *dir = copy_template();
	ck_assert_int_eq(tamper_uncheckpoint(dir), 0);
	struct vault_verify_report rep = verify_dir(dir, 2, false);
	ck_assert_int_eq(rep.problem, VAULT_PROBLEM_UNSIGNED);
	ck_assert_uint_eq(rep.signed_size, 0);
	ck_assert_uint_eq(rep.unsigned_entries, 320);
	test_rmrf(dir);
	free(dir);
	/* The attacker without the key: entry 150 changed, every later leaf, link and node
	 * recomputed, the checkpoints that would betray it deleted. */
	dir = copy_template();
	ck_assert_int_eq(tamper_rewrite(dir, 150), 0);
	rep = verify_dir(dir, 1, false);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_UNSIGNED, "%s", rep.detail);
	/* ...and against a checkpoint kept elsewhere the change shows at its root */
	rep = verify_dir(dir, 2, true);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_CHECKPOINT_ROOT, "%s", rep.detail);
	test_rmrf(dir);
	free(dir);
	/* An intact vault reports its signed head and no tail. */
	rep = verify_dir(template_dir, 2, false);
	ck_assert_int_eq(rep.problem, VAULT_OK);
	ck_assert_uint_eq(rep.signed_size, 320);
	ck_assert_uint_eq(rep.unsigned_entries, 0);
	ck_assert_uint_eq(rep.unsigned_since_ns, 0);
}
END_TEST

/* Test payloads "key CLIENT REQUEST" carry a dedup key; others carry none. */
static int test_dedup_key(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                          char *client, char *request)
{
	char buf[200];
	(void)userdata;
	(void)type;
	if (len >= sizeof(buf) || len < 4 || memcmp(payload, "key ", 4) != 0)
		return 0;
	memcpy(buf, payload, len);
	buf[len] = 0;
	return sscanf(buf, "key %99s %99s", client, request) == 2 ? 1 : -EBADMSG;
}

static struct vault_verify_report verify_dedup(const char *dir, unsigned threads)
{
	return verify_with(
	    dir, (struct vault_verify_options){.threads = threads, .dedup_key = test_dedup_key});
}

START_TEST(vault_verify_rebuilds_the_dedup_index)
{
	char *dir = test_tmpdir("dedup-verify");
	struct vault *v = open_w(dir);
	struct vault_entry_in in[5000];
	struct vault_append_result *res = calloc(5000, sizeof(*res));
	char(*buf)[64] = calloc(5000, 64), (*req)[16] = calloc(5000, 16);

	for (int i = 0; i < 5000; i++) {
		snprintf(req[i], 16, "r%d", i);
		in[i] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD, .payload = buf[i]};
		if (i % 7 == 3) { /* no key */
			in[i].payload_len = (size_t)snprintf(buf[i], 64, "plain %d", i);
			continue;
		}
		in[i].payload_len = (size_t)snprintf(buf[i], 64, "key c %s", req[i]);
		in[i].dedup_client = "c";
		in[i].dedup_request = req[i];
	}
	ck_assert_int_eq(vault_append(v, in, 5000, res), 0);
	ck_assert_int_eq(vault_prune(v, 11, "retention", &res[0]), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);

	for (unsigned threads = 1; threads <= 2; threads++) {
		struct vault_verify_report rep = verify_dedup(dir, threads);
		ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
		ck_assert_uint_eq(rep.dedup_keys, 5000 - 714 - 1); /* 714 plain, 1 pruned */
	}
	/* a deleted key: a retry of r20 would be stored twice */
	ck_assert_int_eq(tamper_dedup_del(dir, "c", "r20"), 0);
	struct vault_verify_report rep = verify_dedup(dir, 2);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && rep.bad_seq == 20, "%s at %llu",
	              rep.detail, (unsigned long long)rep.bad_seq);
	ck_assert_int_eq(tamper_dedup_put(dir, "c", "r20", 20), 0);
	/* two keys swapped: as many keys as keyed entries, every key there, each naming the
	 * other's entry (the comparison of the two multisets sees it; counts alone would not) */
	ck_assert_int_eq(tamper_dedup_put(dir, "c", "r20", 21), 0);
	ck_assert_int_eq(tamper_dedup_put(dir, "c", "r21", 20), 0);
	for (unsigned threads = 1; threads <= 2; threads++) {
		rep = verify_dedup(dir, threads);
		ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && rep.bad_seq == 20 &&
		                  strstr(rep.detail, "names entry 21"),
		              "%s at %llu", rep.detail, (unsigned long long)rep.bad_seq);
	}
	ck_assert_int_eq(tamper_dedup_put(dir, "c", "r20", 20), 0);
	ck_assert_int_eq(tamper_dedup_put(dir, "c", "r21", 21), 0);
	/* a forged key naming another client's entry: a real record would be swallowed */
	ck_assert_int_eq(tamper_dedup_put(dir, "victim", "x", 40), 0);
	rep = verify_dedup(dir, 2);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && rep.bad_seq == 40 &&
	                  strstr(rep.detail, "victim"),
	              "%s at %llu", rep.detail, (unsigned long long)rep.bad_seq);
	/* ... also on an entry that carries no key */
	ck_assert_int_eq(tamper_dedup_del(dir, "victim", "x"), 0);
	ck_assert_int_eq(tamper_dedup_put(dir, "victim", "y", 3), 0);
	rep = verify_dedup(dir, 1);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && rep.bad_seq == 3, "%s", rep.detail);
	/* ... or a second key on a pruned entry, whose own key cannot be re-derived */
	ck_assert_int_eq(tamper_dedup_del(dir, "victim", "y"), 0);
	ck_assert_int_eq(tamper_dedup_put(dir, "victim", "z", 11), 0);
	rep = verify_dedup(dir, 2);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && strstr(rep.detail, "pruned entry 11"),
	              "%s", rep.detail);
	/* without the callback the index is only checked to name entries of the log */
	ck_assert_int_eq(tamper_dedup_put(dir, "victim", "w", 5000 + 7), 0);
	rep = verify_dir(dir, 2, false);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_DEDUP && strstr(rep.detail, "beyond the log"),
	              "%s", rep.detail);
	free(res);
	free(buf);
	free(req);
	test_rmrf(dir);
	free(dir);
}
END_TEST

static struct vault_verify_report verify_models(const char *dir, unsigned threads)
{
	return verify_with(
	    dir, (struct vault_verify_options){.threads = threads, .model_key = test_model_key});
}

/* A model index key MODEL, seq added: verify names want_seq with want in its detail; then
 * the key is removed again. */
static void expect_extra_model_key(const char *dir, const char *model, uint64_t seq,
                                   uint64_t want_seq, const char *want)
{
	ck_assert_int_eq(tamper_model_index(dir, model, seq, true), 0);
	struct vault_verify_report rep = verify_models(dir, 2);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_MODEL_INDEX && rep.bad_seq == want_seq &&
	                  strstr(rep.detail, want),
	              "%s at %llu", rep.detail, (unsigned long long)rep.bad_seq);
	ck_assert_int_eq(tamper_model_index(dir, model, seq, false), 0);
}

/* verify rebuilds the model index from the entries: a key removed, a key naming an entry
 * under another model or under none, a key beyond the log; a pruned entry's key stays. */
START_TEST(vault_verify_rebuilds_the_model_index)
{
	char *dir = test_tmpdir("models-verify");
	struct vault *v = open_models(dir, true);
	struct vault_append_result res;
	struct vault_verify_report rep;

	struct vault_entry_in in[1000];
	struct vault_append_result *rs = calloc(1000, sizeof(*rs));
	char(*buf)[32] = calloc(1000, 32);
	for (int i = 0; i < 1000; i++) { /* seq i: alpha@1 when i % 3 == 0, beta@2 when 1 */
		const char *m = i % 3 == 0 ? "m=alpha@1" : i % 3 == 1 ? "m=beta@2" : "none";
		in[i] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD, .payload = buf[i]};
		in[i].payload_len = (size_t)snprintf(buf[i], 32, "%s;%d", m, i);
	}
	ck_assert_int_eq(vault_append(v, in, 1000, rs), 0);
	free(rs);
	free(buf);
	ck_assert_int_eq(vault_prune(v, 30, "retention", &res), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, NULL), 0);
	vault_close(v);

	for (unsigned threads = 1; threads <= 2; threads++) {
		rep = verify_models(dir, threads);
		ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
		ck_assert_uint_eq(rep.model_keys, 667 - 1); /* the pruned entry's cannot be read */
	}
	/* an entry missing from the index: log --model would not list it */
	ck_assert_int_eq(tamper_model_index(dir, "alpha@1", 33, false), 0);
	rep = verify_models(dir, 2);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_MODEL_INDEX && rep.bad_seq == 33 &&
	                  strstr(rep.detail, "missing"),
	              "%s at %llu", rep.detail, (unsigned long long)rep.bad_seq);
	/* ... moved to another model: as many keys as before */
	ck_assert_int_eq(tamper_model_index(dir, "beta@2", 33, true), 0);
	rep = verify_models(dir, 1);
	ck_assert_msg(rep.problem == VAULT_PROBLEM_MODEL_INDEX && rep.bad_seq == 33, "%s at %llu",
	              rep.detail, (unsigned long long)rep.bad_seq);
	ck_assert_int_eq(tamper_model_index(dir, "beta@2", 33, false), 0);
	ck_assert_int_eq(tamper_model_index(dir, "alpha@1", 33, true), 0);
	/* an entry listed under a model it does not name, or naming none; a key beyond the log */
	expect_extra_model_key(dir, "alpha@1", 34, 34, "not its own");
	expect_extra_model_key(dir, "alpha@1", 35, 35, "names no model");
	expect_extra_model_key(dir, "alpha@1", 5000, 1001, "beyond the log");
	/* restored: intact again; without model_key the index is not checked at all */
	rep = verify_models(dir, 2);
	ck_assert_msg(rep.problem == VAULT_OK, "%s", rep.detail);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(vault_verify_rejects_foreign_checkpoint)
{
	char *other = test_tmpdir("other");
	struct vault *v = open_w(other);
	char *note;
	append_n(v, 5, 1);
	ck_assert_int_eq(vault_checkpoint_sign(v, &note), 0);
	vault_close(v);
	ck_assert_int_eq(vault_open(template_dir, VAULT_OPEN_READ, NULL, &v), 0);
	const char *cps[1] = {note};
	size_t lens[1] = {strlen(note)};
	struct vault_verify_options o = {
	    .checkpoints = cps, .checkpoint_lens = lens, .n_checkpoints = 1};
	struct vault_verify_report rep;
	ck_assert_int_eq(vault_verify(v, &o, &rep), 0);
	ck_assert_int_eq(rep.problem, VAULT_PROBLEM_CHECKPOINT_SIG);
	vault_close(v);
	free(note);
	test_rmrf(other);
	free(other);
}
END_TEST

static Suite *vault_suite(void)
{
	Suite *s = suite_create("vault");
	TCase *tc;

	tc = tcase_create("vault_open");
	tcase_add_test(tc, vault_open_creates_and_reopens);
	tcase_add_test(tc, vault_open_refuses_bad_folders_and_keys);
	tcase_add_test(tc, vault_open_detail_names_damaged_pages);
	tcase_add_test(tc, vault_reads_check_the_pages_they_reach);
	tcase_add_test(tc, vault_open_reader_leaves_lock_files_alone);
	tcase_add_test(tc, vault_open_writer_waits_for_a_readers_transaction);
	tcase_add_test(tc, vault_reader_registers_once_a_writer_starts);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_append");
	tcase_add_test(tc, vault_append_chains_and_persists);
	tcase_add_test(tc, vault_append_validates_input);
	tcase_add_test(tc, vault_append_dedups_retries);
	tcase_add_test(tc, vault_append_reports_full_map_and_recovers);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_iter_next");
	tcase_add_test(tc, vault_iter_next_walks_and_skips_pruned);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_seek_time");
	tcase_add_test(tc, vault_seek_time_finds_first_at_or_after);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_next_of_type");
	tcase_add_test(tc, vault_next_of_type_uses_index);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_reader_begin");
	tcase_add_test(tc, vault_reader_begin_concurrent_with_writer);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_prune");
	tcase_add_test(tc, vault_prune_keeps_proofs);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_checkpoint_sign");
	tcase_add_test(tc, vault_checkpoint_sign_signs_and_refuses_rollback);
	tcase_add_test(tc, vault_checkpoint_sign_refuses_forked_history);
	tcase_add_test(tc, vault_cosignature_add_stores_beside_checkpoint);
	tcase_add_test(tc, vault_append_v2_blinds_commitments);
	tcase_add_test(tc, vault_verify_accepts_mixed_leaf_versions);
	tcase_add_test(tc, vault_prune_batch_removes_payloads_and_dedup_keys);
	tcase_add_test(tc, vault_subject_next_walks_a_subjects_entries);
	tcase_add_test(tc, vault_compact_removes_pruned_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_model_next");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, vault_model_next_follows_every_append);
	tcase_add_test(tc, vault_open_migrates_format_1);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_blob_finish");
	tcase_add_test(tc, vault_blob_finish_stores_by_hash);
	tcase_add_test(tc, vault_blob_begin_crash_leaves_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_verify");
	tcase_add_unchecked_fixture(tc, verify_setup, verify_teardown);
	tcase_add_test(tc, vault_verify_passes_intact_vault);
	tcase_add_test(tc, vault_verify_big_databases_on_threads);
	tcase_add_test(tc, vault_verify_rebuilds_the_model_index);
	tcase_add_test(tc, vault_verify_detects_changed_payload);
	tcase_add_test(tc, vault_verify_detects_changed_leaf);
	tcase_add_test(tc, vault_verify_detects_deleted_and_swapped);
	tcase_add_test(tc, vault_verify_detects_node_and_blob_changes);
	tcase_add_test(tc, vault_verify_detects_rollback_against_kept_checkpoint);
	tcase_add_test(tc, vault_verify_rejects_foreign_checkpoint);
	tcase_add_test(tc, vault_verify_requires_a_signed_checkpoint);
	tcase_add_test(tc, vault_verify_rebuilds_the_dedup_index);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(vault_suite());
}
