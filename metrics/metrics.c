/* SPDX-License-Identifier: Apache-2.0 */
/* Registry, updates and the text exposition format (metrics.h).
 *
 * Concurrency: families and series are singly linked lists that only grow. A creator takes
 * the registry's mutex, builds the node completely and publishes it with a release store on
 * the tail's next pointer (or the head); readers (lookups, scrapes) walk the lists with
 * acquire loads and never lock. Values are relaxed atomics: a counter is an integer, a gauge
 * the bits of a double (changed by compare-and-swap for additions), a histogram one integer
 * per bucket and the bits of the sum. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evident/invariant.h"

struct callback {
	double (*fn)(void *data);
	void *data;
};

struct metric {
	struct metric_family *f;
	_Atomic(struct metric *) next;
	char **values;              /* f->n_labels copies */
	atomic_uint_fast64_t value; /* counter: the count; gauge: the double's bits */
	_Atomic(struct callback *) cb;
	atomic_uint_fast64_t *buckets; /* histogram: n_bounds + 1, not cumulative */
	atomic_uint_fast64_t sum;      /* histogram: the double's bits */
};

struct metric_family {
	struct metrics *m;
	_Atomic(struct metric_family *) next;
	enum metric_type type;
	char *name, *help;
	char *labels[METRICS_LABELS_MAX];
	size_t n_labels;
	double bounds[METRICS_BUCKETS_MAX];
	size_t n_bounds;
	_Atomic(struct metric *) head;
	struct metric *tail; /* under m->lock */
	size_t n_series;     /* under m->lock */
};

struct metrics {
	pthread_mutex_t lock;
	_Atomic(struct metric_family *) head;
	struct metric_family *tail; /* under lock */
};

/* ------------------------------------------------------------------ doubles in atomics */

static uint64_t bits_of(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static double double_of(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static void atomic_add_double(atomic_uint_fast64_t *a, double delta)
{
	uint_fast64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, bits_of(double_of(old) + delta),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

/* ------------------------------------------------------------------ registry */

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void series_free(struct metric *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->values && i < s->f->n_labels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(atomic_load(&s->cb));
	free(s);
}

static void family_free(struct metric_family *f)
{
	struct metric *s = atomic_load(&f->head);

	while (s) {
		struct metric *next = atomic_load(&s->next);
		series_free(s);
		s = next;
	}
	free(f->name);
	free(f->help);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	struct metric_family *f = atomic_load(&m->head);
	while (f) {
		struct metric_family *next = atomic_load(&f->next);
		family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		             (colon && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static bool same_family(const struct metric_family *f, enum metric_type type,
                        const char *const *labels, size_t n_labels)
{
	if (f->type != type || f->n_labels != n_labels)
		return false;
	for (size_t i = 0; i < n_labels; i++)
		if (strcmp(f->labels[i], labels[i]) != 0)
			return false;
	return true;
}

struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *const *labels,
                                     const double *bounds, size_t n_bounds)
{
	size_t n_labels = 0;
	struct metric_family *f;

	if (!m || !name_ok(name, true) || (type != METRIC_HISTOGRAM && n_bounds) ||
	    (type == METRIC_HISTOGRAM && (n_bounds < 1 || n_bounds > METRICS_BUCKETS_MAX))) {
		errno = EINVAL;
		return NULL;
	}
	for (; labels && labels[n_labels]; n_labels++)
		if (n_labels == METRICS_LABELS_MAX || !name_ok(labels[n_labels], false) ||
		    strncmp(labels[n_labels], "__", 2) == 0 ||
		    strcmp(labels[n_labels], "le") == 0) {
			errno = EINVAL;
			return NULL;
		}
	for (size_t i = 0; i < n_bounds; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1])) {
			errno = EINVAL;
			return NULL;
		}
	pthread_mutex_lock(&m->lock);
	for (f = atomic_load(&m->head); f; f = atomic_load(&f->next))
		if (strcmp(f->name, name) == 0) {
			bool same = same_family(f, type, labels, n_labels);
			pthread_mutex_unlock(&m->lock);
			if (!same)
				errno = EINVAL;
			return same ? f : NULL;
		}
	f = calloc(1, sizeof(*f));
	if (!f)
		goto nomem;
	f->m = m;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	f->n_labels = n_labels;
	for (size_t i = 0; i < n_labels; i++)
		if (!(f->labels[i] = strdup(labels[i])))
			f->n_labels = i; /* free what was copied */
	if (!f->name || !f->help || f->n_labels != n_labels) {
		family_free(f);
		goto nomem;
	}
	if (n_bounds)
		memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
	f->n_bounds = n_bounds;
	if (m->tail)
		atomic_store_explicit(&m->tail->next, f, memory_order_release);
	else
		atomic_store_explicit(&m->head, f, memory_order_release);
	m->tail = f;
	pthread_mutex_unlock(&m->lock);
	return f;
nomem:
	pthread_mutex_unlock(&m->lock);
	errno = ENOMEM;
	return NULL;
}

static bool same_values(const struct metric *s, const char *const *values)
{
	for (size_t i = 0; i < s->f->n_labels; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return false;
	return true;
}

static struct metric *find_series(struct metric_family *f, const char *const *values)
{
	for (struct metric *s = atomic_load_explicit(&f->head, memory_order_acquire); s;
	     s = atomic_load_explicit(&s->next, memory_order_acquire))
		if (same_values(s, values))
			return s;
	return NULL;
}

static struct metric *series_new(struct metric_family *f, const char *const *values)
{
	struct metric *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->f = f;
	if (f->n_labels && !(s->values = calloc(f->n_labels, sizeof(char *))))
		goto fail;
	for (size_t i = 0; i < f->n_labels; i++)
		if (!(s->values[i] = strdup(values[i])))
			goto fail;
	if (f->type == METRIC_HISTOGRAM &&
	    !(s->buckets = calloc(f->n_bounds + 1, sizeof(*s->buckets))))
		goto fail;
	if (f->type == METRIC_GAUGE)
		atomic_init(&s->value, bits_of(0.0));
	atomic_init(&s->sum, bits_of(0.0));
	return s;
fail:
	series_free(s);
	return NULL;
}

struct metric *metric_family_get(struct metric_family *f, const char *const *values)
{
	struct metric *s;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < f->n_labels; i++)
		if (!values || !values[i]) {
			errno = EINVAL;
			return NULL;
		}
	if ((s = find_series(f, values)))
		return s;
	pthread_mutex_lock(&f->m->lock);
	s = find_series(f, values); /* another creator may have won */
	if (!s) {
		if (f->n_series >= METRICS_SERIES_MAX) {
			pthread_mutex_unlock(&f->m->lock);
			errno = ENOSPC;
			return NULL;
		}
		s = series_new(f, values);
		if (!s) {
			pthread_mutex_unlock(&f->m->lock);
			errno = ENOMEM;
			return NULL;
		}
		if (f->tail)
			atomic_store_explicit(&f->tail->next, s, memory_order_release);
		else
			atomic_store_explicit(&f->head, s, memory_order_release);
		f->tail = s;
		f->n_series++;
	}
	pthread_mutex_unlock(&f->m->lock);
	return s;
}

static struct metric *single(struct metrics *m, enum metric_type type, const char *name,
                             const char *help, const double *bounds, size_t n_bounds)
{
	struct metric_family *f = metrics_family(m, type, name, help, NULL, bounds, n_bounds);
	return f ? metric_family_get(f, NULL) : NULL;
}

struct metric *metrics_labelled(struct metrics *m, enum metric_type type, const char *name,
                                const char *help, const char *label, const char *value)
{
	const char *labels[] = {label, NULL}, *values[] = {value};
	struct metric_family *f = metrics_family(m, type, name, help, labels, NULL, 0);
	return f ? metric_family_get(f, values) : NULL;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help)
{
	return single(m, METRIC_COUNTER, name, help, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
	return single(m, METRIC_GAUGE, name, help, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const double *bounds, size_t n_bounds)
{
	return single(m, METRIC_HISTOGRAM, name, help, bounds, n_bounds);
}

int metric_set_callback(struct metric *s, double (*fn)(void *data), void *data)
{
	struct callback *cb;

	if (!s || !fn || s->f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	cb = malloc(sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	*cb = (struct callback){.fn = fn, .data = data};
	free(atomic_exchange(&s->cb, cb)); /* set up before serving: nobody reads the old one */
	return 0;
}

void metrics_exponential_buckets(double start, double factor, size_t n, double *out)
{
	INVARIANT(n <= METRICS_BUCKETS_MAX);
	for (size_t i = 0; i < n; i++, start *= factor)
		out[i] = start;
}

/* ------------------------------------------------------------------ updates */

void metric_add(struct metric *s, uint64_t n)
{
	if (!s)
		return;
	INVARIANT(s->f->type != METRIC_HISTOGRAM);
	if (s->f->type == METRIC_COUNTER)
		atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
	else
		atomic_add_double(&s->value, (double)n);
}

void metric_inc(struct metric *s)
{
	metric_add(s, 1);
}

void metric_gauge_add(struct metric *s, double delta)
{
	if (!s)
		return;
	INVARIANT(s->f->type == METRIC_GAUGE);
	atomic_add_double(&s->value, delta);
}

void metric_set(struct metric *s, double v)
{
	if (!s)
		return;
	INVARIANT(s->f->type == METRIC_GAUGE);
	atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

void metric_observe(struct metric *s, double v)
{
	const struct metric_family *f;
	size_t lo = 0, hi;

	if (!s)
		return;
	f = s->f;
	INVARIANT(f->type == METRIC_HISTOGRAM);
	/* the first bucket whose upper bound is >= v (NaN goes to +Inf) */
	hi = f->n_bounds;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
	atomic_add_double(&s->sum, v);
}

static double read_value(const struct metric *s)
{
	struct callback *cb = atomic_load_explicit(&((struct metric *)s)->cb, memory_order_acquire);
	uint64_t u;

	if (cb)
		return cb->fn(cb->data);
	u = atomic_load_explicit(&((struct metric *)s)->value, memory_order_relaxed);
	return s->f->type == METRIC_COUNTER ? (double)u : double_of(u);
}

double metric_value(const struct metric *s)
{
	return s ? read_value(s) : 0;
}

uint64_t metric_hist_count(const struct metric *s, double *sum)
{
	uint64_t n = 0;

	if (sum)
		*sum = 0;
	if (!s || s->f->type != METRIC_HISTOGRAM)
		return 0;
	for (size_t i = 0; i <= s->f->n_bounds; i++)
		n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
	if (sum)
		*sum = double_of(
		    atomic_load_explicit(&((struct metric *)s)->sum, memory_order_relaxed));
	return n;
}

/* ------------------------------------------------------------------ exposition */

struct out {
	char *buf;
	size_t len, cap, max;
	int err;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->len + n + 1 > o->max) {
		o->err = -E2BIG;
		return;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > o->max)
			cap = o->max;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->err = -ENOMEM;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Escapes \ and newline (help text), and " too in label values. */
static void put_escaped(struct out *o, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'           ? "\\\\"
		                  : *s == '\n'         ? "\\n"
		                  : quote && *s == '"' ? "\\\""
		                                       : NULL;
		if (!esc)
			continue;
		put(o, run, (size_t)(s - run));
		puts_(o, esc);
		run = s + 1;
	}
	put(o, run, (size_t)(s - run));
}

/* A float as Prometheus reads it: NaN, +Inf, -Inf, integers exactly, others shortest. */
static void put_double(struct out *o, double v)
{
	char b[40];

	if (isnan(v))
		snprintf(b, sizeof(b), "NaN");
	else if (isinf(v))
		snprintf(b, sizeof(b), v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(b, sizeof(b), "%.0f", v);
	else {
		snprintf(b, sizeof(b), "%.15g", v);
		if (strtod(b, NULL) != v)
			snprintf(b, sizeof(b), "%.17g", v);
	}
	puts_(o, b);
}

static void put_u64(struct out *o, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	puts_(o, b);
}

/* name{a="x",b="y"[,le="..."]} with extra (le) when given. */
static void put_series_name(struct out *o, const struct metric *s, const char *suffix,
                            const double *le)
{
	const struct metric_family *f = s->f;

	puts_(o, f->name);
	puts_(o, suffix);
	if (!f->n_labels && !le)
		return;
	puts_(o, "{");
	for (size_t i = 0; i < f->n_labels; i++) {
		if (i)
			puts_(o, ",");
		puts_(o, f->labels[i]);
		puts_(o, "=\"");
		put_escaped(o, s->values[i], true);
		puts_(o, "\"");
	}
	if (le) {
		puts_(o, f->n_labels ? ",le=\"" : "le=\"");
		put_double(o, *le);
		puts_(o, "\"");
	}
	puts_(o, "}");
}

static void write_histogram(struct out *o, const struct metric *s)
{
	const struct metric_family *f = s->f;
	uint64_t cum = 0;
	double inf = INFINITY, sum;

	for (size_t i = 0; i <= f->n_bounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		put_series_name(o, s, "_bucket", i < f->n_bounds ? &f->bounds[i] : &inf);
		puts_(o, " ");
		put_u64(o, cum);
		puts_(o, "\n");
	}
	sum = double_of(atomic_load_explicit(&((struct metric *)s)->sum, memory_order_relaxed));
	put_series_name(o, s, "_sum", NULL);
	puts_(o, " ");
	put_double(o, sum);
	puts_(o, "\n");
	put_series_name(o, s, "_count", NULL);
	puts_(o, " ");
	put_u64(o, cum);
	puts_(o, "\n");
}

int metrics_write(struct metrics *m, size_t max, char **out, size_t *len)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct out o = {.max = max};

	puts_(&o, ""); /* an empty registry is an empty, valid text */
	for (struct metric_family *f = atomic_load_explicit(&m->head, memory_order_acquire); f;
	     f = atomic_load_explicit(&f->next, memory_order_acquire)) {
		struct metric *s = atomic_load_explicit(&f->head, memory_order_acquire);
		if (!s)
			continue; /* a family without series says nothing */
		puts_(&o, "# HELP ");
		puts_(&o, f->name);
		puts_(&o, " ");
		put_escaped(&o, f->help, false);
		puts_(&o, "\n# TYPE ");
		puts_(&o, f->name);
		puts_(&o, " ");
		puts_(&o, type_names[f->type]);
		puts_(&o, "\n");
		for (; s; s = atomic_load_explicit(&s->next, memory_order_acquire)) {
			if (f->type == METRIC_HISTOGRAM) {
				write_histogram(&o, s);
				continue;
			}
			struct callback *cb = atomic_load_explicit(&s->cb, memory_order_acquire);
			put_series_name(&o, s, "", NULL);
			puts_(&o, " ");
			if (f->type == METRIC_COUNTER && !cb)
				put_u64(&o, atomic_load_explicit(&s->value, memory_order_relaxed));
			else
				put_double(&o, read_value(s));
			puts_(&o, "\n");
		}
	}
	if (o.err) {
		free(o.buf);
		return o.err;
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}
