/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl explain: offline attributions of rows on a model file, with no daemon and no
 * vault (the verb's --help, below, is its manual). The exact methods for tree ensembles and
 * linear models; rows are spread over --threads workers and printed in order. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ctl.h"
#include "explain.h"
#include "explain_audit.h"

#define ROWS_MAX_BYTES (1u << 30)

enum method {
	M_TREESHAP,
	M_TREESHAP_INTERVENTIONAL,
	M_INTERACTIONS,
	M_LINEAR,
	/* the model-agnostic methods (explain_audit.c), in enum explain_method order */
	M_KERNELSHAP,
	M_PERMUTATION,
	M_LIME,
	M_COUNTERFACTUAL,
	M_FLIP,
	M_ADVERSARIAL,
};

static const char *const method_names[] = {
    [M_TREESHAP] = "treeshap",
    [M_TREESHAP_INTERVENTIONAL] = "treeshap-interventional",
    [M_INTERACTIONS] = "interactions",
    [M_LINEAR] = "linear",
    [M_KERNELSHAP] = "kernelshap",
    [M_PERMUTATION] = "permutation",
    [M_LIME] = "lime",
    [M_COUNTERFACTUAL] = "counterfactual",
    [M_FLIP] = "flip",
    [M_ADVERSARIAL] = "adversarial",
};

enum {
	ARG_MODEL = CTL_OPT_VERB,
	ARG_ROWS,
	ARG_METHOD,
	ARG_BACKGROUND,
	ARG_THREADS,
	ARG_OUTPUT,
	ARG_FORMAT,
	ARG_ORACLE,
	ARG_SEED,
	ARG_BUDGET,
	ARG_THRESHOLD,
	ARG_TIMEOUT,
	ARG_ORACLE_PROCS,
	ARG_BACKGROUND_SIZE,
	ARG_IMMUTABLE,
	ARG_CATEGORICAL,
	ARG_CONFIDENCE,
	ARG_MANIFEST,
	ARG_TIMINGS,
};

static const char *arg_model, *arg_rows, *arg_background;
static int arg_method = -1;
static unsigned arg_threads = 1;
static bool arg_probability, arg_timings;
static enum ex_format arg_format = EX_FORMAT_AUTO;
static struct explain_args audit = {.seed = 1};

static int option(struct ctl *c, int opt, const char *arg)
{
	uint64_t v;

	(void)c;
	switch (opt) {
	case ARG_MODEL:
		arg_model = arg;
		return 0;
	case ARG_ROWS:
		arg_rows = arg;
		return 0;
	case ARG_BACKGROUND:
		arg_background = arg;
		return 0;
	case ARG_METHOD:
		for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
			if (!strcmp(arg, method_names[i])) {
				arg_method = (int)i;
				return 0;
			}
		return ctl_usage_error("--method: \"%s\" is not one of treeshap, "
		                       "treeshap-interventional, interactions, linear, kernelshap, "
		                       "permutation, lime, counterfactual, flip, adversarial",
		                       arg);
	case ARG_ORACLE:
		if (!*arg)
			return ctl_usage_error("--oracle: empty command");
		audit.oracle = arg;
		return 0;
	case ARG_SEED:
		return ctl_parse_u64("--seed", arg, &audit.seed);
	case ARG_BUDGET:
		if (ctl_parse_u64("--budget", arg, &audit.budget))
			return CTL_EXIT_USAGE;
		if (audit.budget == 0)
			return ctl_usage_error(
			    "--budget: expected a positive number of model rows");
		return 0;
	case ARG_THRESHOLD: {
		char *end;
		errno = 0;
		audit.threshold = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(audit.threshold))
			return ctl_usage_error("--threshold: \"%s\" is not a finite number", arg);
		audit.has_threshold = true;
		return 0;
	}
	case ARG_TIMEOUT:
		if (ctl_parse_u64("--timeout", arg, &v))
			return CTL_EXIT_USAGE;
		if (v < 1 || v > 3600000)
			return ctl_usage_error("--timeout: expected 1 to 3600000 ms, not %s", arg);
		audit.timeout_ms = (unsigned)v;
		return 0;
	case ARG_ORACLE_PROCS:
		if (ctl_parse_u64("--oracle-procs", arg, &v))
			return CTL_EXIT_USAGE;
		if (v < 1 || v > 256)
			return ctl_usage_error("--oracle-procs: expected 1 to 256, not %s", arg);
		audit.oracle_procs = (unsigned)v;
		return 0;
	case ARG_BACKGROUND_SIZE:
		if (ctl_parse_u64("--background-size", arg, &v))
			return CTL_EXIT_USAGE;
		if (v < 1 || v > 100000)
			return ctl_usage_error("--background-size: expected 1 to 100000, not %s",
			                       arg);
		audit.background_size = (size_t)v;
		return 0;
	case ARG_IMMUTABLE:
		audit.immutable = arg;
		return 0;
	case ARG_CATEGORICAL:
		audit.categorical = arg;
		return 0;
	case ARG_CONFIDENCE:
		audit.confidence = true;
		return 0;
	case ARG_MANIFEST:
		audit.manifest_path = arg;
		return 0;
	case ARG_TIMINGS:
		arg_timings = true;
		return 0;
	case ARG_THREADS:
		if (ctl_parse_u64("--threads", arg, &v))
			return CTL_EXIT_USAGE;
		if (v < 1 || v > 256)
			return ctl_usage_error("--threads: expected 1 to 256, not %s", arg);
		arg_threads = (unsigned)v;
		return 0;
	case ARG_OUTPUT:
		if (!strcmp(arg, "margin") || !strcmp(arg, "probability")) {
			arg_probability = arg[0] == 'p';
			return 0;
		}
		return ctl_usage_error("--output: expected margin or probability, not \"%s\"", arg);
	case ARG_FORMAT:
		if (!strcmp(arg, "xgboost-json"))
			arg_format = EX_FORMAT_XGBOOST_JSON;
		else if (!strcmp(arg, "lightgbm-text"))
			arg_format = EX_FORMAT_LIGHTGBM_TEXT;
		else if (!strcmp(arg, "linear-json"))
			arg_format = EX_FORMAT_LINEAR_JSON;
		else if (strcmp(arg, "auto"))
			return ctl_usage_error("--format: expected auto, xgboost-json, "
			                       "lightgbm-text or linear-json, not \"%s\"",
			                       arg);
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------ work */

struct job {
	const struct ex_model *m;
	const struct ex_rows *rows, *bg;
	int method;
	size_t M, K; /* features, outputs */
	/* results, per row: prediction K, base K, phi K*M (or interactions K*M*M) */
	double *pred, *base, *phi;
	int *rc;
	unsigned next_thread; /* assigned on start */
	unsigned threads;
};

struct worker {
	struct job *job;
	unsigned id;
};

static size_t phi_len(const struct job *j)
{
	return j->method == M_INTERACTIONS ? j->K * j->M * j->M : j->K * j->M;
}

static int explain_row(const struct job *j, size_t i)
{
	const double *x = j->rows->values + i * j->M;
	double *phi = j->phi + i * phi_len(j), *base = j->base + i * j->K;
	int rc;

	rc = ex_predict_margin(j->m, x, NULL, j->pred + i * j->K);
	if (rc < 0)
		return rc;
	switch (j->method) {
	case M_TREESHAP:
		return ex_treeshap(j->m, x, phi, base);
	case M_TREESHAP_INTERVENTIONAL:
		return ex_treeshap_interventional(j->m, x, j->bg->values, j->bg->n_rows, phi, base);
	case M_INTERACTIONS:
		return ex_interactions(j->m, x, phi, base);
	case M_LINEAR:
		return ex_linear_shap(j->m, x, j->bg ? j->bg->values : NULL,
		                      j->bg ? j->bg->n_rows : 0, phi, base);
	}
	return -EINVAL;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	size_t n = j->rows->n_rows;

	if (j->method == M_TREESHAP) {
		/* the batched entry point over a contiguous share of the rows; the walk gives the
		 * rows' margins too */
		size_t from = n * w->id / j->threads, to = n * (w->id + 1) / j->threads;
		int rc = ex_treeshap_rows_margins(j->m, j->rows->values + from * j->M, to - from,
		                                  j->phi + from * phi_len(j), j->base + from * j->K,
		                                  j->pred + from * j->K, j->rc + from);
		for (size_t i = from; rc < 0 && i < to; i++)
			j->rc[i] = rc;
		return NULL;
	}
	for (size_t i = w->id; i < n; i += j->threads)
		j->rc[i] = explain_row(j, i);
	return NULL;
}

static int run_all(struct job *j)
{
	pthread_t th[256];
	struct worker ws[256];
	unsigned started = 0;

	j->threads = arg_threads;
	for (unsigned t = 0; t < j->threads; t++) {
		ws[t] = (struct worker){.job = j, .id = t};
		if (t == 0)
			continue;
		if (pthread_create(&th[t], NULL, work, &ws[t]) != 0)
			break;
		started++;
	}
	if (started + 1 < j->threads) {
		/* fewer threads than asked: do the rest here */
		j->threads = 1;
		for (unsigned t = 1; t <= started; t++)
			pthread_join(th[t], NULL);
		started = 0;
	}
	work(&ws[0]);
	for (unsigned t = 1; t <= started; t++)
		pthread_join(th[t], NULL);
	return 0;
}

/* ------------------------------------------------------------------ output */

static int print_json_row(const struct job *j, size_t i)
{
	_cleanup_(json_decrefp) json_t *o = json_object();
	double pred[1024];
	size_t K = j->K, M = j->M;
	const double *phi = j->phi + i * phi_len(j), *base = j->base + i * K;
	int rc;

	if (!o || K > 1024)
		return -ENOMEM;
	memcpy(pred, j->pred + i * K, K * sizeof(double));
	if (arg_probability)
		ex_link_apply(j->m, pred);
	ctl_json_set(o, "row", json_integer((json_int_t)i));
	rc = j->method == M_INTERACTIONS ? audit_json_interactions(o, pred, base, phi, K, M)
	                                 : audit_json_attribution(o, pred, base, phi, K, M);
	return rc < 0 ? rc : ctl_json_print(stdout, o, true);
}

struct ranked {
	size_t feature;
	double phi;
};

static int by_magnitude(const void *a, const void *b)
{
	double x = fabs(((const struct ranked *)a)->phi), y = fabs(((const struct ranked *)b)->phi);
	return x < y ? 1 : x > y ? -1 : 0;
}

static void print_text_row(const struct job *j, size_t i)
{
	size_t K = j->K, M = j->M;
	struct ranked *r = malloc(M * sizeof(*r));
	char b1[CTL_DOUBLE_MAX], b2[CTL_DOUBLE_MAX], b3[CTL_DOUBLE_MAX], fb[32];
	double pred[1024];

	if (!r || K > 1024) {
		free(r);
		return;
	}
	memcpy(pred, j->pred + i * K, K * sizeof(double));
	if (arg_probability)
		ex_link_apply(j->m, pred);
	for (size_t g = 0; g < K; g++) {
		const double *phi = j->phi + i * phi_len(j);
		printf("row %zu%s%s: prediction %s (%s), base value %s\n", i,
		       K > 1 ? ", output " : "",
		       K > 1 ? (snprintf(fb, sizeof(fb), "%zu", g), fb) : "",
		       ctl_double_format(pred[g], b1), arg_probability ? "probability" : "margin",
		       ctl_double_format(j->base[i * K + g], b2));
		for (size_t f = 0; f < M; f++) {
			double v = 0;
			if (j->method == M_INTERACTIONS)
				for (size_t b = 0; b < M; b++)
					v += phi[g * M * M + f * M + b];
			else
				v = phi[g * M + f];
			r[f] = (struct ranked){f, v};
		}
		qsort(r, M, sizeof(*r), by_magnitude);
		printf("  %-28s %16s %16s\n", "feature", "value", "attribution");
		for (size_t k = 0; k < M; k++) {
			const char *name = ex_model_feature_name(j->m, r[k].feature);
			char nb[32];
			if (!name) {
				snprintf(nb, sizeof(nb), "f%zu", r[k].feature);
				name = nb;
			}
			printf("  %-28s %16s %+16.6g\n", name,
			       ctl_double_format(j->rows->values[i * M + r[k].feature], b3),
			       r[k].phi);
		}
		if (j->method == M_INTERACTIONS) {
			/* the strongest pairs */
			const double *mat = phi + g * M * M;
			double best = 0;
			size_t ba = 0, bb = 0;
			for (size_t a = 0; a < M; a++)
				for (size_t b = a + 1; b < M; b++)
					if (fabs(mat[a * M + b]) > best) {
						best = fabs(mat[a * M + b]);
						ba = a;
						bb = b;
					}
			if (best > 0)
				printf("  strongest interaction: f%zu x f%zu = %+.6g (each way)\n",
				       ba, bb, mat[ba * M + bb]);
		}
	}
	printf("\n");
	free(r);
}

/* ------------------------------------------------------------------ run */

/* --timings: wall and CPU milliseconds of each phase of an exact method, on stderr. */
struct phase_clock {
	double wall, cpu;
};

static struct phase_clock phase_now(void)
{
	struct timespec w, c;
	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	return (struct phase_clock){(double)w.tv_sec * 1e3 + (double)w.tv_nsec * 1e-6,
	                            (double)c.tv_sec * 1e3 + (double)c.tv_nsec * 1e-6};
}

static void phase_report(const char *what, struct phase_clock *since)
{
	struct phase_clock now = phase_now();
	if (arg_timings)
		fprintf(stderr, "timings: %-12s wall %9.2f ms   cpu %9.2f ms\n", what,
		        now.wall - since->wall, now.cpu - since->cpu);
	*since = now;
}

static int load_rows(const char *path, const char *what, const struct ex_model *m,
                     struct ex_rows *r)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	char err[512];
	int rc = ctl_read_file(path, ROWS_MAX_BYTES, &text, &len);

	if (rc < 0)
		return ctl_file_error(path, rc);
	rc = ex_rows_parse(text, len, path, r, err, sizeof(err));
	if (rc == -ENOMEM)
		return ctl_file_error(path, rc);
	if (rc < 0) {
		ctl_error("%s", err);
		return CTL_EXIT_UNREADABLE;
	}
	rc = ex_rows_select(r, ex_model_n_features(m), explain_model_feature_name, (void *)m, path,
	                    err, sizeof(err));
	if (rc < 0) {
		ctl_error("%s", err);
		ex_rows_free(r);
		return rc == -ENOMEM ? CTL_EXIT_UNREADABLE : CTL_EXIT_USAGE;
	}
	(void)what;
	return 0;
}

static const char *row_error(int rc)
{
	switch (rc) {
	case -EDOM:
		return "the attributions fail the efficiency check (they do not add up to the "
		       "prediction): refused";
	case -EINVAL:
		return "the method cannot take this row (a linear model has no rule for missing "
		       "values)";
	case -ENOTSUP:
		return "paths with more distinct features than this library supports";
	default:
		return strerror(-rc);
	}
}

/* The verb's working memory (the model's text and its tokens, the rows, the results:
 * megabytes, each touched once) comes from the heap, in 2 MB pages where the kernel gives them
 * on request (transparent huge pages): a fresh 4 KB page costs a fault, about 12 us of CPU on
 * a VM, as much as parsing a few kilobytes, and a 2 MB page costs one. Freed memory stays in
 * the heap for the next phase (the rows reuse the model text's pages). Without huge pages
 * the madvise does nothing. */
static void heap_for_explain(void)
{
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	mallopt(M_TOP_PAD, 64 << 20);
	void *grow = malloc(1 << 20); /* the heap grows by the pad */
	char *top = sbrk(0);
	uintptr_t lo = ((uintptr_t)grow + 4095) & ~(uintptr_t)4095;

	if (grow && top != (char *)-1 && (uintptr_t)top > lo)
		(void)madvise((void *)lo, (uintptr_t)top - lo, MADV_HUGEPAGE);
	free(grow);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ex_model *m = NULL;
	struct ex_rows rows = {0}, bg = {0};
	struct job j = {0};
	char err[EX_ERR_MAX];
	int rc, status = 0;
	struct phase_clock clk = phase_now();

	(void)argc;
	(void)argv;
	heap_for_explain();
	if (!arg_model == !audit.oracle)
		return ctl_usage_error(
		    "explain needs --model FILE or --oracle 'COMMAND' (one of them)");
	if (!arg_rows)
		return ctl_usage_error("explain needs --rows FILE");
	if (arg_method < 0)
		return ctl_usage_error("explain needs --method M");
	if (arg_method >= M_KERNELSHAP) {
		/* flip on a model file takes its ranges from the model and --manifest instead */
		if (!arg_background && !(arg_method == M_FLIP && arg_model))
			return ctl_usage_error(
			    "--method %s needs --background FILE (reference rows: "
			    "the game's background, quantile grids, ranges)%s",
			    method_names[arg_method],
			    arg_method == M_FLIP ? "; only a model file can do without" : "");
		if (audit.confidence && arg_method > M_PERMUTATION)
			return ctl_usage_error("--confidence goes with kernelshap or permutation");
		audit.method = (enum explain_method)(arg_method - M_KERNELSHAP);
		audit.model_path = arg_model;
		audit.format = arg_format;
		audit.rows_path = arg_rows;
		audit.background_path = arg_background;
		audit.probability = arg_probability;
		return explain_audit(c, &audit);
	}
	if (!arg_model)
		return ctl_usage_error("--method %s needs --model FILE (an exact method reads the "
		                       "model itself; use kernelshap or permutation with --oracle)",
		                       method_names[arg_method]);
	if (audit.manifest_path)
		return ctl_usage_error("--manifest goes with the model-agnostic methods");
	rc = ex_model_load(arg_model, arg_format, &m, err, sizeof(err));
	if (rc < 0) {
		if (rc == -EBADMSG || rc == -ENOTSUP)
			ctl_error("%s", err);
		else
			ctl_file_error(arg_model, rc);
		return CTL_EXIT_UNREADABLE;
	}
	phase_report("load model", &clk);
	if (arg_method == M_LINEAR && ex_model_is_trees(m))
		status = ctl_usage_error("--method linear needs a linear-json model; %s is a tree "
		                         "ensemble (use treeshap)",
		                         arg_model);
	else if (arg_method != M_LINEAR && !ex_model_is_trees(m))
		status = ctl_usage_error("--method %s needs a tree ensemble; %s is linear (use "
		                         "--method linear)",
		                         method_names[arg_method], arg_model);
	else if (arg_method == M_TREESHAP_INTERVENTIONAL && !arg_background)
		status =
		    ctl_usage_error("--method treeshap-interventional needs --background FILE");
	if (status)
		goto out;
	status = load_rows(arg_rows, "rows", m, &rows);
	if (status)
		goto out;
	if (arg_background) {
		status = load_rows(arg_background, "background", m, &bg);
		if (status)
			goto out;
		if (bg.n_rows == 0) {
			status = ctl_usage_error("%s: no background rows", arg_background);
			goto out;
		}
	}
	j = (struct job){.m = m,
	                 .rows = &rows,
	                 .bg = arg_background ? &bg : NULL,
	                 .method = arg_method,
	                 .M = ex_model_n_features(m),
	                 .K = ex_model_n_outputs(m)};
	j.pred = malloc((rows.n_rows * j.K + 1) * sizeof(double));
	j.base = malloc((rows.n_rows * j.K + 1) * sizeof(double));
	j.phi = malloc((rows.n_rows * phi_len(&j) + 1) * sizeof(double));
	j.rc = calloc(rows.n_rows + 1, sizeof(int));
	if (!j.pred || !j.base || !j.phi || !j.rc) {
		ctl_error("out of memory for %zu rows", rows.n_rows);
		status = CTL_EXIT_UNREADABLE;
		goto out;
	}
	phase_report("read rows", &clk);
	run_all(&j);
	phase_report("explain", &clk);
	for (size_t i = 0; i < rows.n_rows; i++) {
		if (j.rc[i] < 0) {
			ctl_error("%s: row %zu: %s", arg_rows, i, row_error(j.rc[i]));
			status = CTL_EXIT_PROBLEM;
			continue;
		}
		if (c->json)
			print_json_row(&j, i);
		else
			print_text_row(&j, i);
	}
	fflush(stdout);
	phase_report("write", &clk);
out:
	free(j.pred);
	free(j.base);
	free(j.phi);
	free(j.rc);
	ex_rows_free(&rows);
	ex_rows_free(&bg);
	ex_model_free(m);
	return status;
}

static const struct option options[] = {
    {"model", required_argument, NULL, ARG_MODEL},
    {"rows", required_argument, NULL, ARG_ROWS},
    {"method", required_argument, NULL, ARG_METHOD},
    {"background", required_argument, NULL, ARG_BACKGROUND},
    {"threads", required_argument, NULL, ARG_THREADS},
    {"output", required_argument, NULL, ARG_OUTPUT},
    {"format", required_argument, NULL, ARG_FORMAT},
    {"oracle", required_argument, NULL, ARG_ORACLE},
    {"seed", required_argument, NULL, ARG_SEED},
    {"budget", required_argument, NULL, ARG_BUDGET},
    {"threshold", required_argument, NULL, ARG_THRESHOLD},
    {"timeout", required_argument, NULL, ARG_TIMEOUT},
    {"oracle-procs", required_argument, NULL, ARG_ORACLE_PROCS},
    {"background-size", required_argument, NULL, ARG_BACKGROUND_SIZE},
    {"immutable", required_argument, NULL, ARG_IMMUTABLE},
    {"categorical", required_argument, NULL, ARG_CATEGORICAL},
    {"confidence", no_argument, NULL, ARG_CONFIDENCE},
    {"manifest", required_argument, NULL, ARG_MANIFEST},
    {"timings", no_argument, NULL, ARG_TIMINGS},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_explain = {
    .name = "explain",
    .summary = "attribute a model's outputs to its features and test what-ifs, offline",
    .synopsis = "explain (--model FILE | --oracle 'COMMAND') --rows FILE --method M\n"
                "[--background FILE] [--manifest FILE] [--seed N] [--budget N] [--threshold T]\n"
                "[--threads N] [--output margin|probability] [--format F] [--confidence]\n"
                "[--immutable NAMES] [--categorical NAMES] [--timeout MS] [--oracle-procs N]\n"
                "[--background-size K] [--timings]",
    .description =
        "Explains each input row of a model without a daemon or a vault: which features\n"
        "drove this output and by how much, what would have changed the decision, whether a\n"
        "low-importance feature can flip it, and where else the same failure happens. The\n"
        "model is a file (XGBoost JSON, save_model 1.7 to 3.x; LightGBM text; linear-json\n"
        "{\"intercept\": b, \"coef\": [...], \"link\": \"identity\"|\"logit\",\n"
        "\"feature_names\": [...]}) whose evaluators replay the training library's own split\n"
        "rules, or a black box behind --oracle 'COMMAND': a process speaking the oracle\n"
        "protocol (proto/PROTOCOL.md; evident-oracle and evident-sklearn-oracle ship with\n"
        "evidentd). Attributions of model files are in margin space (log-odds for logistic\n"
        "models); through an oracle, in whatever the oracle returns.\n"
        "\n"
        "Exact methods (--model only):\n"
        "  treeshap                 path-dependent TreeSHAP (Gauss-Legendre quadrature)\n"
        "  treeshap-interventional  Shapley values of mean_b f(x_S, b_rest) over --background\n"
        "  interactions             SHAP interaction values, an M x M matrix per output\n"
        "  linear                   beta_i (x_i - mean x_i) for linear-json models\n"
        "Model-agnostic methods (--model or --oracle; --background required, except for\n"
        "flip on a model file):\n"
        "  kernelshap      KernelSHAP of the interventional game: every coalition when 2^M - 2\n"
        "                  fit the budget (exact), else paired sampling with the efficiency\n"
        "                  constraint solved exactly, a standard error per feature and rounds\n"
        "                  that stop when max stderr <= 1% of the attribution range\n"
        "  permutation     antithetic permutation sampling, the independent cross-check\n"
        "  lime            LIME for tabular data (quartile bins, kernel width 0.75 sqrt(M)),\n"
        "                  local fit R^2, fidelity at the row, stability over 10 seeds\n"
        "  counterfactual  nearest changes that flip the decision: exact single-feature flips\n"
        "                  for trees (each format's tie rule) and linear models, grid and\n"
        "                  bisection for black boxes (bracket reported), and sparse few-feature\n"
        "                  changes (growing spheres); ranges from the background, --immutable\n"
        "                  features never change\n"
        "  flip            FRAGILE_LOW_IMPORTANCE when a feature with |phi| <= 5% of the total\n"
        "                  flips the decision within 0.5 MAD, with the decision margin and the\n"
        "                  fragility index. On a model file it needs no background: each\n"
        "                  feature's range is its training range from --manifest, else (tree\n"
        "                  ensembles) the span of its splits, and a MAD is taken as the\n"
        "                  range / 7.638 (a normal's MAD when the range is its 0.5th to\n"
        "                  99.5th percentile); \"ranges\" says which (\"background\",\n"
        "                  \"manifest\", \"model thresholds\", \"manifest and model thresholds\")\n"
        "  adversarial     the region where the same decision happens for the same reasons\n"
        "                  (exact decision cell grown greedily for trees; hill-climbing and a\n"
        "                  genetic search from nearby background rows for black boxes) as a\n"
        "                  rule with precision (Wilson 95% interval), coverage and exemplars\n"
        "The sampled methods see a k-means summary of the background (--background-size,\n"
        "default 100 centroids); its SHA-256 digest, the seed and the budget are printed with\n"
        "every result, and the same seed gives bit-identical output on every run. The\n"
        "decision is output 0 >= --threshold (default 0: margin 0, probability 0.5), or the\n"
        "argmax for models with several outputs.\n"
        "\n"
        "Rows: CSV with a header line, or JSON (an array of arrays, or an object with \"rows\"\n"
        "and optional \"feature_names\"); an empty field, nan, NA or null is a missing value.\n"
        "Columns are matched to the model's features by name when both have names (extra\n"
        "columns are ignored), otherwise by position; through an oracle the rows' columns are\n"
        "the features and the background must have the same columns.\n"
        "\n"
        "With --json, one object per row (JSON Lines): \"row\", \"prediction\" (one value per\n"
        "output); attribution methods add \"base_value\" and \"phi\" (per output, one value per\n"
        "feature), sampled ones \"stderr\", \"seed\", \"budget\", \"background_digest\",\n"
        "\"model_rows\", \"exact\", \"converged\" (and \"confidence\" with --confidence);\n"
        "interactions adds \"interactions\"; lime adds \"lime\" (fit and stability);\n"
        "counterfactual adds \"counterfactuals\": [{\"changes\": {FEATURE: value},\n"
        "\"prediction\", \"decision\", \"distance\", \"exact\"}], nearest first; flip adds\n"
        "\"flips\" (per feature the nearest flipping value or null), \"fragile\" and \"ranges\";\n"
        "adversarial adds \"region\" (rule, precision, coverage, exemplars). Apart from\n"
        "\"row\" and \"confidence\", each object is written by the code that writes the\n"
        "method's result in the daemon's audit documents: the same keys and, for the same\n"
        "model, row, background, seed and threshold, the same values. Without --json, a\n"
        "readable report per row.",
    .options =
        "--model FILE\n"
        "    The model file.\n"
        "--oracle 'COMMAND'\n"
        "    A black-box model: COMMAND runs under /bin/sh and speaks the oracle protocol on\n"
        "    its stdin and stdout. Run trusted commands only.\n"
        "--rows FILE\n"
        "    The rows to explain (\"-\": standard input).\n"
        "--method M\n"
        "    One of the methods above.\n"
        "--background FILE\n"
        "    Reference rows: the background of interventional and sampled methods, the\n"
        "    plausible ranges (0.5th to 99.5th percentile) and MADs of the what-if methods;\n"
        "    for linear, the means (default: the model's feature_means, else zeros). Flip on\n"
        "    a model file can do without it (see flip above).\n"
        "--manifest FILE\n"
        "    The model's manifest in JSON, as registered (\"features\": [{\"name\", \"min\",\n"
        "    \"max\", \"immutable\"}, ...]): its immutable features never change and, for\n"
        "    flip without --background, its training ranges are the features' ranges (a\n"
        "    linear model needs one for every feature: it has no ranges of its own).\n"
        "--seed N\n"
        "    Seed of every random choice (default 1).\n"
        "--budget N\n"
        "    Model rows one method may evaluate per row (default: kernelshap and\n"
        "    permutation (2M + 2048) x background rows, shap's default; counterfactual and\n"
        "    flip 200000; adversarial 20000; lime 10 runs of 5000 samples, or 10 runs of N/10).\n"
        "--threshold T\n"
        "    The decision is output 0 >= T (default 0; argmax for several outputs).\n"
        "--confidence\n"
        "    With kernelshap or permutation: the confidence score C = G x P_est x P_noise x\n"
        "    A_method (capped at 0.3 when the flip test fires) and its components.\n"
        "--immutable NAME[,NAME...]\n"
        "    Features the what-if methods never change (age, protected attributes).\n"
        "--categorical NAME[,NAME...]\n"
        "    Features whose values are category codes (no distances between them).\n"
        "--timeout MS\n"
        "    Oracle: a request without an answer within MS (default 10000) is an error.\n"
        "--oracle-procs N\n"
        "    Oracle: processes in the pool (default 1).\n"
        "--background-size K\n"
        "    Sampled methods: k-means centroids summarising the background (default 100).\n"
        "--threads N\n"
        "    Exact methods: rows are explained by N threads (default 1).\n"
        "--output margin|probability\n"
        "    The space of \"prediction\" for model files (default margin). Attributions stay\n"
        "    in margin space, where they add up.\n"
        "--format auto|xgboost-json|lightgbm-text|linear-json\n"
        "    The model's format (default: from its content).\n"
        "--timings\n"
        "    Exact methods: the wall and CPU milliseconds of loading the model, reading the\n"
        "    rows, explaining them and writing the output, on standard error.",
    .exit_status =
        "0 every row explained; 1 a row was refused (efficiency check, missing\n"
        "value for a linear model) or a method failed on it (an oracle crashed, timed out\n"
        "or answered the wrong shape: the message says which); 2 usage error (bad option,\n"
        "method does not fit the model, a column missing from the rows, a budget too small);\n"
        "3 a file could not be read, the model is malformed, or the oracle did not start.",
    .examples =
        "evidentctl explain --model model.json --rows rows.csv --method treeshap\n"
        "evidentctl explain --model model.txt --rows rows.json --method interactions --json\n"
        "evidentctl explain --model m.json --rows r.csv --method treeshap-interventional \\\n"
        "    --background train-sample.csv --threads 2 --json\n"
        "evidentctl explain --oracle 'evident-sklearn-oracle model.joblib' --rows r.csv \\\n"
        "    --background train-sample.csv --method kernelshap --seed 7 --confidence --json\n"
        "evidentctl explain --model m.json --rows r.csv --background b.csv \\\n"
        "    --method counterfactual --immutable age --threshold 0.2\n"
        "evidentctl explain --model m.json --rows r.csv --background b.csv --method flip --json\n"
        "evidentctl explain --model m.json --rows r.csv --method flip --manifest manifest.json",
    .long_options = options,
    .option = option,
    .run = run,
};
