/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for libevident (tools/libevident/evident.h) against the fake daemon of
 * tests/common/fake_daemon.c on a temporary Unix socket: acks and flush, chunked uploads with
 * verified hashes, reconnects that resend and get the original seqs, backpressure, retries,
 * error mapping (CONFLICT for a retry with other content reaches the caller, never retried),
 * strings that are not UTF-8 refused locally, and thread safety. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evident.h"
#include "fake_daemon.h"
#include "testutil.h"

#define MAX_IDS     40000
#define N_FEATURES  3
#define WAIT_MS     20000
#define CLIENT_NAME "unit"
#define MANIFEST_JSON                                                                         \
	"{\"model_id\": \"m\", \"version\": \"1\", \"framework\": \"linear-json\",\n"         \
	" \"output_space\": \"probability\",\n"                                               \
	" \"decision\": {\"kind\": \"THRESHOLD\", \"threshold\": 0.5,\n"                      \
	"              \"label_below\": \"approve\", \"label_above\": \"decline\"},\n"        \
	" \"features\": [{\"name\": \"a\", \"type\": \"NUMERIC\", \"min\": 0, \"max\": 1},\n" \
	"              {\"name\": \"b\", \"unit\": \"EUR\"},\n"                               \
	"              {\"name\": \"c\", \"type\": \"CATEGORICAL\", \"categories\": [\"x\", " \
	"\"y\"],\n"                                                                           \
	"               \"protected\": true}],\n"                                             \
	" \"lineage\": {\"trainingDataUri\": \"s3://bucket/train.csv\",\n"                    \
	"             \"hyperparameters\": {\"l2\": \"0.1\"}, \"created_by\": \"ci\"},\n"     \
	" \"output_names\": [\"p_decline\"]}"

/* What the callbacks saw. Request ids are "r<index>" so each ack lands in its own cell. */
struct seen {
	pthread_mutex_t mu;
	uint32_t acks[MAX_IDS];
	uint64_t seq[MAX_IDS];
	bool dup[MAX_IDS];
	uint64_t n_acks, n_dups, n_other_acks;
	uint64_t n_errors;      /* about records or registrations */
	uint64_t n_conn_errors; /* about the connection (request_id NULL) */
	int last_err;
	char last_err_id[300];
	char last_msg[600];
	char first_ack_id[300];
};

struct fixture {
	char *dir;
	char *sock;
	char *artifact;
	char *reference;
	struct fake_daemon *fake;
	struct seen *seen;
};

static void on_ack(void *ud, const char *id, uint64_t seq, bool dup)
{
	struct seen *s = ud;

	pthread_mutex_lock(&s->mu);
	if (s->n_acks + s->n_other_acks == 0)
		snprintf(s->first_ack_id, sizeof(s->first_ack_id), "%s", id);
	if (id[0] == 'r' && id[1] >= '0' && id[1] <= '9' && atol(id + 1) < MAX_IDS) {
		long i = atol(id + 1);
		s->acks[i]++;
		s->seq[i] = seq;
		s->dup[i] = dup;
		s->n_acks++;
	} else {
		s->n_other_acks++;
	}
	if (dup)
		s->n_dups++;
	pthread_mutex_unlock(&s->mu);
}

static void on_error(void *ud, const char *id, int err, const char *msg)
{
	struct seen *s = ud;

	pthread_mutex_lock(&s->mu);
	if (!id) {
		s->n_conn_errors++;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->n_errors++;
	s->last_err = err;
	snprintf(s->last_err_id, sizeof(s->last_err_id), "%s", id);
	snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg ? msg : "");
	pthread_mutex_unlock(&s->mu);
}

static void write_file(const char *path, size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len ? len : 1);
	FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)test_rand(&seed);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
}

static void sha256_file(const char *path, char hex[65])
{
	size_t len = 0;
	char *data = test_read_file(path, &len);
	unsigned char md[32];
	unsigned int md_len = 0;

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	free(data);
}

static void fx_fake(struct fixture *fx, const struct fake_config *cfg)
{
	ck_assert_int_eq(fake_daemon_start(fx->sock, cfg, &fx->fake), 0);
}

static struct fixture fx_setup(const struct fake_config *cfg)
{
	struct fixture fx = {0};

	fx.dir = test_tmpdir("libevident");
	ck_assert_int_ge(asprintf(&fx.sock, "%s/ingest.sock", fx.dir), 0);
	ck_assert_int_ge(asprintf(&fx.artifact, "%s/model.json", fx.dir), 0);
	ck_assert_int_ge(asprintf(&fx.reference, "%s/reference.bin", fx.dir), 0);
	fx.seen = calloc(1, sizeof(*fx.seen));
	ck_assert_ptr_nonnull(fx.seen);
	pthread_mutex_init(&fx.seen->mu, NULL);
	write_file(fx.artifact, 1000, 1);
	if (cfg)
		fx_fake(&fx, cfg);
	return fx;
}

static void fx_teardown(struct fixture *fx)
{
	fake_daemon_stop(fx->fake);
	test_rmrf(fx->dir);
	free(fx->dir);
	free(fx->sock);
	free(fx->artifact);
	free(fx->reference);
	free(fx->seen);
}

static struct evident_options fx_options(struct fixture *fx)
{
	return (struct evident_options){
	    .socket_path = fx->sock,
	    .client_name = CLIENT_NAME,
	    .on_ack = on_ack,
	    .on_error = on_error,
	    .userdata = fx->seen,
	    .max_backoff_ms = 50,
	};
}

static struct evident_client *fx_client(struct fixture *fx, const struct evident_options *o)
{
	struct evident_options def = fx_options(fx);
	struct evident_client *c = NULL;

	ck_assert_int_eq(evident_client_new(o ? o : &def, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* A record with request id "r<i>" (or a generated one when i < 0). */
struct rec {
	struct evident_record r;
	double features[N_FEATURES];
	double score;
	char id[32];
};

static void make_record(struct rec *x, long i)
{
	static const char *const ckeys[] = {"amount"};
	static const double cvals[] = {12.5};
	static const char *const lkeys[] = {"desk"};
	static const char *const lvals[] = {"emea"};

	*x = (struct rec){0};
	for (int k = 0; k < N_FEATURES; k++)
		x->features[k] = (double)(i + k);
	x->score = 0.25;
	if (i >= 0)
		snprintf(x->id, sizeof(x->id), "r%ld", i);
	x->r = (struct evident_record){
	    .model_id = "m",
	    .model_version = "1",
	    .request_id = i >= 0 ? x->id : NULL,
	    .features = x->features,
	    .n_features = N_FEATURES,
	    .scores = &x->score,
	    .n_scores = 1,
	    .decision = "approve",
	    .context_keys = ckeys,
	    .context_values = cvals,
	    .n_context = 1,
	    .label_keys = lkeys,
	    .label_values = lvals,
	    .n_labels = 1,
	    .trace_id = "trace-1",
	};
}

static int send_record(struct evident_client *c, long i)
{
	struct rec x;

	make_record(&x, i);
	return evident_record(c, &x.r);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each of the ids r0..r(n-1) acknowledged exactly once, with distinct seqs. */
static void assert_acked_once(struct seen *s, long n)
{
	uint8_t *seqs = calloc((size_t)n * 4 + 64, 1);

	ck_assert_ptr_nonnull(seqs);
	pthread_mutex_lock(&s->mu);
	for (long i = 0; i < n; i++) {
		ck_assert_msg(s->acks[i] == 1, "r%ld acked %u times", i, s->acks[i]);
		ck_assert_uint_lt(s->seq[i], (uint64_t)n * 4 + 64);
		ck_assert_msg(!seqs[s->seq[i]], "seq %llu given twice",
		              (unsigned long long)s->seq[i]);
		seqs[s->seq[i]] = 1;
	}
	pthread_mutex_unlock(&s->mu);
	free(seqs);
}

/* ------------------------------------------------------------------ evident_client_new */

START_TEST(evident_client_new_rejects_bad_options)
{
	struct fixture fx = fx_setup(NULL);
	struct evident_options o = fx_options(&fx);
	struct evident_client *c = NULL;
	char long_name[EVIDENT_CLIENT_NAME_MAX + 2];
	char long_path[200];

	ck_assert_int_eq(evident_client_new(NULL, &c), -EINVAL);
	ck_assert_int_eq(evident_client_new(&o, NULL), -EINVAL);
	o.client_name = NULL;
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	o.client_name = "";
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	o.client_name = "has space";
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	o.client_name = long_name;
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	long_name[EVIDENT_CLIENT_NAME_MAX] = '\0'; /* exactly 128: fine */
	ck_assert_int_eq(evident_client_new(&o, &c), 0);
	evident_client_free(c);
	c = NULL;
	o.client_name = CLIENT_NAME;
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	o.socket_path = long_path;
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	o.socket_path = fx.sock;
	o.max_queue = EVIDENT_MAX_QUEUE_LIMIT + 1;
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	o.max_queue = 10;
	o.max_inflight = 11;
	ck_assert_int_eq(evident_client_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_client_new_does_not_wait_for_the_daemon)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(NULL);
	struct evident_client *c;
	int64_t t0 = now_ms();

	/* no daemon yet: creating and queueing never block */
	c = fx_client(&fx, NULL);
	for (long i = 0; i < 10; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_lt(now_ms() - t0, 500);
	/* the daemon appears later: the client connects and delivers */
	usleep(100000);
	fx_fake(&fx, &cfg);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 10);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_client_free */

START_TEST(evident_client_free_takes_null)
{
	evident_client_free(NULL);
}
END_TEST

START_TEST(evident_client_free_delivers_queued_records)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct fake_stats st;

	for (long i = 0; i < 500; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	evident_client_free(c);
	assert_acked_once(fx.seen, 500);
	fake_daemon_stats(fx.fake, &st);
	ck_assert_uint_eq(st.stored, 500);
	ck_assert_uint_eq(fx.seen->n_errors, 0);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_client_free_reports_unacknowledged_records)
{
	struct fixture fx = fx_setup(NULL); /* no daemon */
	struct evident_options o = fx_options(&fx);
	struct evident_client *c;
	int64_t t0;

	o.close_timeout_ms = 100;
	c = fx_client(&fx, &o);
	for (long i = 0; i < 5; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	t0 = now_ms();
	evident_client_free(c);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_uint_eq(fx.seen->n_errors, 5);
	ck_assert_uint_eq(fx.seen->n_conn_errors, 1); /* "cannot connect", once */
	ck_assert_int_eq(fx.seen->last_err, -ECANCELED);
	ck_assert_str_eq(fx.seen->last_err_id, "r4");
	ck_assert_uint_eq(fx.seen->n_acks, 0);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_record */

START_TEST(evident_record_acks_every_record)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;
	struct fake_stats fs;

	for (long i = 0; i < 2000; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 2000);
	for (long i = 0; i < 2000; i += 97) {
		char id[32];
		snprintf(id, sizeof(id), "r%ld", i);
		ck_assert_int_eq(fake_daemon_seq_of(fx.fake, CLIENT_NAME, id),
		                 (int64_t)fx.seen->seq[i]);
	}
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 2000);
	ck_assert_uint_eq(st.sent, 2000);
	ck_assert_uint_eq(st.acked, 2000);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.errors, 0);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.stored, 2000);
	ck_assert_uint_eq(fs.hellos, 1);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_generates_request_ids)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	const char *id = fx.seen->first_ack_id;
	size_t n = strlen(CLIENT_NAME);

	ck_assert_int_eq(send_record(c, -1), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	/* "<client_name>-<16 hex>-<counter from 0>" */
	ck_assert_int_eq(strncmp(id, CLIENT_NAME "-", n + 1), 0);
	ck_assert_uint_eq(strlen(id), n + 1 + 16 + 2);
	ck_assert_uint_eq(strspn(id + n + 1, "0123456789abcdef"), 16);
	ck_assert_str_eq(id + n + 17, "-0");
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_rejects_invalid_records)
{
	struct fixture fx = fx_setup(NULL);
	struct evident_options o = fx_options(&fx);
	const char *keys[EVIDENT_MAP_ENTRIES_MAX + 1];
	double vals[EVIDENT_MAP_ENTRIES_MAX + 1];
	char long_id[EVIDENT_REQUEST_ID_MAX + 2];
	struct evident_client *c;
	struct evident_stats st;
	struct rec x;

	o.close_timeout_ms = 10; /* no daemon: do not wait for the one valid record */
	c = fx_client(&fx, &o);
	ck_assert_int_eq(evident_record(NULL, &x.r), -EINVAL);
	ck_assert_int_eq(evident_record(c, NULL), -EINVAL);
	make_record(&x, 1);
	x.r.model_id = NULL;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	make_record(&x, 1);
	x.r.request_id = "";
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	memset(long_id, 'i', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	x.r.request_id = long_id;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	long_id[EVIDENT_REQUEST_ID_MAX] = '\0';
	ck_assert_int_eq(evident_record(c, &x.r), 0);
	make_record(&x, 2);
	for (int i = 0; i <= EVIDENT_MAP_ENTRIES_MAX; i++) {
		keys[i] = "k";
		vals[i] = i;
	}
	x.r.context_keys = keys;
	x.r.context_values = vals;
	x.r.n_context = EVIDENT_MAP_ENTRIES_MAX + 1;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	x.r.n_context = 2;
	keys[1] = NULL;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	make_record(&x, 3);
	x.r.features = NULL;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	/* strings must be UTF-8 (PROTOCOL.md, Strings): the daemon would refuse the frame */
	static const char *const not_text[] = {"ab\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	                                       "caf\xc3", "\x80"};
	for (size_t i = 0; i < sizeof(not_text) / sizeof(not_text[0]); i++) {
		const char *bad = not_text[i];
		const char *lk[1] = {bad}, *lv[1] = {bad}, *ck[1] = {bad};
		for (int field = 0; field < 8; field++) {
			make_record(&x, 4);
			switch (field) {
			case 0:
				x.r.model_id = bad;
				break;
			case 1:
				x.r.model_version = bad;
				break;
			case 2:
				x.r.request_id = bad;
				break;
			case 3:
				x.r.decision = bad;
				break;
			case 4:
				x.r.trace_id = bad;
				break;
			case 5:
				x.r.context_keys = ck;
				break;
			case 6:
				x.r.label_keys = lk;
				break;
			default:
				x.r.label_values = lv;
			}
			ck_assert_msg(evident_record(c, &x.r) == -EINVAL, "string %zu in field %d",
			              i, field);
		}
	}
	make_record(&x, 5);
	x.r.decision = "caf\xc3\xa9 \xf0\x9f\x98\x80"; /* UTF-8 beyond ASCII is fine */
	ck_assert_int_eq(evident_record(c, &x.r), 0);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 2);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_carries_the_subject)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;
	char big[EVIDENT_SUBJECT_MAX + 2];
	uint64_t seq = 0, seq2 = 0;
	struct rec x;

	/* subjects the daemon refuses are refused here, nothing queued */
	static const char *const bad[] = {"",        "a\nb",       "tab\there",
	                                  "del\x7f", "c1\xc2\x85", "not-utf8\xc3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_record(&x, 1);
		x.r.subject = bad[i];
		ck_assert_msg(evident_record(c, &x.r) == -EINVAL, "subject %zu", i);
	}
	memset(big, 's', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0'; /* 129 bytes */
	make_record(&x, 1);
	x.r.subject = big;
	ck_assert_int_eq(evident_record(c, &x.r), -EINVAL);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 0);
	/* 128 bytes and any UTF-8 are fine; the subject is part of the record's bytes: the
	 * same record again is a duplicate, another subject under its id a CONFLICT */
	big[EVIDENT_SUBJECT_MAX] = '\0';
	make_record(&x, 0);
	x.r.timestamp_unix_ns = 1700000000000000000;
	x.r.subject = big;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), 0);
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), 0);
	ck_assert_uint_eq(seq2, seq);
	x.r.subject = "\xc3\xa9lise-42";
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), -EEXIST);
	x.r.subject = NULL;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), -EEXIST);
	make_record(&x, 1);
	x.r.subject = "\xc3\xa9lise-42";
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), 0);
	ck_assert_uint_ne(seq2, seq);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_refuses_oversized_records)
{
	struct fake_config cfg = {.max_frame = 4096};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	static double big[1000];
	struct rec x;

	/* before HelloOk the default max_frame (1 MiB) applies, after it the announced one */
	ck_assert_int_eq(send_record(c, 0), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	make_record(&x, 1);
	x.r.features = big;
	x.r.n_features = 1000;
	ck_assert_int_eq(evident_record(c, &x.r), -EMSGSIZE);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_returns_eagain_when_the_queue_is_full)
{
	struct fake_config cfg = {.hold_acks = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_options o = fx_options(&fx);
	struct evident_client *c;
	struct evident_stats st;

	o.max_queue = 16;
	c = fx_client(&fx, &o);
	for (long i = 0; i < 16; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(send_record(c, 16), -EAGAIN);
	ck_assert_int_eq(send_record(c, 17), -EAGAIN);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 16);
	ck_assert_uint_eq(st.refused_queue_full, 2);
	ck_assert_uint_eq(st.pending, 16);
	/* the daemon holds its acks: the 16 are sent, not acknowledged, still counted */
	ck_assert_int_eq(evident_flush(c, 300), -ETIMEDOUT);
	fake_daemon_hold_acks(fx.fake, false);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 16);
	ck_assert_int_eq(send_record(c, 16), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.acked, 17);
	ck_assert_uint_eq(st.refused_queue_full, 2);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_bounds_queued_bytes)
{
	struct fake_config cfg = {.hold_acks = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_options o = fx_options(&fx);
	static double big[100000];
	struct evident_client *c;
	struct evident_stats st;
	struct rec x;

	o.max_queue = 2;
	o.max_queue_bytes = 1;
	c = fx_client(&fx, &o);
	/* an empty queue takes any record; then the byte bound refuses the next */
	make_record(&x, 0);
	x.r.features = big; /* 800 kB: its slot buffer is shrunk when reused for small ones */
	x.r.n_features = 100000;
	ck_assert_int_eq(evident_record(c, &x.r), 0);
	ck_assert_int_eq(send_record(c, 1), -EAGAIN);
	fake_daemon_hold_acks(fx.fake, false);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	for (long i = 1; i < 50; i++) {
		ck_assert_int_eq(send_record(c, i), 0);
		ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	}
	assert_acked_once(fx.seen, 50);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.refused_queue_full, 1);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

struct producer {
	struct evident_client *c;
	long first, count;
	long eagain;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (long i = p->first; i < p->first + p->count; i++) {
		int r;
		while ((r = send_record(p->c, i)) == -EAGAIN) {
			p->eagain++;
			usleep(100);
		}
		if (r < 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(evident_record_four_threads_each_record_acked_once)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_options o = fx_options(&fx);
	struct producer p[4];
	pthread_t t[4];
	struct evident_client *c;
	struct evident_stats st;
	struct fake_stats fs;

	o.max_queue = 4096; /* small enough that backpressure may show up, too */
	c = fx_client(&fx, &o);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct producer){.c = c, .first = i * 10000L, .count = 10000};
		ck_assert_int_eq(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		ck_assert_ptr_null(rv);
	}
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 40000);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 40000);
	ck_assert_uint_eq(st.acked, 40000);
	ck_assert_uint_eq(st.duplicates, 0);
	ck_assert_uint_eq(st.refused_queue_full,
	                  (uint64_t)(p[0].eagain + p[1].eagain + p[2].eagain + p[3].eagain));
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.stored, 40000);
	ck_assert_uint_eq(fs.duplicates, 0);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_resends_after_reconnect_and_gets_original_seqs)
{
	/* the 700th record is stored but its connection dies before its ack; records after it
	 * in the same read are lost with the connection */
	struct fake_config cfg = {.drop_after = 700};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;
	struct fake_stats fs;

	for (long i = 0; i < 3000; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 3000);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.drops, 1);
	ck_assert_uint_eq(fs.hellos, 2);
	ck_assert_uint_eq(fs.stored, 3000); /* nothing stored twice */
	ck_assert_uint_ge(fs.duplicates, 1);
	/* r699 was stored before the drop: its ack is a duplicate carrying the original seq */
	ck_assert(fx.seen->dup[699]);
	ck_assert_int_eq(fake_daemon_seq_of(fx.fake, CLIENT_NAME, "r699"),
	                 (int64_t)fx.seen->seq[699]);
	for (long i = 0; i < 3000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "r%ld", i);
		ck_assert_int_eq(fake_daemon_seq_of(fx.fake, CLIENT_NAME, id),
		                 (int64_t)fx.seen->seq[i]);
	}
	evident_stats(c, &st);
	ck_assert_uint_eq(st.reconnects, 1);
	ck_assert_uint_ge(st.resent, 1);
	ck_assert_uint_eq(st.acked, 3000);
	ck_assert_uint_eq(st.duplicates, fs.duplicates);
	ck_assert_uint_eq(st.errors, 0);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_retries_overloaded)
{
	struct fake_config cfg = {.overloaded_first = 5, .vault_full_first = 3};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;

	for (long i = 0; i < 100; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	assert_acked_once(fx.seen, 100);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.retries, 8);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.resent, 8);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_reports_unknown_model)
{
	struct fake_config cfg = {.require_model = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;

	ck_assert_int_eq(send_record(c, 0), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_uint_eq(fx.seen->n_errors, 1);
	ck_assert_int_eq(fx.seen->last_err, -ENOENT);
	ck_assert_str_eq(fx.seen->last_err_id, "r0");
	ck_assert_int_eq(strncmp(fx.seen->last_msg, "UNKNOWN_MODEL: ", 15), 0);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.errors, 1);
	ck_assert_uint_eq(st.acked, 0);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_record_sync */

START_TEST(evident_record_sync_returns_the_seq)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	uint64_t seq = 99;
	struct rec x;

	ck_assert_int_eq(send_record(c, 0), 0);
	make_record(&x, 1);
	x.r.timestamp_unix_ns = 1700000000123456789; /* so that the retry is the same record */
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), 0);
	ck_assert_int_eq((int64_t)seq, fake_daemon_seq_of(fx.fake, CLIENT_NAME, "r1"));
	ck_assert_uint_eq(fx.seen->acks[1], 1); /* on_ack saw it too */
	/* a retry with the same request_id: the original seq */
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), 0);
	ck_assert_int_eq((int64_t)seq, fake_daemon_seq_of(fx.fake, CLIENT_NAME, "r1"));
	ck_assert(fx.seen->dup[1]);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_sync_maps_daemon_errors)
{
	struct fake_config cfg = {.require_model = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	uint64_t seq = 42;
	struct rec x;

	make_record(&x, 0);
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), -ENOENT); /* UNKNOWN_MODEL */
	ck_assert_uint_eq(seq, 42);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, NULL), 0);
	make_record(&x, 1);
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), 0);
	make_record(&x, 2);
	x.r.n_features = 2;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, NULL),
	                 -EBADMSG); /* SCHEMA_MISMATCH */
	ck_assert_int_eq(strncmp(fx.seen->last_msg, "SCHEMA_MISMATCH: ", 17), 0);
	make_record(&x, 3);
	x.features[1] = INFINITY;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, NULL), -EBADMSG); /* BAD_MESSAGE */
	ck_assert_int_eq(strncmp(fx.seen->last_msg, "BAD_MESSAGE: ", 13), 0);
	ck_assert_uint_eq(fx.seen->n_errors, 3);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_sync_reports_conflict_without_retrying)
{
	struct fake_config cfg = {.overloaded_first = 2};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;
	struct fake_stats fs;
	uint64_t seq = 0, seq2 = 0;
	struct rec x;

	make_record(&x, 0);
	x.r.timestamp_unix_ns = 1700000000000000000;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq), 0); /* after 2 OVERLOADED */
	/* the same record again: the original seq */
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), 0);
	ck_assert_uint_eq(seq2, seq);
	ck_assert(fx.seen->dup[0]);
	/* the same request_id with other content: CONFLICT reaches the caller at once */
	x.r.decision = "decline";
	seq2 = 4242;
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, &seq2), -EEXIST);
	ck_assert_uint_eq(seq2, 4242);
	ck_assert_int_eq(fx.seen->last_err, -EEXIST);
	ck_assert_str_eq(fx.seen->last_err_id, "r0");
	ck_assert_int_eq(strncmp(fx.seen->last_msg, "CONFLICT: ", 10), 0);
	/* so does a fire-and-forget one, through on_error; flush does not wait for it forever */
	x.r.timestamp_unix_ns = 0; /* "now": not the stored record either */
	x.r.decision = "approve";
	ck_assert_int_eq(evident_record(c, &x.r), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_uint_eq(fx.seen->n_errors, 2);
	ck_assert_int_eq(fx.seen->last_err, -EEXIST);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.retries, 2); /* the two OVERLOADED, never a CONFLICT */
	ck_assert_uint_eq(st.errors, 2);
	ck_assert_uint_eq(st.acked, 2);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.conflicts, 2);
	ck_assert_uint_eq(fs.records, 6); /* 2 refused + 1 stored + 1 duplicate + 2 conflicts */
	ck_assert_uint_eq(fs.stored, 1);
	/* the first record stands */
	ck_assert_int_eq(fake_daemon_seq_of(fx.fake, CLIENT_NAME, "r0"), (int64_t)seq);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_sync_gives_up_after_retries)
{
	struct fake_config cfg = {.overloaded_first = 3, .vault_full_first = 1000};
	struct fixture fx = fx_setup(&cfg);
	struct evident_options o = fx_options(&fx);
	struct evident_client *c;
	struct evident_stats st;
	struct rec x;

	o.max_retries = 2;
	o.max_backoff_ms = 20;
	c = fx_client(&fx, &o);
	make_record(&x, 0);
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, NULL), -EBUSY); /* OVERLOADED x3 */
	ck_assert_int_eq(fx.seen->last_err, -EBUSY);
	make_record(&x, 1);
	ck_assert_int_eq(evident_record_sync(c, &x.r, WAIT_MS, NULL), -ENOSPC); /* VAULT_FULL */
	evident_stats(c, &st);
	ck_assert_uint_eq(st.retries, 4);
	ck_assert_uint_eq(st.errors, 2);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_record_sync_times_out)
{
	struct fake_config cfg = {.hold_acks = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	int64_t t0 = now_ms();
	struct rec x;

	make_record(&x, 0);
	ck_assert_int_eq(evident_record_sync(c, &x.r, 200, NULL), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 190);
	/* the record is still on its way: it is acknowledged once the daemon lets go */
	fake_daemon_hold_acks(fx.fake, false);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_uint_eq(fx.seen->acks[0], 1);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_register */

START_TEST(evident_register_uploads_contiguous_chunks_with_the_right_hash)
{
	struct fake_config cfg = {.require_model = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c;
	struct fake_stats fs;
	uint64_t seq = 99;
	char hex[65];

	write_file(fx.artifact, 600000, 7); /* 256 KiB + 256 KiB + 75712 bytes */
	sha256_file(fx.artifact, hex);
	c = fx_client(&fx, NULL);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, &seq), 0);
	ck_assert_uint_eq(seq, 0);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.registrations, 1);
	ck_assert_uint_eq(fs.chunks, 3);
	ck_assert_uint_eq(fs.chunk_bytes, 600000);
	ck_assert_uint_eq(fs.chunk_offset_errors, 0);
	ck_assert_uint_eq(fs.uploads_verified, 1);
	ck_assert_str_eq(fs.last_artifact_sha256, hex);
	/* records for it are accepted now */
	ck_assert_int_eq(send_record(c, 0), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_uint_eq(fx.seen->acks[0], 1);
	ck_assert_uint_eq(fx.seen->n_errors, 0);
	ck_assert_uint_eq(fx.seen->n_other_acks, 0); /* registrations are not on_ack'ed */
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_register_uploads_reference_data)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct fake_stats fs;
	char hex[65];

	write_file(fx.reference, 5000, 9);
	sha256_file(fx.reference, hex);
	ck_assert_int_eq(
	    evident_register(c, MANIFEST_JSON, fx.artifact, fx.reference, WAIT_MS, NULL), 0);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.chunks, 2);
	ck_assert_uint_eq(fs.chunk_bytes, 6000);
	ck_assert_uint_eq(fs.uploads_verified, 2);
	ck_assert_str_eq(fs.last_artifact_sha256, hex);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_register_duplicate_skips_the_upload)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c1 = fx_client(&fx, NULL), *c2;
	struct fake_stats fs;
	uint64_t seq1, seq2, seq3;

	ck_assert_int_eq(evident_register(c1, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, &seq1), 0);
	/* a second process registering at its start: acknowledged without an upload */
	c2 = fx_client(&fx, NULL);
	ck_assert_int_eq(evident_register(c2, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, &seq2), 0);
	ck_assert_uint_eq(seq1, seq2);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.registrations, 2);
	ck_assert_uint_eq(fs.chunks, 1);
	/* the same client again: answered from memory */
	ck_assert_int_eq(evident_register(c2, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, &seq3), 0);
	ck_assert_uint_eq(seq1, seq3);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.registrations, 2);
	evident_client_free(c1);
	evident_client_free(c2);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_register_reports_errors)
{
	struct fake_config cfg = {0};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	char *missing, *other;

	ck_assert_int_ge(asprintf(&missing, "%s/missing", fx.dir), 0);
	ck_assert_int_eq(evident_register(NULL, MANIFEST_JSON, fx.artifact, NULL, 1000, NULL),
	                 -EINVAL);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, NULL, NULL, 1000, NULL), -EINVAL);
	ck_assert_int_eq(evident_register(c, "{\"model_id\": ", fx.artifact, NULL, 1000, NULL),
	                 -EINVAL);
	ck_assert_int_eq(evident_register(c, "{\"version\": \"1\"}", fx.artifact, NULL, 1000, NULL),
	                 -EINVAL);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, missing, NULL, 1000, NULL), -ENOENT);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.dir, NULL, 1000, NULL), -EINVAL);
	ck_assert_int_eq(evident_register(c,
	                                  "{\"model_id\": \"m\", \"version\": \"2\", "
	                                  "\"artifact_size\": 999}",
	                                  fx.artifact, NULL, 1000, NULL),
	                 -EBADMSG);
	ck_assert_int_eq(evident_register(c,
	                                  "{\"model_id\": \"m\", \"version\": \"2\", "
	                                  "\"reference_data_size\": 1}",
	                                  fx.artifact, NULL, 1000, NULL),
	                 -EINVAL);
	/* a wrong hash in the manifest: the daemon refuses the upload (SCHEMA_MISMATCH) */
	ck_assert_int_eq(evident_register(c,
	                                  "{\"model_id\": \"m\", \"version\": \"3\", "
	                                  "\"artifact_sha256\": \"00000000000000000000000000000000"
	                                  "00000000000000000000000000000000\"}",
	                                  fx.artifact, NULL, WAIT_MS, NULL),
	                 -EBADMSG);
	/* another manifest under a registered ID@VERSION: CONFLICT */
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, NULL), 0);
	ck_assert_int_ge(asprintf(&other, "%s/other", fx.dir), 0);
	write_file(other, 10, 3);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, other, NULL, WAIT_MS, NULL), -EEXIST);
	ck_assert_uint_eq(fx.seen->n_errors, 0); /* a waiting caller got them, not on_error */
	free(missing);
	free(other);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_register_is_redone_after_reconnect_before_records)
{
	/* the daemon restarts with an empty registry (a stand-in for a new vault): records
	 * queued meanwhile would be UNKNOWN_MODEL unless the client registers first */
	struct fake_config cfg = {.require_model = true};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);
	struct evident_stats st;
	struct fake_stats fs;

	char *manifest2 = strdup(MANIFEST_JSON);
	char *v = strstr(manifest2, "\"version\": \"1\"");

	/* two models: after the restart they are registered again one at a time (the fake, as
	 * the daemon, refuses a second RegisterModel while an upload is in progress) */
	v[strlen("\"version\": \"")] = '2';
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, NULL), 0);
	ck_assert_int_eq(evident_register(c, manifest2, fx.artifact, NULL, WAIT_MS, NULL), 0);
	free(manifest2);
	for (long i = 0; i < 100; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	fake_daemon_stop(fx.fake);
	fx.fake = NULL;
	for (long i = 100; i < 300; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	usleep(100000);
	fx_fake(&fx, &cfg);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_uint_eq(fx.seen->n_conn_errors, 1); /* the outage, reported once */
	ck_assert_uint_eq(fx.seen->n_errors, 0);
	for (long i = 100; i < 300; i++)
		ck_assert_uint_eq(fx.seen->acks[i], 1);
	fake_daemon_stats(fx.fake, &fs);
	ck_assert_uint_eq(fs.registrations, 2);
	ck_assert_uint_eq(fs.uploads_verified, 2);
	ck_assert_uint_eq(fs.stored, 200);
	ck_assert_uint_eq(fs.refused, 0);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.reconnects, 1);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_manifest_check */

START_TEST(evident_manifest_check_accepts_and_explains)
{
	char err[256];

	ck_assert_int_eq(evident_manifest_check(MANIFEST_JSON, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(evident_manifest_check("{\"model_id\": \"m\", \"version\": \"1\", "
	                                        "\"features\": [{\"name\": \"a\", \"typ\": 1}]}",
	                                        err, sizeof(err)),
	                 -EINVAL);
	ck_assert_str_eq(err, "features[0].typ: unknown field (message Feature)");
	ck_assert_int_eq(evident_manifest_check("{\"model_id\": \"m\", \"version\": \"1\", "
	                                        "\"decision\": {\"kind\": \"MEDIAN\"}}",
	                                        err, sizeof(err)),
	                 -EINVAL);
	ck_assert_str_eq(err, "decision.kind: unknown value \"MEDIAN\" (enum Kind)");
	ck_assert_int_eq(
	    evident_manifest_check("{\"model_id\": \"m\",\n \"version\": }", err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "line 2"));
	ck_assert_int_eq(evident_manifest_check("{\"model_id\": \"m\", \"version\": \"1\", "
	                                        "\"artifact_size\": -1}",
	                                        err, sizeof(err)),
	                 -EINVAL);
	ck_assert_int_eq(evident_manifest_check("{\"model_id\": \"m\", \"version\": \"1\", "
	                                        "\"artifactSize\": \"18446744073709551615\"}",
	                                        NULL, 0),
	                 0);
	ck_assert_int_eq(evident_manifest_check("[]", NULL, 0), -EINVAL);
	ck_assert_int_eq(evident_manifest_check(NULL, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ evident_flush */

START_TEST(evident_flush_waits_for_acks)
{
	struct fake_config cfg = {.ack_delay_us = 2000};
	struct fixture fx = fx_setup(&cfg);
	struct evident_client *c = fx_client(&fx, NULL);

	ck_assert_int_eq(evident_flush(c, 0), 0); /* nothing queued */
	for (long i = 0; i < 300; i++)
		ck_assert_int_eq(send_record(c, i), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	pthread_mutex_lock(&fx.seen->mu);
	ck_assert_uint_eq(fx.seen->n_acks, 300); /* callbacks ran before flush returned */
	pthread_mutex_unlock(&fx.seen->mu);
	ck_assert_int_eq(evident_flush(NULL, 0), -EINVAL);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

START_TEST(evident_flush_times_out_without_daemon)
{
	struct fixture fx = fx_setup(NULL);
	struct evident_options o = fx_options(&fx);
	struct evident_client *c;
	int64_t t0;

	o.close_timeout_ms = 10;
	c = fx_client(&fx, &o);
	ck_assert_int_eq(send_record(c, 0), 0);
	t0 = now_ms();
	ck_assert_int_eq(evident_flush(c, 150), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 140);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

/* ------------------------------------------------------------------ evident_stats */

START_TEST(evident_stats_counts_each_outcome)
{
	struct fake_config cfg = {.require_model = true, .overloaded_first = 1};
	struct fixture fx = fx_setup(&cfg);
	struct evident_options o = fx_options(&fx);
	struct evident_client *c;
	struct evident_stats st;
	struct rec x;

	o.max_queue = 8;
	c = fx_client(&fx, &o);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued + st.sent + st.acked + st.errors + st.pending, 0);
	ck_assert_int_eq(evident_register(c, MANIFEST_JSON, fx.artifact, NULL, WAIT_MS, NULL), 0);
	struct rec r0;
	make_record(&r0, 0);
	r0.r.timestamp_unix_ns = 1700000000000000000;  /* sent twice: the same record */
	ck_assert_int_eq(evident_record(c, &r0.r), 0); /* OVERLOADED once, then acked */
	make_record(&x, 1);
	x.r.model_version = "9"; /* UNKNOWN_MODEL */
	ck_assert_int_eq(evident_record(c, &x.r), 0);
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	ck_assert_int_eq(evident_record(c, &r0.r), 0); /* the same record again: duplicate */
	ck_assert_int_eq(evident_flush(c, WAIT_MS), 0);
	evident_stats(c, &st);
	ck_assert_uint_eq(st.queued, 3);
	ck_assert_uint_eq(st.sent, 3);
	ck_assert_uint_eq(st.resent, 1);
	ck_assert_uint_eq(st.retries, 1);
	ck_assert_uint_eq(st.acked, 2);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(st.errors, 1);
	ck_assert_uint_eq(st.reconnects, 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.refused_queue_full, 0);
	evident_client_free(c);
	fx_teardown(&fx);
}
END_TEST

static Suite *libevident_suite(void)
{
	Suite *s = suite_create("libevident");
	TCase *tc;

	tc = tcase_create("evident_client_new");
	tcase_add_test(tc, evident_client_new_rejects_bad_options);
	tcase_add_test(tc, evident_client_new_does_not_wait_for_the_daemon);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_client_free");
	tcase_add_test(tc, evident_client_free_takes_null);
	tcase_add_test(tc, evident_client_free_delivers_queued_records);
	tcase_add_test(tc, evident_client_free_reports_unacknowledged_records);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_record");
	tcase_add_test(tc, evident_record_acks_every_record);
	tcase_add_test(tc, evident_record_generates_request_ids);
	tcase_add_test(tc, evident_record_rejects_invalid_records);
	tcase_add_test(tc, evident_record_carries_the_subject);
	tcase_add_test(tc, evident_record_refuses_oversized_records);
	tcase_add_test(tc, evident_record_returns_eagain_when_the_queue_is_full);
	tcase_add_test(tc, evident_record_bounds_queued_bytes);
	tcase_add_test(tc, evident_record_four_threads_each_record_acked_once);
	tcase_add_test(tc, evident_record_resends_after_reconnect_and_gets_original_seqs);
	tcase_add_test(tc, evident_record_retries_overloaded);
	tcase_add_test(tc, evident_record_reports_unknown_model);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_record_sync");
	tcase_add_test(tc, evident_record_sync_returns_the_seq);
	tcase_add_test(tc, evident_record_sync_maps_daemon_errors);
	tcase_add_test(tc, evident_record_sync_reports_conflict_without_retrying);
	tcase_add_test(tc, evident_record_sync_gives_up_after_retries);
	tcase_add_test(tc, evident_record_sync_times_out);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_register");
	tcase_add_test(tc, evident_register_uploads_contiguous_chunks_with_the_right_hash);
	tcase_add_test(tc, evident_register_uploads_reference_data);
	tcase_add_test(tc, evident_register_duplicate_skips_the_upload);
	tcase_add_test(tc, evident_register_reports_errors);
	tcase_add_test(tc, evident_register_is_redone_after_reconnect_before_records);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_manifest_check");
	tcase_add_test(tc, evident_manifest_check_accepts_and_explains);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_flush");
	tcase_add_test(tc, evident_flush_waits_for_acks);
	tcase_add_test(tc, evident_flush_times_out_without_daemon);
	suite_add_tcase(s, tc);
	tc = tcase_create("evident_stats");
	tcase_add_test(tc, evident_stats_counts_each_outcome);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(libevident_suite());
}
