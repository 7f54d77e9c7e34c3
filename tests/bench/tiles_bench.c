/* SPDX-License-Identifier: Apache-2.0 */
/* tiles-bench: the C2SP tlog-tiles export (vault_tiles_export) of a large vault beside two
 * baselines measured in the same run, interleaved, because these machines are shared and
 * noisy: a plain sequential read of every leaf through the same reader API (the least any
 * export must do), and the files alone (the same number of files of the same sizes written
 * through a temporary name, fsync and rename, without the vault). Then the incremental cost:
 * appends of --append entries, each followed by an export into the same folder, beside a read
 * of the new leaves; a no-op export; a --recheck pass over the whole folder.
 *
 *   tiles-bench [--dir DIR] [--entries N] [--append M] [--rounds R] [--payload BYTES]
 *
 * DIR must be on the disk being measured (not tmpfs: fsync would be free). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "vault.h"

#define TMPFS_MAGIC  0x01021994
#define BATCH        10000
#define MAX_ROUNDS   15
#define TILE_BYTES   (VAULT_TILE_WIDTH * VAULT_HASH_LEN)
#define BUNDLE_BYTES (VAULT_TILE_WIDTH * (2 + VAULT_LEAF_LEN))

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
		fprintf(stderr, "tiles-bench: could not remove %s\n", dir);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "tiles-bench: %s: %s\n", what, strerror(-rc));
	exit(3);
}

static void append(struct vault *v, size_t n, size_t plen, uint64_t tag)
{
	static struct vault_entry_in in[BATCH];
	static struct vault_append_result res[BATCH];
	uint8_t *buf = malloc(BATCH * plen);

	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < BATCH && i < n; k++, i++) {
			for (size_t b = 0; b < plen; b++)
				buf[k * plen + b] = (uint8_t)(tag * 131 + i * 7 + b);
			in[k] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
			                                .payload = buf + k * plen,
			                                .payload_len = plen};
		}
		int rc = vault_append(v, in, k, res);
		if (rc < 0)
			die("vault_append", rc);
	}
	free(buf);
}

static char *sign(struct vault *v)
{
	char *note;
	int rc = vault_checkpoint_sign(v, &note);
	if (rc < 0)
		die("vault_checkpoint_sign", rc);
	return note;
}

volatile uint8_t bench_sink; /* keeps the baseline's reads from being optimised away */

/* Baseline: every leaf from seq `from` on, read through vault_iter. Returns seconds. */
static double read_leaves(struct vault *v, uint64_t from, uint64_t *ret_n)
{
	struct vault_reader *r;
	struct vault_iter it;
	struct vault_entry e;
	uint8_t acc = 0;
	uint64_t n = 0;
	double t0 = now();
	int rc;

	if ((rc = vault_reader_begin(v, &r)) < 0 || (rc = vault_iter_init(r, from, &it)) < 0)
		die("read", rc);
	while ((rc = vault_iter_next(&it, &e)) == 1) {
		acc ^= e.leaf_hash[0] ^ (uint8_t)e.leaf.seq;
		n++;
	}
	if (rc < 0)
		die("vault_iter_next", rc);
	vault_iter_deinit(&it);
	vault_reader_end(r);
	bench_sink = acc;
	*ret_n = n;
	return now() - t0;
}

/* Baseline: n_tiles tiles and n_bundles bundles of full size written as the export writes
 * them (temporary name, fsync, rename), then the folder fsynced. Returns seconds. */
static double files_alone(const char *dir, uint64_t n_tiles, uint64_t n_bundles)
{
	static uint8_t data[BUNDLE_BYTES];
	char tmp[4200], dst[4200];
	double t0;
	int dfd;

	rmrf(dir);
	mkdir(dir, 0755);
	t0 = now();
	for (uint64_t i = 0; i < n_tiles + n_bundles; i++) {
		size_t len = i < n_tiles ? TILE_BYTES : BUNDLE_BYTES;
		snprintf(tmp, sizeof(tmp), "%s/.%llu.tmp", dir, (unsigned long long)i);
		snprintf(dst, sizeof(dst), "%s/%llu", dir, (unsigned long long)i);
		data[0] = (uint8_t)i;
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) < 0 ||
		    close(fd) < 0 || rename(tmp, dst) < 0)
			die("files", -errno);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd) < 0)
		die("fsync folder", -errno);
	close(dfd);
	double secs = now() - t0;
	rmrf(dir);
	return secs;
}

static double export(struct vault *v, const char *note, const char *dir, unsigned flags,
                     struct vault_tiles_stats *st)
{
	struct vault_reader *r;
	double t0 = now();
	int rc;

	if ((rc = vault_reader_begin(v, &r)) < 0)
		die("vault_reader_begin", rc);
	rc = vault_tiles_export(r, note, strlen(note), dir, flags, st);
	vault_reader_end(r);
	if (rc < 0)
		die("vault_tiles_export", rc);
	return now() - t0;
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
	const char *base = "tiles-bench-data";
	uint64_t entries = 1000000, appends = 10000;
	size_t plen = 256;
	int rounds = 3, c;
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
	                                     {"entries", required_argument, NULL, 'n'},
	                                     {"append", required_argument, NULL, 'a'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {"payload", required_argument, NULL, 'p'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};

	while ((c = getopt_long(argc, argv, "d:n:a:r:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			base = optarg;
			break;
		case 'n':
			entries = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			appends = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'p':
			plen = strtoul(optarg, NULL, 10);
			break;
		case 'h':
			printf("usage: tiles-bench [--dir DIR] [--entries N] [--append M] "
			       "[--rounds R] [--payload BYTES]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (entries == 0 || appends == 0 || plen == 0 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "tiles-bench: bad --entries, --append, --payload or --rounds\n");
		return 2;
	}
	mkdir(base, 0750);
	struct statfs sf;
	if (statfs(base, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr, "tiles-bench: warning: %s is on tmpfs, fsync costs nothing\n",
		        base);

	char vdir[4096], tiles[4096], files[4096];
	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	snprintf(tiles, sizeof(tiles), "%s/tiles", base);
	snprintf(files, sizeof(files), "%s/files", base);
	rmrf(vdir);
	rmrf(tiles);

	struct vault *v;
	int rc = vault_open(vdir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &v);
	if (rc < 0)
		die(vdir, rc);
	double t0 = now();
	append(v, entries, plen, 0);
	char *note = sign(v);
	double built = now() - t0;
	sync(); /* nothing of the build left to write back during the rounds */

	printf("# command: ");
	for (int i = 0; i < argc; i++)
		printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
	printf("# vault: %llu entries (%zu-byte payloads), built in %.1f s; median of %d "
	       "interleaved rounds\n",
	       (unsigned long long)entries, plen, built, rounds);

	/* the whole log into an empty folder */
	double t_read[MAX_ROUNDS], t_files[MAX_ROUNDS], t_export[MAX_ROUNDS];
	struct vault_tiles_stats st = {0};
	uint64_t n_tiles = 0, n_bundles = entries / VAULT_TILE_WIDTH;
	for (uint64_t c2 = entries; c2; c2 /= VAULT_TILE_WIDTH)
		n_tiles += c2 / VAULT_TILE_WIDTH;
	for (int r = 0; r < rounds; r++) {
		uint64_t n;
		rmrf(tiles);
		if (r % 2) {
			t_export[r] = export(v, note, tiles, 0, &st);
			t_read[r] = read_leaves(v, 0, &n);
			t_files[r] = files_alone(files, n_tiles, n_bundles);
		} else {
			t_read[r] = read_leaves(v, 0, &n);
			t_files[r] = files_alone(files, n_tiles, n_bundles);
			t_export[r] = export(v, note, tiles, 0, &st);
		}
		if (n != entries || st.size != entries)
			return 1;
	}
	printf("# rounds, seconds (read / files alone / export):");
	for (int r = 0; r < rounds; r++)
		printf(" %.2f/%.2f/%.2f", t_read[r], t_files[r], t_export[r]);
	putchar('\n');
	double mr = median(t_read, rounds), mf = median(t_files, rounds);
	double me = median(t_export, rounds);
	printf("\n%-26s %10s %9s %12s %7s %8s\n", "full export", "entries", "seconds", "entries/s",
	       "files", "MiB");
	printf("%-26s %10llu %9.2f %12.0f %7s %8s\n", "read every leaf (base)",
	       (unsigned long long)entries, mr, (double)entries / mr, "-", "-");
	printf("%-26s %10s %9.2f %12s %7llu %8.1f\n", "full files alone (base)", "-", mf, "-",
	       (unsigned long long)(n_tiles + n_bundles),
	       (double)(n_tiles * TILE_BYTES + n_bundles * BUNDLE_BYTES) / 1048576.0);
	printf("%-26s %10llu %9.2f %12.0f %7llu %8.1f\n", "tiles export",
	       (unsigned long long)entries, me, (double)entries / me,
	       (unsigned long long)st.files_written, (double)st.bytes_written / 1048576.0);
	printf("export = %.1fx the read; %.0f%% of (read + files alone)\n", me / mr,
	       100.0 * me / (mr + mf));
	fflush(stdout);

	/* the log grows: +appends entries and a checkpoint, then an export into that folder */
	double t_new[MAX_ROUNDS], t_inc[MAX_ROUNDS], t_noop[MAX_ROUNDS], t_few[MAX_ROUNDS];
	uint64_t written = 0, unchanged = 0, bytes = 0;
	for (int r = 0; r < rounds; r++) {
		uint64_t size = entries + (uint64_t)r * appends, n;
		/* the files this export adds: new full tiles and bundles, the edge's partials */
		uint64_t few_tiles = 0, few_bundles = 0;
		for (unsigned l = 0; l < 8 && (size + appends) >> (8 * l); l++) {
			uint64_t c2 = (size + appends) >> (8 * l), oc = size >> (8 * l);
			uint64_t f = c2 / 256 - oc / 256 + (c2 % 256 != 0 && c2 != oc);
			few_tiles += f;
			few_bundles += l == 0 ? f : 0;
		}
		append(v, appends, plen, (uint64_t)r + 1);
		free(note);
		note = sign(v);
		if (r % 2) {
			t_inc[r] = export(v, note, tiles, 0, &st);
			t_new[r] = read_leaves(v, size, &n);
			t_few[r] = files_alone(files, few_tiles, few_bundles);
		} else {
			t_new[r] = read_leaves(v, size, &n);
			t_few[r] = files_alone(files, few_tiles, few_bundles);
			t_inc[r] = export(v, note, tiles, 0, &st);
		}
		if (st.files_written != few_tiles + few_bundles + 1)
			return 1;
		written += st.files_written;
		unchanged += st.files_unchanged;
		bytes += st.bytes_written;
		t_noop[r] = export(v, note, tiles, 0, &st);
		if (n != appends || st.files_written != 0)
			return 1;
	}
	double mn = median(t_new, rounds), mi = median(t_inc, rounds);
	double mfew = median(t_few, rounds);
	double mo = median(t_noop, rounds);
	printf("\n%-26s %10s %9s %12s %7s %9s\n", "after each append of", "entries", "ms",
	       "entries/s", "written", "unchanged");
	printf("%-26s %10llu %9.2f %12.0f %7s %9s\n", "read the new leaves (base)",
	       (unsigned long long)appends, mn * 1e3, (double)appends / mn, "-", "-");
	printf("%-26s %10s %9.2f %12s %7llu %9s\n", "its files alone (base)", "-", mfew * 1e3, "-",
	       (unsigned long long)(written / (uint64_t)rounds - 1), "-");
	printf("%-26s %10llu %9.2f %12.0f %7llu %9llu\n", "incremental tiles export",
	       (unsigned long long)appends, mi * 1e3, (double)appends / mi,
	       (unsigned long long)(written / (uint64_t)rounds),
	       (unsigned long long)(unchanged / (uint64_t)rounds));
	printf("%-26s %10d %9.2f %12s %7d %9llu\n", "same checkpoint again", 0, mo * 1e3, "-", 0,
	       (unsigned long long)st.files_unchanged);
	printf("incremental = %.1f%% of the full export's time for %.1f%% of its entries; "
	       "%.0f KiB written per append\n",
	       100.0 * mi / me, 100.0 * (double)appends / (double)entries,
	       (double)bytes / rounds / 1024.0);

	/* --recheck: every file read back and compared, nothing to write */
	double t_re = export(v, note, tiles, VAULT_TILES_RECHECK, &st);
	printf("%-26s %10llu %9.2f %12.0f %7llu %9llu\n", "--recheck of the folder",
	       (unsigned long long)st.size, t_re * 1e3, (double)st.size / t_re,
	       (unsigned long long)st.files_written, (unsigned long long)st.files_unchanged);

	free(note);
	vault_close(v);
	rmrf(vdir);
	rmrf(tiles);
	return 0;
}
