/* SPDX-License-Identifier: Apache-2.0 */
/* faulty-oracle: an oracle (proto/PROTOCOL.md "Oracle protocol") that misbehaves on purpose,
 * for the client's tests. The first request a process gets (the probe) is answered correctly
 * unless the mode says otherwise; the mode decides what happens to the later ones.
 *
 *     faulty-oracle MODE [ARG]
 *
 *   sum [K]         correct: K outputs (default 1), output k of a row = sum of the row + k
 *                   (NaN counts as 0)
 *   crash-start     writes a line to stderr and exits with status 3 before reading anything
 *   crash-after N   answers N requests, then aborts (SIGABRT) on the next one: a fresh process
 *                   answers again, so one retry recovers
 *   crash-big N     aborts on every request with more than N rows (a persistent crasher)
 *   hang            never answers a request after the probe
 *   hang-start      never answers anything
 *   slow MS         waits MS ms before each answer after the probe
 *   shape           answers 2 outputs after the probe's 1
 *   count           answers one value too few
 *   nan             answers NaN as the first value
 *   badid           answers with request_id + 1
 *   noid            correct (as sum), but no answer carries a request_id, the probe's
 *                   included (the protocol's minimal form)
 *   noid-error      as noid, and every request after the probe gets an `error` without
 *                   request_id
 *   error           answers with `error` set ("model exploded")
 *   garbage         writes text to stdout instead of an answer
 *   huge            writes a length prefix of 1 GiB
 *   zero-outputs    answers the probe with n_outputs 0
 *   close-stdout    closes stdin and stdout after the probe and sleeps
 *   stderr-spam     writes 1 MiB to stderr before each answer
 *   env             3 outputs per row: $EVIDENT_N_FEATURES, $EVIDENT_ORACLE_PROTOCOL and the
 *                   number of open descriptors (from /proc/self/fd, the directory's own
 *                   excluded)
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evident.pb-c.h"
#include "frame.h"

static int write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void send_response(const Evident__V1__PredictResponse *r)
{
	size_t body = evident__v1__predict_response__get_packed_size(r);
	uint8_t *buf = malloc(body + FRAME_HEADER_MAX);
	size_t hl = frame_header_encode(body, buf);

	evident__v1__predict_response__pack(r, buf + hl);
	if (write_all(1, buf, hl + body) < 0)
		exit(1);
	free(buf);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void answer(const char *mode, long arg, unsigned served,
                   const Evident__V1__PredictRequest *q)
{
	Evident__V1__PredictResponse r = EVIDENT__V1__PREDICT_RESPONSE__INIT;
	size_t K = !strcmp(mode, "sum") && arg > 0 ? (size_t)arg : 1, n = q->n_rows;
	bool probe = served == 0;

	if (!strcmp(mode, "env"))
		K = 3;
	if (!probe && !strcmp(mode, "shape"))
		K = 2;
	if (!strcmp(mode, "crash-after") && served >= (unsigned)arg) {
		fprintf(stderr, "faulty-oracle: crashing now\n");
		abort();
	}
	if (!strcmp(mode, "crash-big") && n > (size_t)arg) {
		fprintf(stderr, "faulty-oracle: request too big, crashing\n");
		abort();
	}
	if (!probe && !strcmp(mode, "hang"))
		for (;;)
			pause();
	if (!strcmp(mode, "hang-start"))
		for (;;)
			pause();
	if (!probe && !strcmp(mode, "slow"))
		sleep_ms(arg);
	if (!strcmp(mode, "stderr-spam")) {
		static char junk[1 << 20];
		memset(junk, 'x', sizeof(junk));
		junk[sizeof(junk) - 1] = '\n';
		write_all(2, junk, sizeof(junk));
	}
	if (!probe && !strcmp(mode, "garbage")) {
		char text[4096];
		for (size_t i = 0; i < sizeof(text); i++)
			text[i] = "hello, I am not protobuf\n"[i % 25];
		write_all(1, text, sizeof(text));
		return;
	}
	if (!probe && !strcmp(mode, "huge")) {
		uint8_t hdr[FRAME_HEADER_MAX];
		write_all(1, hdr, frame_header_encode(1u << 30, hdr));
		return;
	}
	bool noid = !strncmp(mode, "noid", 4);
	if (!probe && (!strcmp(mode, "error") || !strcmp(mode, "noid-error"))) {
		r.error = "model exploded";
		r.has_request_id = !noid;
		r.request_id = q->request_id;
		send_response(&r);
		return;
	}
	double *v = calloc(n * K + 1, sizeof(double));
	double envv[3] = {0, 0, 0};
	if (!strcmp(mode, "env")) {
		const char *a = getenv("EVIDENT_N_FEATURES"),
		           *b = getenv("EVIDENT_ORACLE_PROTOCOL");
		envv[0] = a ? atof(a) : -1;
		envv[1] = b ? atof(b) : -1;
		envv[2] = open_fds();
	}
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (size_t j = 0; j < q->n_features && i * q->n_features + j < q->n_values; j++) {
			double x = q->values[i * q->n_features + j];
			s += isnan(x) ? 0 : x;
		}
		for (size_t k = 0; k < K; k++)
			v[i * K + k] = !strcmp(mode, "env") ? envv[k] : s + (double)k;
	}
	r.has_n_outputs = 1;
	r.n_outputs = (uint32_t)K;
	if (probe && !strcmp(mode, "zero-outputs"))
		r.n_outputs = 0;
	r.n_values = n * K;
	if (!probe && !strcmp(mode, "count"))
		r.n_values--;
	r.values = v;
	if (!probe && !strcmp(mode, "nan"))
		v[0] = NAN;
	r.has_request_id = !noid;
	r.request_id = q->request_id + (!probe && !strcmp(mode, "badid"));
	send_response(&r);
	free(v);
	if (probe && !strcmp(mode, "close-stdout")) {
		close(0);
		close(1);
		for (;;)
			pause();
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sum";
	long arg = argc > 2 ? atol(argv[2]) : 0;
	struct frame_reader fr;
	uint8_t buf[65536];
	unsigned served = 0;

	if (!strcmp(mode, "crash-start")) {
		fprintf(stderr, "faulty-oracle: refusing to start\n");
		return 3;
	}
	frame_reader_init(&fr, FRAME_MAX_LIMIT);
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		frame_reader_feed(&fr, buf, (size_t)n);
		const uint8_t *body;
		size_t len;
		while (frame_reader_next(&fr, &body, &len) == 1) {
			Evident__V1__PredictRequest *q =
			    evident__v1__predict_request__unpack(NULL, len, body);
			if (!q) {
				fprintf(stderr, "faulty-oracle: undecodable request\n");
				return 1;
			}
			answer(mode, arg, served++, q);
			evident__v1__predict_request__free_unpacked(q, NULL);
		}
	}
	frame_reader_deinit(&fr);
	return 0;
}
