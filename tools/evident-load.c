/* SPDX-License-Identifier: Apache-2.0 */
/* evident-load: a load generator for evidentd. Registers a model (a generated linear-json one
 * unless --register names one), then N threads each drive their own libevident client, open
 * loop at a given rate or as fast as the daemon acknowledges, and the ack latency (ack time
 * minus enqueue time, measured in the on_ack callback) goes into a log-linear histogram.
 * Prints throughput, latency percentiles, refusals and errors, optionally the daemon's RSS. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evident.h"

#define PROGRAM      "evident-load"
/* Log-linear latency histogram: exact below 128 ns, then 64 buckets per power of two
 * (1.6% resolution) up to 2^40 ns (18 minutes). */
#define HIST_SUB     64
#define HIST_LINEAR  128
#define HIST_BUCKETS (HIST_LINEAR + (40 - 7 + 1) * HIST_SUB)
#define LABEL_MAX    256 /* PROTOCOL.md: label values up to 256 bytes */
#define PAD_LABELS   (EVIDENT_MAP_ENTRIES_MAX - 1)

static const char usage_text[] =
    "usage: " PROGRAM " --socket PATH [--clients N] [--records N | --duration S] [--rate R]\n"
    "       [--features K] [--payload-extra BYTES] [--pipeline P]\n"
    "       [--register MANIFEST_JSON ARTIFACT] [--daemon-pid PID] [--json]\n"
    "\n"
    "  --socket PATH          the daemon's ingest socket\n"
    "  --clients N            client threads, each with its own connection (default 4)\n"
    "  --records N            records in total (default 100000)\n"
    "  --duration S           run S seconds instead of a record count\n"
    "  --rate R               records per second in total; 0 = as fast as possible (default)\n"
    "  --features K           features per record (default 50)\n"
    "  --payload-extra BYTES  label bytes added to each record (default: what makes ~1 KiB)\n"
    "  --pipeline P           records unacknowledged per client at most (default 65536)\n"
    "  --register M A         register the model of manifest file M with artifact file A;\n"
    "                         default: a generated linear-json model with K features\n"
    "  --daemon-pid PID       report the daemon's VmRSS and VmHWM at the end\n"
    "  --json                 one JSON object instead of the table\n";

struct args {
	const char *socket;
	unsigned clients;
	uint64_t records;
	double duration;
	double rate;
	unsigned features;
	long payload_extra;
	unsigned pipeline;
	const char *manifest_path;
	const char *artifact_path;
	long daemon_pid;
	bool json;
};

struct client {
	const struct args *a;
	const char *model_id, *model_version;
	unsigned index;
	struct evident_client *c;
	uint64_t ring_mask;
	uint64_t *enq_ns; /* enqueue time by request counter, a ring as large as the queue */
	uint64_t hist[HIST_BUCKETS];
	uint64_t max_ns;
	atomic_uint_fast64_t acked, errors;
	uint64_t sent, refused;
	int fatal;
	pthread_t thread;
};

static atomic_int errors_printed;
static unsigned run_id;
static pthread_barrier_t start_line;
static uint64_t t_start, t_end_planned;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > 40)
		return HIST_BUCKETS - 1;
	return HIST_LINEAR + (e - 7) * HIST_SUB + (unsigned)((v >> (e - 6)) & (HIST_SUB - 1));
}

/* The middle of a bucket's range. */
static double hist_value(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_LINEAR)
		return i;
	e = (i - HIST_LINEAR) / HIST_SUB + 7;
	sub = (i - HIST_LINEAR) % HIST_SUB;
	return ldexp(1.0, (int)e) + ((double)sub + 0.5) * ldexp(1.0, (int)e - 6);
}

static double hist_percentile(const uint64_t *h, uint64_t n, double p)
{
	uint64_t want = (uint64_t)ceil(p * (double)n), seen = 0;

	if (n == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen >= want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* Request ids are "L<run>-<counter>": the counter finds the enqueue time, the run (random per
 * process) keeps a second run's ids from being deduplicated against the first's. Runs on the
 * client's I/O thread. */
static void on_ack(void *ud, const char *id, uint64_t seq, bool dup)
{
	struct client *cl = ud;
	uint64_t now = now_ns(), n, lat;

	(void)seq;
	(void)dup;
	id = strchr(id, '-');
	if (!id)
		return;
	n = strtoull(id + 1, NULL, 10);
	lat = now - cl->enq_ns[n & cl->ring_mask];
	cl->hist[hist_index(lat)]++;
	if (lat > cl->max_ns)
		cl->max_ns = lat;
	atomic_fetch_add_explicit(&cl->acked, 1, memory_order_relaxed);
}

static void on_error(void *ud, const char *id, int err, const char *msg)
{
	struct client *cl = ud;

	if (id)
		atomic_fetch_add_explicit(&cl->errors, 1, memory_order_relaxed);
	if (atomic_fetch_add(&errors_printed, 1) < 5)
		fprintf(stderr, PROGRAM ": client %u: %s: %s (%s)\n", cl->index,
		        id ? id : "connection", msg, strerror(-err));
}

static void *drive(void *arg)
{
	struct client *cl = arg;
	const struct args *a = cl->a;
	uint64_t quota = a->duration > 0 ? UINT64_MAX
	                                 : a->records / a->clients +
	                                       (cl->index < a->records % a->clients ? 1 : 0);
	double interval_ns = a->rate > 0 ? 1e9 * a->clients / a->rate : 0;
	size_t pad_total = (size_t)a->payload_extra,
	       n_pads = (pad_total + LABEL_MAX - 1) / LABEL_MAX;
	double *features = calloc(a->features ? a->features : 1, sizeof(double));
	char *pad = malloc(LABEL_MAX + 1);
	const char *lkeys[1 + PAD_LABELS], *lvals[1 + PAD_LABELS];
	char pad_names[PAD_LABELS][24];
	static const char *const ckeys[] = {"amount"};
	double amount = 0, score = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (cl->index + 1);
	char id[32];
	struct evident_record r = {
	    .model_id = cl->model_id,
	    .model_version = cl->model_version,
	    .request_id = id,
	    .features = features,
	    .n_features = a->features,
	    .scores = &score,
	    .n_scores = 1,
	    .context_keys = ckeys,
	    .context_values = &amount,
	    .n_context = 1,
	    .label_keys = lkeys,
	    .label_values = lvals,
	    .n_labels = 1 + n_pads,
	};

	if (!features || !pad) {
		cl->fatal = -ENOMEM;
		pthread_barrier_wait(&start_line);
		return NULL;
	}
	memset(pad, 'x', LABEL_MAX);
	pad[LABEL_MAX] = '\0';
	lkeys[0] = "desk";
	lvals[0] = "emea";
	for (size_t i = 0; i < n_pads; i++) {
		size_t len = i + 1 < n_pads ? LABEL_MAX : pad_total - i * LABEL_MAX;
		snprintf(pad_names[i], sizeof(pad_names[i]), "pad%zu", i);
		lkeys[1 + i] = pad_names[i];
		lvals[1 + i] = pad + LABEL_MAX - len; /* a suffix of the pad: len bytes */
	}

	pthread_barrier_wait(&start_line);
	for (uint64_t i = 0; i < quota; i++) {
		double z = 0;
		int e;

		if (interval_ns > 0) {
			uint64_t due = t_start + (uint64_t)((double)i * interval_ns);
			uint64_t now = now_ns();
			if (due > now) {
				struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u),
				                      .tv_nsec = (long)(due % 1000000000u)};
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			}
		}
		if (a->duration > 0 && (i & 63) == 0 && now_ns() >= t_end_planned)
			break;
		for (unsigned k = 0; k < a->features; k++) {
			seed ^= seed >> 12;
			seed ^= seed << 25;
			seed ^= seed >> 27;
			features[k] = (double)(seed % 10000) / 10000.0;
			z += 0.01 * features[k];
		}
		score = 1.0 / (1.0 + exp(-z));
		r.decision = score >= 0.5 ? "decline" : "approve";
		amount = (double)(seed % 100000) / 100.0;
		snprintf(id, sizeof(id), "L%08x-%llu", run_id, (unsigned long long)i);
		for (;;) {
			cl->enq_ns[i & cl->ring_mask] = now_ns();
			e = evident_record(cl->c, &r);
			if (e != -EAGAIN)
				break;
			cl->refused++; /* backpressure: wait for acks, then the same record again */
			usleep(50);
		}
		if (e < 0) {
			cl->fatal = e;
			break;
		}
		cl->sent++;
	}
	free(features);
	free(pad);
	return NULL;
}

static int write_default_model(unsigned k, char **ret_manifest, char **ret_artifact_path)
{
	const char *tmp = getenv("TMPDIR");
	json_t *art = json_object(), *coef = json_array(), *names = json_array();
	json_t *man, *feats = json_array();
	char *path = NULL, *text, version[32];
	int fd;
	FILE *f;

	for (unsigned i = 0; i < k; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%u", i);
		json_array_append_new(coef, json_real(0.01));
		json_array_append_new(names, json_string(name));
		json_array_append_new(feats, json_pack("{s:s, s:s, s:f, s:f}", "name", name, "type",
		                                       "NUMERIC", "min", 0.0, "max", 1.0));
	}
	json_object_set_new(art, "intercept", json_real(0.0));
	json_object_set_new(art, "coef", coef);
	json_object_set_new(art, "link", json_string("logit"));
	json_object_set_new(art, "feature_names", names);
	if (asprintf(&path, "%s/evident-load-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -ENOMEM;
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		free(path);
		return -errno;
	}
	json_dumpf(art, f, JSON_SORT_KEYS | JSON_COMPACT);
	fclose(f);
	json_decref(art);

	/* the version names K so that runs with other feature counts never conflict */
	snprintf(version, sizeof(version), "k%u", k);
	man = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:f, s:s, s:s}, s:o, s:[s], s:{s:s, s:s}}",
	                "model_id", "evident-load", "version", version, "framework", "linear-json",
	                "output_space", "probability", "decision", "kind", "THRESHOLD", "threshold",
	                0.5, "label_below", "approve", "label_above", "decline", "features", feats,
	                "output_names", "p_decline", "lineage", "created_by", PROGRAM, "notes",
	                "generated load-test model");
	if (!man)
		return -ENOMEM;
	text = json_dumps(man, JSON_SORT_KEYS);
	json_decref(man);
	*ret_manifest = text;
	*ret_artifact_path = path;
	return 0;
}

static long read_status_kb(long pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return !errno && end != s && !*end && *s != '-';
}

static bool parse_double(const char *s, double *ret)
{
	char *end;

	errno = 0;
	*ret = strtod(s, &end);
	return !errno && end != s && !*end && *ret >= 0 && isfinite(*ret);
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"clients", required_argument, NULL, 'c'},
	    {"records", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"rate", required_argument, NULL, 'r'},
	    {"features", required_argument, NULL, 'k'},
	    {"payload-extra", required_argument, NULL, 'x'},
	    {"pipeline", required_argument, NULL, 'p'},
	    {"register", required_argument, NULL, 'g'},
	    {"daemon-pid", required_argument, NULL, 'P'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool have_records = false;
	uint64_t v;
	int opt;

	*a = (struct args){.clients = 4, .records = 100000, .features = 50, .payload_extra = -1};
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			a->socket = optarg;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v == 0 || v > 1024)
				goto bad;
			a->clients = (unsigned)v;
			break;
		case 'n':
			if (!parse_u64(optarg, &a->records) || a->records == 0)
				goto bad;
			have_records = true;
			break;
		case 'd':
			if (!parse_double(optarg, &a->duration) || a->duration <= 0)
				goto bad;
			break;
		case 'r':
			if (!parse_double(optarg, &a->rate))
				goto bad;
			break;
		case 'k':
			if (!parse_u64(optarg, &v) || v > 100000)
				goto bad;
			a->features = (unsigned)v;
			break;
		case 'x':
			if (!parse_u64(optarg, &v) || v > (uint64_t)PAD_LABELS * LABEL_MAX)
				goto bad;
			a->payload_extra = (long)v;
			break;
		case 'p':
			if (!parse_u64(optarg, &v) || v == 0 || v > EVIDENT_MAX_QUEUE_LIMIT)
				goto bad;
			a->pipeline = (unsigned)v;
			break;
		case 'g':
			if (optind >= argc)
				goto bad;
			a->manifest_path = optarg;
			a->artifact_path = argv[optind++];
			break;
		case 'P':
			if (!parse_u64(optarg, &v) || v == 0)
				goto bad;
			a->daemon_pid = (long)v;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind != argc || !a->socket || (have_records && a->duration > 0))
		goto bad;
	if (a->payload_extra < 0) {
		/* ~1 KiB on the wire: 9 bytes a feature, ~150 for the rest */
		long base = 150 + 9L * a->features;
		a->payload_extra = base < 1024 ? 1024 - base : 0;
	}
	return 0;
bad:
	fputs(usage_text, stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct args a;
	struct client *cl;
	char *manifest = NULL, *artifact = NULL, *cmdline = NULL, errbuf[512];
	const char *model_id, *model_version;
	json_t *mj = NULL;
	uint64_t hist[HIST_BUCKETS] = {0}, acked = 0, errors = 0, sent = 0, refused = 0, max_ns = 0;
	uint64_t resent = 0, reconnects = 0, t_end;
	size_t cmd_len = 0;
	long rss = -1, hwm = -1;
	int r, status = 0;

	r = parse_args(argc, argv, &a);
	if (r)
		return r == 1 ? 0 : 2;
	run_id = (unsigned)(now_ns() ^ ((uint64_t)getpid() << 16));
	for (int i = 0; i < argc; i++)
		cmd_len += strlen(argv[i]) + 1;
	cmdline = calloc(1, cmd_len + 1);
	for (int i = 0; i < argc; i++) {
		strcat(cmdline, argv[i]);
		if (i + 1 < argc)
			strcat(cmdline, " ");
	}

	if (a.manifest_path) {
		json_error_t jerr;
		mj = json_load_file(a.manifest_path, 0, &jerr);
		if (!mj) {
			fprintf(stderr, PROGRAM ": %s:%d: %s\n", a.manifest_path, jerr.line,
			        jerr.text);
			return 2;
		}
		manifest = json_dumps(mj, 0);
		/* records must match the manifest's feature count */
		a.features = (unsigned)json_array_size(json_object_get(mj, "features"));
		artifact = strdup(a.artifact_path);
	} else {
		r = write_default_model(a.features, &manifest, &artifact);
		if (r < 0) {
			fprintf(stderr, PROGRAM ": cannot write the model: %s\n", strerror(-r));
			return 1;
		}
		mj = json_loads(manifest, 0, NULL);
	}
	if (evident_manifest_check(manifest, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, PROGRAM ": manifest: %s\n", errbuf);
		return 2;
	}
	model_id = json_string_value(json_object_get(mj, "model_id"));
	model_version = json_string_value(json_object_get(mj, "version"));

	cl = calloc(a.clients, sizeof(*cl));
	if (!cl)
		return 1;
	for (unsigned i = 0; i < a.clients; i++) {
		char name[64];
		struct evident_options o = {
		    .socket_path = a.socket,
		    .client_name = name,
		    .max_inflight = a.pipeline,
		    .on_ack = on_ack,
		    .on_error = on_error,
		    .userdata = &cl[i],
		};
		uint64_t ring = 1;
		snprintf(name, sizeof(name), "evident-load-%u", i);
		cl[i].a = &a;
		cl[i].index = i;
		cl[i].model_id = model_id;
		cl[i].model_version = model_version;
		/* the pipeline bounds what is unacknowledged, queued or sent: the queue itself */
		o.max_queue = a.pipeline ? a.pipeline : EVIDENT_DEFAULT_MAX_QUEUE;
		/* more than max_queue entries: a record's time is overwritten only when a record
		 * max_queue + 1 later is tried, and that needs it acknowledged first */
		while (ring <= o.max_queue)
			ring <<= 1;
		cl[i].ring_mask = ring - 1;
		cl[i].enq_ns = calloc(ring, sizeof(uint64_t));
		r = cl[i].enq_ns ? evident_client_new(&o, &cl[i].c) : -ENOMEM;
		if (r < 0) {
			fprintf(stderr, PROGRAM ": client %u: %s\n", i, strerror(-r));
			return 1;
		}
	}
	r = evident_register(cl[0].c, manifest, artifact, NULL, 30000, NULL);
	if (!a.manifest_path)
		unlink(artifact);
	if (r < 0) {
		fprintf(stderr, PROGRAM ": registering %s@%s: %s\n", model_id, model_version,
		        strerror(-r));
		return 1;
	}

	pthread_barrier_init(&start_line, NULL, a.clients + 1);
	for (unsigned i = 0; i < a.clients; i++)
		if (pthread_create(&cl[i].thread, NULL, drive, &cl[i]) != 0) {
			fprintf(stderr, PROGRAM ": cannot start a thread\n");
			return 1;
		}
	t_start = now_ns();
	t_end_planned = t_start + (uint64_t)(a.duration * 1e9);
	pthread_barrier_wait(&start_line);
	for (unsigned i = 0; i < a.clients; i++)
		pthread_join(cl[i].thread, NULL);
	for (unsigned i = 0; i < a.clients; i++)
		if (evident_flush(cl[i].c, 60000) < 0) {
			fprintf(stderr,
			        PROGRAM ": client %u: not every record was acknowledged "
			                "within 60 s\n",
			        i);
			status = 1;
		}
	t_end = now_ns();
	if (a.daemon_pid) {
		rss = read_status_kb(a.daemon_pid, "VmRSS");
		hwm = read_status_kb(a.daemon_pid, "VmHWM");
	}
	for (unsigned i = 0; i < a.clients; i++) {
		struct evident_stats st;
		evident_stats(cl[i].c, &st);
		resent += st.resent;
		reconnects += st.reconnects;
		evident_client_free(cl[i].c);
		if (cl[i].fatal) {
			fprintf(stderr, PROGRAM ": client %u: evident_record: %s\n", i,
			        strerror(-cl[i].fatal));
			status = 1;
		}
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			hist[b] += cl[i].hist[b];
		if (cl[i].max_ns > max_ns)
			max_ns = cl[i].max_ns;
		acked += atomic_load(&cl[i].acked);
		errors += atomic_load(&cl[i].errors);
		sent += cl[i].sent;
		refused += cl[i].refused;
		free(cl[i].enq_ns);
	}
	if (errors || acked != sent)
		status = 1;

	char model_key[EVIDENT_REQUEST_ID_MAX + 1];
	snprintf(model_key, sizeof(model_key), "%s@%s", model_id, model_version);
	double elapsed = (double)(t_end - t_start) / 1e9;
	double p50 = hist_percentile(hist, acked, 0.50) / 1e3;
	double p90 = hist_percentile(hist, acked, 0.90) / 1e3;
	double p99 = hist_percentile(hist, acked, 0.99) / 1e3;
	double mx = (double)max_ns / 1e3;
	if (a.json) {
		json_t *o = json_pack(
		    "{s:s, s:s, s:I, s:I, s:f, s:f, s:I, s:I, s:f, s:{s:f, s:f, s:f, s:f}, s:I, "
		    "s:I, "
		    "s:I, s:I}",
		    "command", cmdline, "model", model_key, "clients", (json_int_t)a.clients,
		    "features", (json_int_t)a.features, "rate", a.rate, "elapsed_s", elapsed,
		    "sent", (json_int_t)sent, "acked", (json_int_t)acked, "throughput_rps",
		    (double)acked / elapsed, "ack_latency_us", "p50", p50, "p90", p90, "p99", p99,
		    "max", mx, "refused_queue_full", (json_int_t)refused, "errors",
		    (json_int_t)errors, "resent", (json_int_t)resent, "reconnects",
		    (json_int_t)reconnects);
		if (a.daemon_pid)
			json_object_set_new(o, "daemon",
			                    json_pack("{s:I, s:I, s:I}", "pid",
			                              (json_int_t)a.daemon_pid, "vm_rss_kib",
			                              (json_int_t)rss, "vm_hwm_kib",
			                              (json_int_t)hwm));
		json_dumpf(o, stdout, JSON_SORT_KEYS);
		putchar('\n');
		json_decref(o);
	} else {
		printf("# %s\n", cmdline);
		printf("# model %s@%s, %u features, ~%ld label bytes extra, %u clients, rate %s\n",
		       model_id, model_version, a.features, a.payload_extra, a.clients,
		       a.rate > 0 ? "limited" : "unlimited");
		printf("%-10s %9s %12s %9s %9s %9s %9s %9s %7s %7s\n", "acked", "elapsed_s",
		       "records/s", "p50_us", "p90_us", "p99_us", "max_us", "refused", "errors",
		       "resent");
		printf("%-10llu %9.2f %12.0f %9.1f %9.1f %9.1f %9.1f %9llu %7llu %7llu\n",
		       (unsigned long long)acked, elapsed, (double)acked / elapsed, p50, p90, p99,
		       mx, (unsigned long long)refused, (unsigned long long)errors,
		       (unsigned long long)resent);
		if (a.rate > 0)
			printf("# offered %.0f records/s\n", a.rate);
		if (a.daemon_pid)
			printf("# daemon pid %ld: VmRSS %ld KiB, VmHWM %ld KiB\n", a.daemon_pid,
			       rss, hwm);
		if (reconnects)
			printf("# reconnects %llu\n", (unsigned long long)reconnects);
	}
	json_decref(mj);
	free(manifest);
	free(artifact);
	free(cmdline);
	free(cl);
	return status;
}
