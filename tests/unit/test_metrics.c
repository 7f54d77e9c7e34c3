/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the metrics library: the exposition text byte for byte (escaping, label
 * order, histograms cumulative with _sum and _count), exact totals under concurrent updates
 * from several threads while another thread renders, the bounds (series per family, response
 * size), the refusals of bad names, and the listen address parser. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"
#include "testutil.h"

static char *render(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	ck_assert_int_eq(metrics_write(m, 1 << 20, &text, &len), 0);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

START_TEST(test_write_text)
{
	struct metrics *m = metrics_new();
	const char *labels[] = {"code", "why", NULL};
	double bounds[] = {0.5, 1, 2.5};

	struct metric *c = metrics_counter(m, "a_total", "Help with \\ and\nnewline.");
	struct metric_family *f =
	    metrics_family(m, METRIC_COUNTER, "b_total", "B.", labels, NULL, 0);
	struct metric *g = metrics_gauge(m, "c", "C.");
	struct metric *h = metrics_histogram(m, "d_seconds", "D.", bounds, 3);
	metrics_family(m, METRIC_GAUGE, "e", "no series: not written", labels, NULL, 0);
	metric_add(c, 41);
	metric_inc(c);
	const char *v1[] = {"x\"y", "a\\b\nc"}, *v2[] = {"z", ""};
	metric_add(metric_family_get(f, v1), 2);
	metric_inc(metric_family_get(f, v2));
	ck_assert_ptr_eq(metric_family_get(f, v1), metric_family_get(f, v1));
	metric_set(g, -0.25);
	metric_gauge_add(g, 1);
	metric_observe(h, 0.5); /* on a bound: that bucket (le is <=) */
	metric_observe(h, 0.7);
	metric_observe(h, 3);
	metric_observe(h, 0.1);
	char *text = render(m);
	ck_assert_str_eq(text, "# HELP a_total Help with \\\\ and\\nnewline.\n"
	                       "# TYPE a_total counter\n"
	                       "a_total 42\n"
	                       "# HELP b_total B.\n"
	                       "# TYPE b_total counter\n"
	                       "b_total{code=\"x\\\"y\",why=\"a\\\\b\\nc\"} 2\n"
	                       "b_total{code=\"z\",why=\"\"} 1\n"
	                       "# HELP c C.\n"
	                       "# TYPE c gauge\n"
	                       "c 0.75\n"
	                       "# HELP d_seconds D.\n"
	                       "# TYPE d_seconds histogram\n"
	                       "d_seconds_bucket{le=\"0.5\"} 2\n"
	                       "d_seconds_bucket{le=\"1\"} 3\n"
	                       "d_seconds_bucket{le=\"2.5\"} 3\n"
	                       "d_seconds_bucket{le=\"+Inf\"} 4\n"
	                       "d_seconds_sum 4.3\n"
	                       "d_seconds_count 4\n");
	free(text);
	double sum;
	ck_assert_uint_eq(metric_hist_count(h, &sum), 4);
	ck_assert(fabs(sum - 4.3) < 1e-12);
	ck_assert(metric_value(c) == 42);
	/* NULL series: updates do nothing */
	metric_inc(NULL);
	metric_observe(NULL, 1);
	metric_set(NULL, 1);
	ck_assert(metric_value(NULL) == 0);
	metrics_free(m);
}
END_TEST

START_TEST(test_special_values)
{
	struct metrics *m = metrics_new();
	struct metric *g = metrics_gauge(m, "g", "");
	char *text;

	metric_set(g, NAN);
	text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\ng NaN\n"));
	free(text);
	metric_set(g, -INFINITY);
	text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\ng -Inf\n"));
	free(text);
	metric_set(g, 1e300);
	text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\ng 1e+300\n"));
	free(text);
	metric_set(g, 0.1);
	text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\ng 0.1\n"));
	free(text);
	metrics_free(m);
}
END_TEST

START_TEST(test_bad_names_and_bounds)
{
	struct metrics *m = metrics_new();
	const char *bad_label[] = {"le", NULL}, *reserved[] = {"__x", NULL},
	           *dash[] = {"a-b", NULL};
	double rising[] = {1, 2}, falling[] = {2, 1}, inf[] = {1, INFINITY};

	errno = 0;
	ck_assert_ptr_null(metrics_counter(m, "9lives", ""));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(metrics_counter(m, "a b", ""));
	ck_assert_ptr_null(metrics_counter(m, "", ""));
	ck_assert_ptr_null(metrics_family(m, METRIC_COUNTER, "x", "", bad_label, NULL, 0));
	ck_assert_ptr_null(metrics_family(m, METRIC_COUNTER, "x", "", reserved, NULL, 0));
	ck_assert_ptr_null(metrics_family(m, METRIC_COUNTER, "x", "", dash, NULL, 0));
	ck_assert_ptr_null(metrics_histogram(m, "h", "", falling, 2));
	ck_assert_ptr_null(metrics_histogram(m, "h", "", inf, 2));
	ck_assert_ptr_null(metrics_histogram(m, "h", "", rising, 0));
	ck_assert_ptr_nonnull(metrics_counter(m, "ns:sub_total", ""));
	/* the same name again: the same series; another type: refused */
	struct metric *a = metrics_counter(m, "same", "");
	ck_assert_ptr_eq(metrics_counter(m, "same", ""), a);
	ck_assert_ptr_null(metrics_gauge(m, "same", ""));
	ck_assert_int_eq(errno, EINVAL);
	metrics_free(m);
}
END_TEST

START_TEST(test_bounded)
{
	struct metrics *m = metrics_new();
	const char *labels[] = {"i", NULL};
	struct metric_family *f = metrics_family(m, METRIC_COUNTER, "many", "", labels, NULL, 0);
	char v[16], *text = NULL;
	const char *values[] = {v};
	size_t len;

	for (int i = 0; i < METRICS_SERIES_MAX; i++) {
		snprintf(v, sizeof(v), "%d", i);
		ck_assert_ptr_nonnull(metric_family_get(f, values));
	}
	snprintf(v, sizeof(v), "one more");
	errno = 0;
	ck_assert_ptr_null(metric_family_get(f, values));
	ck_assert_int_eq(errno, ENOSPC);
	snprintf(v, sizeof(v), "7"); /* an existing one is still found */
	ck_assert_ptr_nonnull(metric_family_get(f, values));
	ck_assert_int_eq(metrics_write(m, 1000, &text, &len), -E2BIG);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(metrics_write(m, 1 << 20, &text, &len), 0);
	free(text);
	metrics_free(m);
}
END_TEST

/* Writers on four threads, a fifth rendering all along: totals exact at the end, and every
 * rendering consistent (+Inf bucket == _count). */
#define N_THREADS 4
#define N_UPDATES 200000

struct shared {
	struct metric *c, *h;
	struct metric_family *f;
	struct metrics *m;
	atomic_bool stop;
};

static void *writer_thread(void *arg)
{
	struct shared *s = arg;
	const char *a[] = {"a"}, *b[] = {"b"};

	for (int i = 0; i < N_UPDATES; i++) {
		metric_inc(s->c);
		metric_observe(s->h, (i % 10) * 0.25);
		metric_inc(metric_family_get(s->f, i % 2 ? a : b));
	}
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct shared *s = arg;
	long renders = 0;

	while (!atomic_load(&s->stop)) {
		char *text = render(s->m);
		unsigned long long inf = 0, count = 0;
		const char *p = strstr(text, "h_bucket{le=\"+Inf\"} ");
		const char *q = strstr(text, "h_count ");
		ck_assert(p && q);
		sscanf(p + strlen("h_bucket{le=\"+Inf\"} "), "%llu", &inf);
		sscanf(q + strlen("h_count "), "%llu", &count);
		ck_assert_uint_eq(inf, count);
		free(text);
		renders++;
	}
	return (void *)renders;
}

START_TEST(test_concurrent_updates)
{
	struct shared s = {.m = metrics_new()};
	const char *labels[] = {"k", NULL};
	double bounds[] = {0.5, 1, 2};
	pthread_t w[N_THREADS], r;
	void *renders;

	s.c = metrics_counter(s.m, "c_total", "");
	s.h = metrics_histogram(s.m, "h", "", bounds, 3);
	s.f = metrics_family(s.m, METRIC_COUNTER, "f_total", "", labels, NULL, 0);
	atomic_init(&s.stop, false);
	pthread_create(&r, NULL, reader_thread, &s);
	for (int i = 0; i < N_THREADS; i++)
		pthread_create(&w[i], NULL, writer_thread, &s);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&s.stop, true);
	pthread_join(r, &renders);
	ck_assert(metric_value(s.c) == (double)N_THREADS * N_UPDATES);
	double sum;
	ck_assert_uint_eq(metric_hist_count(s.h, &sum), (uint64_t)N_THREADS * N_UPDATES);
	/* i % 10 * 0.25 sums to 11.25 per 10 updates: exact in binary */
	ck_assert(sum == 11.25 * N_THREADS * N_UPDATES / 10);
	const char *a[] = {"a"};
	ck_assert(metric_value(metric_family_get(s.f, a)) == (double)N_THREADS * N_UPDATES / 2);
	ck_assert((long)renders > 0);
	metrics_free(s.m);
}
END_TEST

START_TEST(test_parse_listen)
{
	struct sockaddr_storage ss;
	unsigned len;
	char err[300];

	ck_assert_int_eq(metrics_parse_listen("127.0.0.1:9100", &ss, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
	ck_assert_int_eq(metrics_parse_listen("[::1]:65535", &ss, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_int_eq(metrics_parse_listen("localhost:1", &ss, &len, err, sizeof(err)), 0);
	static const struct {
		const char *in, *why;
	} bad[] = {
	    {"", "empty address"},
	    {"127.0.0.1", "has no port"},
	    {"127.0.0.1:", "is not a number"},
	    {"127.0.0.1:0", "is not a number in 1..65535"},
	    {"127.0.0.1:65536", "is not a number in 1..65535"},
	    {"127.0.0.1:80x", "is not a number"},
	    {"::1:80", "[ADDR]:PORT"},
	    {"[::1]80", "[ADDR]:PORT"},
	    {"[127.0.0.1]:80", "does not resolve"},
	    {":80", "has no address"},
	    {"256.0.0.1:80", "does not resolve"},
	};
	/* the syntax alone: names are not resolved */
	ck_assert_int_eq(
	    metrics_parse_listen("no-such-host.invalid:80", NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(metrics_parse_listen("[::1]:80", NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(metrics_parse_listen("[10.0.0.1]:80", NULL, NULL, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not an IPv6 address"));
	ck_assert_int_eq(metrics_parse_listen("a b:80", NULL, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(metrics_parse_listen("h:0", NULL, NULL, err, sizeof(err)), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(metrics_parse_listen(bad[i].in, &ss, &len, err, sizeof(err)),
		                 -EINVAL);
		ck_assert_msg(strstr(err, bad[i].why), "%s: %s", bad[i].in, err);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics_write");

	tcase_add_test(tc, test_write_text);
	tcase_add_test(tc, test_special_values);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	tc = tcase_create("metrics_family");
	tcase_add_test(tc, test_bad_names_and_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("metric_observe");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_concurrent_updates);
	suite_add_tcase(s, tc);
	tc = tcase_create("metrics_parse_listen");
	tcase_add_test(tc, test_parse_listen);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
