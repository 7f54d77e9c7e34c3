/* SPDX-License-Identifier: Apache-2.0 */
/* vault-bench: vault append throughput at several batch sizes beside a raw LMDB append loop
 * doing the same work a minimal durable log must do (one SHA-256 per record, MDB_APPEND,
 * one full-fsync commit per batch), measured in the same run and interleaved, because these
 * machines are shared and noisy; then verify throughput.
 *
 *   vault-bench [--dir DIR] [--quick] [--payload BYTES] [--rounds N]
 *   vault-bench --raw-only --batch B --records N [--dir DIR]   (the baseline alone)
 *
 * DIR must be on the disk being measured (not tmpfs: fsync would be free). */
#include <errno.h>
#include <getopt.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "vault.h"

#define TMPFS_MAGIC 0x01021994

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rmrf(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "vault-bench: could not remove %s\n", dir);
}

static void fill(uint8_t *p, size_t len, uint64_t i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)(i * 131 + k * 7);
}

/* The baseline: what any durable hash-checked log needs at minimum. */
static double raw_lmdb(const char *dir, size_t n, size_t batch, size_t plen)
{
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	uint8_t *val = malloc(plen + 32), key[8];
	double t0;

	rmrf(dir);
	mkdir(dir, 0750);
	if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 1ull << 34) ||
	    mdb_env_open(env, dir, 0, 0640)) {
		fprintf(stderr, "vault-bench: lmdb open failed\n");
		exit(3);
	}
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, NULL, 0, &dbi);
	mdb_txn_commit(txn);
	t0 = now();
	for (size_t i = 0; i < n;) {
		mdb_txn_begin(env, NULL, 0, &txn);
		for (size_t b = 0; b < batch && i < n; b++, i++) {
			unsigned hl;
			fill(val, plen, i);
			EVP_DigestInit_ex(ctx, md, NULL);
			EVP_DigestUpdate(ctx, val, plen);
			EVP_DigestFinal_ex(ctx, val + plen, &hl);
			for (int k = 7, s = 0; k >= 0; k--, s += 8)
				key[k] = (uint8_t)(i >> s);
			MDB_val mk = {8, key}, mv = {plen + 32, val};
			if (mdb_put(txn, dbi, &mk, &mv, MDB_APPEND)) {
				fprintf(stderr, "vault-bench: lmdb put failed\n");
				exit(3);
			}
		}
		if (mdb_txn_commit(txn)) {
			fprintf(stderr, "vault-bench: lmdb commit failed\n");
			exit(3);
		}
	}
	double secs = now() - t0;
	mdb_env_close(env);
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);
	free(val);
	return (double)n / secs;
}

static double vault_run(const char *dir, size_t n, size_t batch, size_t plen, bool keep)
{
	struct vault *v;
	struct vault_entry_in *in = calloc(batch, sizeof(*in));
	struct vault_append_result *res = calloc(batch, sizeof(*res));
	uint8_t *bufs = malloc(batch * plen);
	double t0;
	int rc;

	rmrf(dir);
	rc = vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &v);
	if (rc < 0) {
		fprintf(stderr, "vault-bench: vault_open %s: %s\n", dir, strerror(-rc));
		exit(3);
	}
	t0 = now();
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < batch && i < n; k++, i++) {
			fill(bufs + k * plen, plen, i);
			in[k] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
			                                .payload = bufs + k * plen,
			                                .payload_len = plen};
		}
		rc = vault_append(v, in, k, res);
		if (rc < 0) {
			fprintf(stderr, "vault-bench: vault_append: %s\n", strerror(-rc));
			exit(3);
		}
	}
	double secs = now() - t0;
	if (keep)
		vault_checkpoint_sign(v, NULL);
	vault_close(v);
	free(in);
	free(res);
	free(bufs);
	return (double)n / secs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	const char *base = "vault-bench-data";
	size_t plen = 1024;
	int rounds = 3;
	bool quick = false, raw_only = false;
	size_t raw_batch = 1000, raw_records = 200000;
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
	                                     {"payload", required_argument, NULL, 'p'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {"quick", no_argument, NULL, 'q'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {"raw-only", no_argument, NULL, 'R'},
	                                     {"batch", required_argument, NULL, 'b'},
	                                     {"records", required_argument, NULL, 'n'},
	                                     {0}};
	int c;

	while ((c = getopt_long(argc, argv, "d:p:r:qhRb:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			base = optarg;
			break;
		case 'p':
			plen = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'q':
			quick = true;
			break;
		case 'R':
			raw_only = true;
			break;
		case 'b':
			raw_batch = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			raw_records = strtoul(optarg, NULL, 10);
			break;
		case 'h':
			printf("usage: vault-bench [--dir DIR] [--payload BYTES] [--rounds N] "
			       "[--quick]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (plen == 0 || rounds < 1 || rounds > 15) {
		fprintf(stderr, "vault-bench: bad --payload or --rounds\n");
		return 2;
	}
	mkdir(base, 0750);
	struct statfs sf;
	if (statfs(base, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr, "vault-bench: warning: %s is on tmpfs, fsync costs nothing\n",
		        base);

	char raw_dir[4096], vault_dir[4096];
	snprintf(raw_dir, sizeof(raw_dir), "%s/raw", base);
	snprintf(vault_dir, sizeof(vault_dir), "%s/vault", base);
	if (raw_only) {
		double best = 0;
		if (raw_batch == 0 || raw_records == 0)
			return 2;
		for (int r = 0; r < rounds; r++) {
			double v = raw_lmdb(raw_dir, raw_records, raw_batch, plen);
			if (v > best)
				best = v;
		}
		printf("raw %zu %zu %.0f\n", raw_batch, raw_records, best);
		rmrf(raw_dir);
		return 0;
	}

	printf("# command: ");
	for (int i = 0; i < argc; i++)
		printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
	printf("# payload %zu bytes, full fsync per commit, median of %d interleaved rounds\n",
	       plen, rounds);
	printf("%-8s %10s %14s %14s %8s\n", "batch", "records", "raw rec/s", "vault rec/s",
	       "vault/raw");

	const size_t batches[] = {1, 100, 1000, 10000};
	for (size_t bi = 0; bi < 4; bi++) {
		size_t batch = batches[bi];
		size_t n = batch == 1 ? 1000 : batch == 100 ? 30000 : 200000;
		if (quick)
			n /= 10;
		if (n < batch)
			n = batch;
		double raw[15], vlt[15];
		for (int r = 0; r < rounds; r++) {
			/* interleave, alternating who goes first */
			if (r % 2) {
				vlt[r] = vault_run(vault_dir, n, batch, plen, false);
				raw[r] = raw_lmdb(raw_dir, n, batch, plen);
			} else {
				raw[r] = raw_lmdb(raw_dir, n, batch, plen);
				vlt[r] = vault_run(vault_dir, n, batch, plen, false);
			}
		}
		double mr = median(raw, rounds), mv = median(vlt, rounds);
		printf("%-8zu %10zu %14.0f %14.0f %7.0f%%\n", batch, n, mr, mv, 100.0 * mv / mr);
		fflush(stdout);
	}

	/* verify: a vault of 1 KiB entries written in batches of 1000 */
	size_t nv = quick ? 50000 : 500000;
	vault_run(vault_dir, nv, 1000, plen, true);
	printf("\n%-8s %10s %14s %14s %10s\n", "verify", "entries", "entries/s", "MB/s", "threads");
	for (unsigned threads = 1; threads <= 2; threads++) {
		double best = 0, mbs = 0;
		for (int r = 0; r < rounds; r++) {
			struct vault *v;
			struct vault_verify_report rep;
			struct vault_verify_options o = {.threads = threads, .skip_blobs = true};
			if (vault_open(vault_dir, VAULT_OPEN_READ, NULL, &v) < 0)
				return 3;
			double t0 = now();
			int rc = vault_verify(v, &o, &rep);
			double secs = now() - t0;
			vault_close(v);
			if (rc < 0 || rep.problem != VAULT_OK || rep.entries != nv) {
				fprintf(stderr, "vault-bench: verify failed\n");
				return 1;
			}
			if ((double)nv / secs > best) {
				best = (double)nv / secs;
				mbs = (double)rep.payload_bytes / secs / 1e6;
			}
		}
		printf("%-8s %10zu %14.0f %14.1f %10u\n", "", nv, best, mbs, threads);
	}
	rmrf(raw_dir);
	rmrf(vault_dir);
	return 0;
}
