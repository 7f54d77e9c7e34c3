/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a vault's data.mdb as a reader opens it. The input is written as data.mdb of a
 * vault folder and opened read-only: the LMDB page checker (vault/lmdbcheck.c) runs on it, and
 * when it accepts the file every read path of the vault library runs on it (info, every entry,
 * the checkpoints, every blob, verify). The checker's promise is that LMDB cannot crash on a
 * file it accepted, so a crash here is a checker bug. Both meta pages' snapshots are also
 * checked directly (LMDB may use either, with a live writer). Inputs are LMDB files: the
 * corpus holds small vaults written by evident-sample and damaged copies of them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmdbcheck.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz-lmdbcheck-XXXXXX";
static volatile uint8_t sink;
static char path[sizeof(dir) + 16];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void read_everything(struct vault *v)
{
	struct vault_info info;
	struct vault_reader *r;
	struct vault_iter it;
	struct vault_entry e;
	struct vault_verify_report rep;
	struct vault_verify_options o = {.threads = 1};
	char *note = NULL;
	uint64_t seq, count;

	(void)vault_info(v, &info);
	if (vault_reader_begin(v, &r) < 0)
		return;
	if (vault_iter_init(r, 0, &it) == 0) {
		while (vault_iter_next(&it, &e) == 1)
			if (e.payload_len) /* the payload's bytes are all readable */
				sink ^= e.payload[0] ^ e.payload[e.payload_len - 1];
		vault_iter_deinit(&it);
	}
	for (int type = 1; type < _VAULT_ENTRY_TYPE_MAX; type++) {
		(void)vault_count_type(r, type, &count);
		(void)vault_next_of_type(r, type, 0, &seq);
	}
	(void)vault_seek_time(r, UINT64_MAX / 2, &seq);
	if (vault_checkpoint_latest(r, &note, NULL) == 0)
		free(note);
	if (vault_reader_size(r) > 0) {
		uint8_t root[VAULT_HASH_LEN], proof[VAULT_PROOF_MAX][VAULT_HASH_LEN];
		uint64_t n = vault_reader_size(r);
		(void)vault_root(r, n, root);
		(void)vault_prove_inclusion(r, n / 2, n, proof);
		(void)vault_prove_consistency(r, n / 3 + 1, n, proof);
		(void)vault_get(r, n - 1, &e);
	}
	vault_reader_end(r);
	(void)vault_verify(v, &o, &rep);
	o.threads = 2; /* the pages checked a database per thread, payloads on two workers */
	(void)vault_verify(v, &o, &rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct vault *v;
	char err[256];
	int fd;

	if (!ready) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		atexit(cleanup);
		ready = 1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();

	struct vault__lmdb_metas m;
	if (vault__lmdb_check_metas(fd, &m, err, sizeof(err)) == 0)
		for (unsigned i = 0; i < 2; i++) {
			/* the databases walked one after another and two at a time must agree on
			 * whether the file is sound (which of two trees sharing a page is named
			 * may differ) */
			char err2[256];
			int one = vault__lmdb_check_snapshot(fd, &m, i, m.txnid[i], 1, err,
			                                     sizeof(err)),
			    two = vault__lmdb_check_snapshot(fd, &m, i, m.txnid[i], 2, err2,
			                                     sizeof(err2));
			if (one != -ENOMEM && two != -ENOMEM && two != -EAGAIN &&
			    (one == 0) != (two == 0)) {
				fprintf(stderr, "meta %u: one thread: %d %s; two: %d %s\n", i, one,
				        err, two, err2);
				abort();
			}
		}
	close(fd);

	int rc = vault_open_detail(dir, VAULT_OPEN_READ, NULL, &v, err, sizeof(err));
	if (rc == 0) {
		read_everything(v);
		vault_close(v);
	} else if (rc == -EUCLEAN && strncmp(err, "data.mdb: page ", 15) != 0) {
		abort(); /* a damaged file is always named with its page */
	}
	return 0;
}
