/* SPDX-License-Identifier: Apache-2.0 */
/* client-bench: what evident_record() costs the caller's thread. Each call is timed alone with
 * CLOCK_MONOTONIC while the I/O thread drains to a daemon: the in-process fake daemon by
 * default, or a real evidentd with --socket (a model with K features is registered first).
 * Prints the command line, then median / p90 / p99 / p99.9 / max ns per call. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evident.h"
#include "fake_daemon.h"

struct worker {
	struct evident_client *c;
	size_t features;
	size_t label_bytes;
	uint64_t warmup, count;
	uint32_t *ns; /* count entries */
	uint64_t eagain;
	int err;
	pthread_t thread;
};

static pthread_barrier_t start_line;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void *work(void *arg)
{
	static const char *const ckeys[] = {"amount", "balance"};
	static const char *const lkeys[] = {"desk", "channel", "region", "pad"};
	struct worker *w = arg;
	double *features = calloc(w->features ? w->features : 1, sizeof(double));
	char *pad = malloc(w->label_bytes + 1);
	const char *lvals[] = {"emea", "web", "fr", pad};
	double cvals[2] = {0}, score = 0;
	struct evident_record r = {
	    .model_id = "bench",
	    .model_version = "v1",
	    .features = features,
	    .n_features = w->features,
	    .scores = &score,
	    .n_scores = 1,
	    .decision = "approve",
	    .context_keys = ckeys,
	    .context_values = cvals,
	    .n_context = 2,
	    .label_keys = lkeys,
	    .label_values = lvals,
	    .n_labels = w->label_bytes ? 4 : 3,
	    .trace_id = "00f067aa0ba902b7",
	};

	if (!features || !pad) {
		w->err = -ENOMEM;
		return NULL;
	}
	memset(pad, 'x', w->label_bytes);
	pad[w->label_bytes] = '\0';
	pthread_barrier_wait(&start_line);
	for (uint64_t i = 0; i < w->warmup + w->count; i++) {
		uint64_t t0, t1;
		int e;
		/* a record that changes like real ones do */
		for (size_t k = 0; k < w->features; k++)
			features[k] = (double)((i + k) % 1000) * 0.001;
		score = (double)(i % 100) * 0.01;
		cvals[0] = (double)i;
		for (;;) {
			t0 = now_ns();
			e = evident_record(w->c, &r);
			t1 = now_ns();
			if (e != -EAGAIN)
				break;
			w->eagain++; /* not timed: the queue was full, let the I/O thread drain */
			usleep(200);
		}
		if (e < 0) {
			w->err = e;
			break;
		}
		if (i >= w->warmup) {
			uint64_t d = t1 - t0;
			w->ns[i - w->warmup] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
		}
	}
	free(features);
	free(pad);
	return NULL;
}

static int register_model(struct evident_client *c, size_t k, const char *dir)
{
	char path[512], *manifest = NULL, *p;
	size_t cap = 256 + k * 128;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/bench-model.json", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "{\"intercept\": 0, \"link\": \"logit\", \"coef\": [");
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s0.01", i ? ", " : "");
	fprintf(f, "], \"feature_names\": [");
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s\"f%zu\"", i ? ", " : "", i);
	fprintf(f, "]}\n");
	fclose(f);
	manifest = malloc(cap);
	if (!manifest)
		return -ENOMEM;
	p = manifest;
	p += sprintf(p, "{\"model_id\": \"bench\", \"version\": \"v1\", \"framework\": "
	                "\"linear-json\", \"output_space\": \"probability\", \"decision\": "
	                "{\"kind\": \"THRESHOLD\", \"threshold\": 0.5, \"label_below\": "
	                "\"approve\", \"label_above\": \"decline\"}, \"features\": [");
	for (size_t i = 0; i < k; i++)
		p +=
		    sprintf(p,
		            "%s{\"name\": \"f%zu\", \"type\": \"NUMERIC\", \"min\": 0, \"max\": 1, "
		            "\"description\": \"benchmark feature\"}",
		            i ? ", " : "", i);
	sprintf(p, "]}");
	r = evident_register(c, manifest, path, NULL, 30000, NULL);
	free(manifest);
	unlink(path);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: client-bench [--socket PATH] [--records N] [--warmup N] [--features K]\n"
	        "                    [--threads T] [--label-bytes B] [--max-queue Q]\n"
	        "Without --socket an in-process fake daemon drains the client.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"records", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"features", required_argument, NULL, 'k'},
	    {"threads", required_argument, NULL, 't'},
	    {"label-bytes", required_argument, NULL, 'b'},
	    {"max-queue", required_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	uint64_t records = 1000000, warmup = 0, threads = 1, k = 50, label_bytes = 256,
	         max_queue = 0;
	bool warmup_set = false;
	const char *sock = NULL;
	char dir[] = "/tmp/client-bench-XXXXXX", path[256];
	struct fake_daemon *fake = NULL;
	struct evident_client *c = NULL;
	struct evident_stats st;
	struct worker *w;
	uint32_t *all, timer[1001];
	uint64_t total = 0, eagain = 0, t0, t1;
	double sum = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'n':
			records = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			warmup = strtoull(optarg, NULL, 10);
			warmup_set = true;
			break;
		case 'k':
			k = strtoull(optarg, NULL, 10);
			break;
		case 't':
			threads = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			label_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'q':
			max_queue = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || threads == 0 || threads > 64 || records < threads ||
	    label_bytes > 256) {
		usage(stderr);
		return 2;
	}
	if (!warmup_set)
		warmup = 2 * (max_queue ? max_queue : EVIDENT_DEFAULT_MAX_QUEUE) / threads;

	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	if (!sock) {
		snprintf(path, sizeof(path), "%s/fake.sock", dir);
		r = fake_daemon_start(path, NULL, &fake);
		if (r < 0) {
			fprintf(stderr, "fake daemon: %s\n", strerror(-r));
			return 1;
		}
		sock = path;
	}
	r = evident_client_new(&(struct evident_options){.socket_path = sock,
	                                                 .client_name = "client-bench",
	                                                 .max_queue = max_queue},
	                       &c);
	if (r < 0) {
		fprintf(stderr, "evident_client_new: %s\n", strerror(-r));
		return 1;
	}
	r = register_model(c, k, dir);
	if (r < 0) {
		fprintf(stderr, "evident_register: %s\n", strerror(-r));
		return 1;
	}
	printf("# daemon: %s; record: %llu features, 1 score, 2 context, %d labels (%llu-byte "
	       "pad); %llu caller thread(s); %llu warm-up records per thread not timed\n",
	       fake ? "in-process fake" : sock, (unsigned long long)k, label_bytes ? 4 : 3,
	       (unsigned long long)label_bytes, (unsigned long long)threads,
	       (unsigned long long)warmup);

	/* cost of the timer itself, for reading the figures (not subtracted) */
	for (int i = 0; i < 1001; i++) {
		uint64_t a = now_ns(), b = now_ns();
		timer[i] = (uint32_t)(b - a);
	}
	qsort(timer, 1001, sizeof(*timer), cmp_u32);

	w = calloc(threads, sizeof(*w));
	pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
	for (uint64_t i = 0; i < threads; i++) {
		w[i] = (struct worker){.c = c,
		                       .features = k,
		                       .label_bytes = label_bytes,
		                       .warmup = warmup,
		                       .count = records / threads};
		w[i].ns = malloc(w[i].count * sizeof(uint32_t));
		if (!w[i].ns || pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "cannot start thread\n");
			return 1;
		}
	}
	pthread_barrier_wait(&start_line);
	t0 = now_ns();
	for (uint64_t i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	r = evident_flush(c, 120000);
	t1 = now_ns();
	if (r < 0)
		fprintf(stderr, "evident_flush: %s\n", strerror(-r));

	for (uint64_t i = 0; i < threads; i++) {
		if (w[i].err)
			fprintf(stderr, "thread %llu: evident_record: %s\n", (unsigned long long)i,
			        strerror(-w[i].err));
		total += w[i].count;
		eagain += w[i].eagain;
	}
	all = malloc(total * sizeof(*all));
	for (uint64_t i = 0, n = 0; i < threads; i++) {
		memcpy(all + n, w[i].ns, w[i].count * sizeof(*all));
		n += w[i].count;
	}
	for (uint64_t i = 0; i < total; i++)
		sum += all[i];
	qsort(all, total, sizeof(*all), cmp_u32);
	evident_stats(c, &st);

	printf("%-8s %10s %8s %8s %8s %8s %9s %8s %8s %12s\n", "threads", "timed", "mean_ns",
	       "p50_ns", "p90_ns", "p99_ns", "p99.9_ns", "max_ns", "eagain", "acked_rec/s");
	printf("%-8llu %10llu %8.0f %8u %8u %8u %9u %8u %8llu %12.0f\n",
	       (unsigned long long)threads, (unsigned long long)total, sum / (double)total,
	       all[total / 2], all[total * 90 / 100], all[total * 99 / 100],
	       all[total * 999 / 1000], all[total - 1], (unsigned long long)eagain,
	       (double)st.acked * 1e9 / (double)(t1 - t0));
	printf("# timer pair overhead p50 %u ns (included above); acked %llu of %llu queued, "
	       "errors %llu, resent %llu\n",
	       timer[500], (unsigned long long)st.acked, (unsigned long long)st.queued,
	       (unsigned long long)st.errors, (unsigned long long)st.resent);

	evident_client_free(c);
	fake_daemon_stop(fake);
	rmdir(dir);
	for (uint64_t i = 0; i < threads; i++)
		free(w[i].ns);
	free(w);
	free(all);
	return st.acked == st.queued && st.errors == 0 ? 0 : 1;
}
