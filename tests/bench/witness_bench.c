/* SPDX-License-Identifier: Apache-2.0 */
/* witness-server-bench: add-checkpoint requests per second through a running evident-witness,
 * with N logs (origins) submitting at once, each on its own keep-alive connection and each
 * request waiting for the previous answer (a log can only submit its next checkpoint with the
 * size the witness last cosigned), fsync included; beside, in the same run and interleaved:
 *
 *  - naive: what the design without group commit costs at best: the same threads each doing,
 *    per request, one LMDB write transaction (read the origin's state, write the new one)
 *    committed with a full sync, on the same filesystem; no HTTP, no signatures;
 *  - the same witness with --max-batch 1: the naive design through the whole server.
 *
 * The checkpoints are real: N vaults of K entries, their roots and consistency proofs from the
 * vault library, each note signed with its vault's key; every answer must be 200 and the last
 * cosignature of each log is verified. The "cpu us" column is the witness's CPU time per
 * request (parse, two Ed25519 operations, HTTP, its share of the commits).
 *
 *   witness-server-bench [--witness PATH] [--dir DIR] [--origins N] [--requests K]
 *                        [--rounds R] [--threads T]
 *
 * DIR must be on the disk being measured (not tmpfs: fsync would be free). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vault.h"

#define PROG        "witness-server-bench"
#define TMPFS_MAGIC 0x01021994
#define NAME        "bench.example/witness"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(3);
}

static void rmrf(const char *dir)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("could not remove %s", dir);
}

/* ------------------------------------------------------------------ the logs */

struct log {
	char origin[64];
	struct vault_pubkey key;
	size_t k;
	char **requests; /* [k]: whole HTTP requests, checkpoint i + 1 from old size i */
	size_t *lens;
	char **notes; /* [k]: the signed notes */
	size_t *note_lens;
};

static char *sign_note(EVP_PKEY *pk, const struct vault_pubkey *pub,
                       const struct vault_checkpoint *cp, size_t *ret_len)
{
	char body[512], b64[128], *note;
	uint8_t sig[4 + 64];
	size_t siglen = 64;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int n = vault_checkpoint_body(cp, body, sizeof(body));

	if (n < 0 || !ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig + 4, &siglen, (uint8_t *)body, (size_t)n) != 1)
		die("signing a checkpoint failed");
	EVP_MD_CTX_free(ctx);
	memcpy(sig, pub->id, 4);
	EVP_EncodeBlock((unsigned char *)b64, sig, sizeof(sig));
	if (asprintf(&note, "%s\n\xe2\x80\x94 %s %s\n", body, pub->name, b64) < 0)
		die("out of memory");
	*ret_len = strlen(note);
	return note;
}

/* A vault of k entries, and the k requests that take a witness from 0 to k one entry at a
 * time. */
static void make_log(const char *dir, unsigned i, size_t k, struct log *l)
{
	struct vault_options opts = {0};
	struct vault_entry_in *in = calloc(k, sizeof(*in));
	struct vault_append_result *res = calloc(k, sizeof(*res));
	uint64_t *payloads = calloc(k, sizeof(*payloads));
	uint8_t(*proof)[VAULT_HASH_LEN] = calloc(VAULT_PROOF_MAX, VAULT_HASH_LEN);
	char path[4096], keypath[4200];
	struct vault_reader *r;
	struct vault_info info;
	struct vault *v;
	EVP_PKEY *pk;
	FILE *f;
	int rc;

	snprintf(l->origin, sizeof(l->origin), "bench.example/log-%02u", i);
	snprintf(path, sizeof(path), "%s/logs/%02u", dir, i);
	opts.origin = l->origin;
	rc = vault_open(path, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &opts, &v);
	if (rc < 0 || !in || !res || !payloads || !proof)
		die("%s: cannot create the vault: %s", path, strerror(-rc));
	for (size_t j = 0; j < k; j++) {
		payloads[j] = j * 1000003 + i;
		in[j] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
		                                .payload = &payloads[j],
		                                .payload_len = sizeof(payloads[j])};
	}
	if ((rc = vault_append(v, in, k, res)) < 0 || (rc = vault_info(v, &info)) < 0 ||
	    (rc = vault_reader_begin(v, &r)) < 0)
		die("%s: %s", path, strerror(-rc));
	l->key = info.key;
	snprintf(keypath, sizeof(keypath), "%s/signing.key", path);
	f = fopen(keypath, "r");
	pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (!pk)
		die("%s: cannot read the signing key", keypath);
	fclose(f);
	l->k = k;
	l->requests = calloc(k, sizeof(char *));
	l->lens = calloc(k, sizeof(size_t));
	l->notes = calloc(k, sizeof(char *));
	l->note_lens = calloc(k, sizeof(size_t));
	for (size_t s = 1; s <= k; s++) {
		struct vault_checkpoint cp = {.size = s};
		char *body, *head, b64[64];
		size_t blen = 0, cap;
		int np = 0;

		strcpy(cp.origin, l->origin);
		if ((rc = vault_root(r, s, cp.root)) < 0 ||
		    (s > 1 && (np = vault_prove_consistency(r, s - 1, s, proof)) < 0))
			die("%s: proof of size %zu: %s", path, s, strerror(-(rc < 0 ? rc : np)));
		l->notes[s - 1] = sign_note(pk, &l->key, &cp, &l->note_lens[s - 1]);
		cap = 32 + (size_t)np * 46 + l->note_lens[s - 1];
		body = malloc(cap);
		blen = (size_t)snprintf(body, cap, "old %zu\n", s - 1);
		for (int p = 0; p < np; p++) {
			EVP_EncodeBlock((unsigned char *)b64, proof[p], VAULT_HASH_LEN);
			blen += (size_t)snprintf(body + blen, cap - blen, "%s\n", b64);
		}
		body[blen++] = '\n';
		memcpy(body + blen, l->notes[s - 1], l->note_lens[s - 1]);
		blen += l->note_lens[s - 1];
		if (asprintf(
		        &head,
		        "POST /add-checkpoint HTTP/1.1\r\nHost: bench\r\nContent-Length: %zu\r\n"
		        "\r\n",
		        blen) < 0)
			die("out of memory");
		l->lens[s - 1] = strlen(head) + blen;
		l->requests[s - 1] = malloc(l->lens[s - 1]);
		memcpy(l->requests[s - 1], head, strlen(head));
		memcpy(l->requests[s - 1] + strlen(head), body, blen);
		free(head);
		free(body);
	}
	EVP_PKEY_free(pk);
	vault_reader_end(r);
	vault_close(v);
	free(in);
	free(res);
	free(payloads);
	free(proof);
}

/* ------------------------------------------------------------------ one run */

struct client {
	pthread_t thread;
	struct log *log;
	int port;
	pthread_barrier_t *start;
	/* naive mode */
	MDB_env *env;
	MDB_dbi dbi;
	/* results */
	double *lat_ms;
	double done_at;
	size_t errors;
	char first_error[256];
	char last_line[1024]; /* the last cosignature line */
};

static void set_error(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct client *c, const char *fmt, ...)
{
	va_list ap;
	if (c->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

/* Reads one response; returns its status and copies its body into body (NUL-terminated). */
static int read_response(int fd, char *body, size_t body_size)
{
	char buf[8192], *end;
	size_t have = 0, clen = 0, hlen;
	int status;

	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
		if (have == sizeof(buf) - 1)
			return -1;
	}
	hlen = (size_t)(end + 4 - buf);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
	if (clen >= body_size || hlen + clen > sizeof(buf) - 1)
		return -1;
	while (have < hlen + clen) {
		ssize_t n = read(fd, buf + have, hlen + clen - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	memcpy(body, buf + hlen, clen);
	body[clen] = '\0';
	return status;
}

static void *http_client(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)c->port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	char body[1024];

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_barrier_wait(c->start);
	for (size_t s = 0; s < c->log->k; s++) {
		double t0 = now();
		const char *p = c->log->requests[s];
		size_t left = c->log->lens[s];
		int status;
		while (left) {
			ssize_t n = write(fd, p, left);
			if (n <= 0)
				die("write: %s", strerror(errno));
			p += n;
			left -= (size_t)n;
		}
		status = read_response(fd, body, sizeof(body));
		c->lat_ms[s] = (now() - t0) * 1e3;
		if (status < 0)
			die("%s: the connection failed at size %zu", c->log->origin, s + 1);
		if (status != 200)
			set_error(c, "%s: size %zu: status %d: %s", c->log->origin, s + 1, status,
			          body);
		else
			snprintf(c->last_line, sizeof(c->last_line), "%s", body);
	}
	c->done_at = now();
	close(fd);
	return NULL;
}

static void *naive_client(void *arg)
{
	struct client *c = arg;
	MDB_val k = {strlen(c->log->origin), c->log->origin}, d;
	uint8_t value[49 + VAULT_NOTE_MAX];

	pthread_barrier_wait(c->start);
	for (size_t s = 0; s < c->log->k; s++) {
		double t0 = now();
		MDB_txn *txn;
		int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
		if (rc == 0) {
			rc = mdb_get(txn, c->dbi, &k, &d);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
		if (rc == 0) {
			memset(value, (int)s, 49);
			memcpy(value + 49, c->log->notes[s], c->log->note_lens[s]);
			d = (MDB_val){49 + c->log->note_lens[s], value};
			rc = mdb_put(txn, c->dbi, &k, &d, 0);
		}
		if (rc == 0)
			rc = mdb_txn_commit(txn); /* full sync */
		else
			mdb_txn_abort(txn);
		if (rc)
			die("naive: %s", mdb_strerror(rc));
		c->lat_ms[s] = (now() - t0) * 1e3;
	}
	c->done_at = now();
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double rate, p50, p99;
	double cpu_us; /* the witness's CPU time (user + system) per request; 0: naive */
	size_t errors;
	char witness_summary[256];
};

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static pid_t start_witness(const char *witness, const char *dir, const char *state, int port,
                           unsigned max_batch, unsigned threads, const char *log_path)
{
	char listen_arg[64], trust[4200], batch[16], thr[16];
	pid_t pid;

	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);
	snprintf(trust, sizeof(trust), "%s/trust", dir);
	snprintf(batch, sizeof(batch), "%u", max_batch);
	snprintf(thr, sizeof(thr), "%u", threads);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		FILE *f = freopen(log_path, "w", stderr);
		char *argv[] = {(char *)witness,
		                "--listen",
		                listen_arg,
		                "--state",
		                (char *)state,
		                "--name",
		                NAME,
		                "--trust",
		                trust,
		                "--max-batch",
		                batch,
		                threads ? "--threads" : NULL,
		                thr,
		                NULL};
		(void)f;
		execv(witness, argv);
		_exit(127);
	}
	/* listening? */
	for (double t0 = now(); now() - t0 < 20;) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0), st;
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return pid;
		}
		if (fd >= 0)
			close(fd);
		if (waitpid(pid, &st, WNOHANG) == pid)
			die("%s exited at start (see %s)", witness, log_path);
		usleep(10000);
	}
	die("%s did not listen within 20 s (see %s)", witness, log_path);
}

/* The witness's CPU seconds so far (user + system, /proc/PID/stat fields 14 and 15). */
static double witness_cpu_s(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
	                 &stime) != 2)
		die("%s: cannot read the CPU times", path);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The witness's "stopped: N requests decided in M synced commits (...)" line. */
static void stop_witness(pid_t pid, const char *log_path, char *summary, size_t size)
{
	char line[1024];
	int st;
	FILE *f;

	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("the witness did not stop cleanly (see %s)", log_path);
	snprintf(summary, size, "?");
	f = fopen(log_path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "stopped: ");
		if (p) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(summary, size, "%s", p + 9);
		}
	}
	if (f)
		fclose(f);
}

enum mode { NAIVE, WITNESS_BATCH1, WITNESS_GROUP };

static void run(enum mode mode, const char *witness, const char *dir, unsigned round,
                struct log *logs, unsigned n, unsigned threads, const struct vault_pubkey *wkey,
                struct result *out)
{
	struct client *c = calloc(n, sizeof(*c));
	pthread_barrier_t start;
	size_t total = 0, errors = 0;
	double t0, t1 = 0, *all;
	char state[4200], log_path[4300];
	MDB_env *env = NULL;
	MDB_dbi dbi = 0;
	pid_t pid = 0;
	int port = 0;

	snprintf(state, sizeof(state), "%s/state-%u-%d", dir, round, mode);
	snprintf(log_path, sizeof(log_path), "%s.log", state);
	rmrf(state);
	if (mkdir(state, 0700) < 0)
		die("%s: %s", state, strerror(errno));
	if (mode == NAIVE) {
		MDB_txn *txn;
		if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
		    mdb_env_set_mapsize(env, 1ull << 30) || mdb_env_open(env, state, 0, 0640) ||
		    mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, "logs", MDB_CREATE, &dbi) || mdb_txn_commit(txn))
			die("naive: cannot open LMDB in %s", state);
	} else {
		/* the key --vkey printed, so that the cosignatures can be checked */
		char cmd[8800];
		snprintf(cmd, sizeof(cmd), "cp -p '%s/key/witness.key' '%s/'", dir, state);
		if (system(cmd) != 0)
			die("cannot copy the witness key into %s", state);
		port = free_port();
		pid = start_witness(witness, dir, state, port, mode == WITNESS_BATCH1 ? 1 : 1024,
		                    threads, log_path);
	}
	pthread_barrier_init(&start, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		c[i] = (struct client){
		    .log = &logs[i], .port = port, .start = &start, .env = env, .dbi = dbi};
		c[i].lat_ms = calloc(logs[i].k, sizeof(double));
		total += logs[i].k;
		if (pthread_create(&c[i].thread, NULL, mode == NAIVE ? naive_client : http_client,
		                   &c[i]))
			die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	t0 = now();
	all = calloc(total, sizeof(double));
	total = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(c[i].thread, NULL);
		if (c[i].done_at > t1)
			t1 = c[i].done_at;
		memcpy(all + total, c[i].lat_ms, logs[i].k * sizeof(double));
		total += logs[i].k;
		errors += c[i].errors;
		if (c[i].errors)
			fprintf(stderr, "%s: %zu errors, the first: %s\n", PROG, c[i].errors,
			        c[i].first_error);
		/* The last cosignature of each log verifies by the witness's key. */
		if (mode != NAIVE && !c[i].errors) {
			const char *note = logs[i].notes[logs[i].k - 1];
			size_t nl = logs[i].note_lens[logs[i].k - 1], ll = strlen(c[i].last_line);
			char *both = malloc(nl + ll);
			memcpy(both, note, nl);
			memcpy(both + nl, c[i].last_line, ll);
			if (vault_cosignatures_verify(both, nl + ll, wkey, 1, 0, NULL) != 1)
				die("%s: the last cosignature does not verify", logs[i].origin);
			free(both);
		}
		free(c[i].lat_ms);
	}
	if (mode != NAIVE)
		out->cpu_us = witness_cpu_s(pid) * 1e6 / (double)total;
	qsort(all, total, sizeof(double), cmp_double);
	out->rate = (double)total / (t1 - t0);
	out->p50 = all[total / 2];
	out->p99 = all[(size_t)((double)total * 0.99)];
	out->errors = errors;
	snprintf(out->witness_summary, sizeof(out->witness_summary), "-");
	if (mode == NAIVE) {
		mdb_env_close(env);
		snprintf(out->witness_summary, sizeof(out->witness_summary), "%zu synced commits",
		         total);
	} else {
		stop_witness(pid, log_path, out->witness_summary, sizeof(out->witness_summary));
	}
	rmrf(state);
	pthread_barrier_destroy(&start);
	free(all);
	free(c);
}

static void witness_key(const char *witness, const char *dir, struct vault_pubkey *ret)
{
	char cmd[8400], line[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --state '%s/key' --name " NAME " --vkey", witness, dir);
	p = popen(cmd, "r");
	if (!p || !fgets(line, sizeof(line), p) || pclose(p) != 0 ||
	    vault_pubkey_parse(line, strlen(line), NULL, ret) < 0)
		die("%s --vkey failed", witness);
}

static int cmp_result(const void *a, const void *b)
{
	return cmp_double(&((const struct result *)a)->rate, &((const struct result *)b)->rate);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"witness", required_argument, NULL, 'w'},
	    {"dir", required_argument, NULL, 'd'},
	    {"origins", required_argument, NULL, 'n'},
	    {"requests", required_argument, NULL, 'k'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"threads", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const names[] = {
	    [NAIVE] = "naive: 1 synced LMDB commit a request",
	    [WITNESS_BATCH1] = "evident-witness --max-batch 1",
	    [WITNESS_GROUP] = "evident-witness (group commit)",
	};
	const char *witness = NULL, *dir = "bench-data/witness";
	unsigned n = 16, rounds = 3, threads = 0;
	size_t k = 1000;
	char default_witness[4200], trust[4200];
	struct result res[3][16];
	struct vault_pubkey wkey;
	struct statfs sfs;
	struct log *logs;
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			witness = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'n':
			n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			k = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: " PROG " [--witness PATH] [--dir DIR] [--origins N] "
			        "[--requests K] [--rounds R] [--threads T]\n");
			return 2;
		}
	}
	if (n < 1 || n > 256 || k < 2 || k > 100000 || rounds < 1 || rounds > 16)
		die("--origins 1..256, --requests 2..100000, --rounds 1..16");
	if (!witness) {
		/* BUILD/tests/bench/witness-server-bench -> BUILD/tools/witness/evident-witness */
		ssize_t len =
		    readlink("/proc/self/exe", default_witness, sizeof(default_witness) - 64);
		char *slash;
		if (len < 0)
			die("--witness PATH is needed");
		default_witness[len] = '\0';
		for (int up = 0; up < 3 && (slash = strrchr(default_witness, '/')); up++)
			*slash = '\0';
		strcat(default_witness, "/tools/witness/evident-witness");
		witness = default_witness;
	}
	if (access(witness, X_OK) < 0)
		die("%s: %s (--witness PATH)", witness, strerror(errno));
	rmrf(dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		if (system(cmd) != 0)
			die("%s: cannot create", dir);
	}
	if (statfs(dir, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC)
		die("%s is on tmpfs: fsync would be free; use a folder on the disk to measure",
		    dir);

	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n# %ld cores; %s; %u logs x %zu add-checkpoint requests (one keep-alive "
	       "connection each, every request after the previous answer)\n",
	       sysconf(_SC_NPROCESSORS_ONLN), dir, n, k);
	fflush(stdout);
	logs = calloc(n, sizeof(*logs));
	snprintf(trust, sizeof(trust), "%s/logs", dir);
	if (mkdir(trust, 0750) < 0)
		die("%s: %s", trust, strerror(errno));
	snprintf(trust, sizeof(trust), "%s/trust", dir);
	f = fopen(trust, "w");
	if (!f)
		die("%s: %s", trust, strerror(errno));
	for (unsigned i = 0; i < n; i++) {
		char vkey[512];
		make_log(dir, i, k, &logs[i]);
		vault_pubkey_format(&logs[i].key, vkey, sizeof(vkey));
		fprintf(f, "%s\n", vkey);
	}
	fclose(f);
	witness_key(witness, dir, &wkey);

	printf("%-38s %5s %8s %8s %8s %7s  %s\n", "run", "round", "req/s", "p50 ms", "p99 ms",
	       "cpu us", "commits");
	for (unsigned r = 0; r < rounds; r++)
		for (int m = 0; m < 3; m++) {
			struct result *x = &res[m][r];
			run((enum mode)m, witness, dir, r, logs, n, threads, &wkey, x);
			printf("%-38s %5u %8.0f %8.2f %8.2f %7.0f  %s%s\n", names[m], r + 1,
			       x->rate, x->p50, x->p99, x->cpu_us, x->witness_summary,
			       x->errors ? "  ERRORS" : "");
			fflush(stdout);
			if (x->errors)
				die("a run had errors");
		}
	printf("\nmedians of %u rounds\n", rounds);
	double median[3];
	for (int m = 0; m < 3; m++) {
		struct result sorted[16];
		memcpy(sorted, res[m], rounds * sizeof(*sorted));
		qsort(sorted, rounds, sizeof(*sorted), cmp_result);
		median[m] = sorted[rounds / 2].rate;
	}
	for (int m = 0; m < 3; m++)
		printf("%-38s %8.0f req/s  %5.1fx naive\n", names[m], median[m],
		       median[m] / median[NAIVE]);
	rmrf(dir);
	return 0;
}
