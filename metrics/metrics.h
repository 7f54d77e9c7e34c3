/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics library: counters, gauges and histograms that any thread updates without a lock,
 * written in the Prometheus text exposition format (version 0.0.4) and served over HTTP
 * (GET /metrics) by a libmicrohttpd thread of its own. Used by evidentd, evident-witness and
 * evident-auditor. The library never logs and never exits.
 *
 * Model: a registry (struct metrics) holds families; a family has a name, a help text, a type
 * and a fixed list of label names (0..METRICS_LABELS_MAX); each series of a family (struct
 * metric) is one tuple of label values. Families and series are created at any time (a
 * mutex serialises creators) and are never removed until metrics_free: a struct metric
 * pointer stays valid for the life of the registry, so hot paths look a series up once and
 * keep the pointer. Updates are relaxed C11 atomics: metric_inc, metric_add, metric_set,
 * metric_observe never block, never allocate and never take a lock; a scrape (metrics_write)
 * reads the values atomically and does not stop an update. Every update function accepts
 * NULL and then does nothing, so code runs the same with metrics off.
 *
 * Histograms have fixed upper bounds given at creation; observe is one atomic add to the
 * bucket found by binary search plus an atomic add to the sum. A scrape sees each bucket
 * count exactly; the sum may include an observation whose bucket it has not seen yet (the
 * usual Prometheus client trade-off). _count is the sum of the bucket counts, so _count and
 * the +Inf bucket are always equal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_LABELS_MAX  4
#define METRICS_BUCKETS_MAX 32
/* Series a family may hold (metric_family_get answers NULL beyond: an update to a label value
 * that was never expected is dropped, never a growing response). */
#define METRICS_SERIES_MAX  1024

enum metric_type {
	METRIC_COUNTER,   /* only goes up; a name ending in _total */
	METRIC_GAUGE,     /* set to any value */
	METRIC_HISTOGRAM, /* observations in buckets with their sum and count */
};

struct metrics;
struct metric_family;
struct metric;

/* A new, empty registry. Returns it, or NULL when out of memory. The caller frees it with
 * metrics_free once no thread updates or serves it. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, labels (NULL-terminated, may be NULL
 * for none) [a-zA-Z_][a-zA-Z0-9_]* and not start with "__" nor be "le"; help is any text
 * (escaped on output). bounds (histograms only: n_bounds finite, strictly increasing upper
 * bounds, 1..METRICS_BUCKETS_MAX; the +Inf bucket is implicit). Strings are copied. Asking
 * again for a name already registered with the same type and labels returns the same family.
 * Returns the family, or NULL with errno: EINVAL (a bad name, label or bounds; another type
 * or label set under that name), ENOMEM. */
struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *const *labels,
                                     const double *bounds, size_t n_bounds);
/* The series of f with these label values (as many as f has labels; any UTF-8, escaped on
 * output; NULL for a family without labels), created on first use. Lock-free when it exists.
 * Returns it, or NULL with errno ENOMEM, EINVAL (a NULL value), ENOSPC (METRICS_SERIES_MAX). */
struct metric *metric_family_get(struct metric_family *f, const char *const *values);

/* The series label=value of the counter or gauge family name with that one label (created
 * with help on first use). Returns it, or NULL with errno as metrics_family and
 * metric_family_get. */
struct metric *metrics_labelled(struct metrics *m, enum metric_type type, const char *name,
                                const char *help, const char *label, const char *value);

/* Shortcuts for a family without labels and its one series (NULL with errno as above). */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help);
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const double *bounds, size_t n_bounds);

/* A series whose value is computed when scraped: fn(data) runs on the scraping thread, so it
 * must only read what that thread may read (atomics, the process's own /proc files). For
 * counters and gauges; the value replaces the stored one. Returns 0 or -EINVAL. */
int metric_set_callback(struct metric *s, double (*fn)(void *data), void *data);

/* Updates (any thread; s may be NULL). metric_inc and metric_add on counters and gauges
 * (a gauge may be given a negative delta through metric_gauge_add); metric_set on gauges;
 * metric_observe on histograms. Using the wrong kind is a programming error (INVARIANT). */
void metric_inc(struct metric *s);
void metric_add(struct metric *s, uint64_t n);
void metric_gauge_add(struct metric *s, double delta);
void metric_set(struct metric *s, double v);
void metric_observe(struct metric *s, double v);
/* The current value of a counter or gauge (0 for NULL), for tests and status lines. */
double metric_value(const struct metric *s);
/* A histogram's count of observations and their sum (0 for NULL). */
uint64_t metric_hist_count(const struct metric *s, double *sum);

/* Buckets: n upper bounds start, start*factor, ... (n <= METRICS_BUCKETS_MAX). */
void metrics_exponential_buckets(double start, double factor, size_t n, double *out);

/* process_start_time_seconds, process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds and process_max_fds (the Prometheus client conventions), read from
 * getrusage and /proc when scraped. Returns 0 or -ENOMEM. */
int metrics_add_process(struct metrics *m);

/* NAME (e.g. "evident_witness_build_info"), a gauge of value 1 with the label version=VERSION
 * (the Prometheus convention for a program's version). Returns 0, -EINVAL (a bad name) or
 * -ENOMEM. */
int metrics_add_build_info(struct metrics *m, const char *name, const char *version);

/* Writes the registry in the text exposition format 0.0.4 (families in the order they were
 * registered; # HELP and # TYPE lines; label values and help escaped; histograms as
 * _bucket{le=...} cumulative, _sum, _count) into a new buffer of at most max bytes.
 * Returns 0 with *out (malloc'd, NUL-terminated; the caller frees it) and *len, or -ENOMEM,
 * or -E2BIG when the text would exceed max (nothing returned). Any thread, any time. */
int metrics_write(struct metrics *m, size_t max, char **out, size_t *len);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ------------------------------------------------------------------ the HTTP server */

struct metrics_server;

struct metrics_server_options {
	unsigned max_connections; /* in total (default 16) */
	unsigned timeout_s;       /* a connection idle this long is closed (default 10) */
	size_t max_response;      /* bytes; a bigger exposition is a 500 (default 4 MiB) */
};

/* Parses "ADDR:PORT": an IPv4 address, "[IPv6]" or a host name, and a port 1..65535.
 * Resolves it (getaddrinfo; may block) into *sa / *salen (sa is a struct sockaddr_storage);
 * with sa NULL checks the syntax only, without resolving (a config parser: no DNS lookup at
 * load or at a reload; metrics_server_start resolves and says when a name does not).
 * Returns 0, or -EINVAL with err saying what is wrong ("no port", "port 0 is not 1..65535",
 * "host \"x\" does not resolve: ..."). */
int metrics_parse_listen(const char *text, void *sa, unsigned *salen, char *err, size_t err_size);

/* Binds and listens on listen ("ADDR:PORT", as metrics_parse_listen) and serves GET /metrics
 * (and HEAD) with metrics_write of m on a thread of its own; another path is 404, another
 * method 405 with Allow: GET, HEAD. Returns 0 and *ret, or a negative errno with err naming
 * the problem (-EINVAL: the address; -EADDRINUSE: "ADDR:PORT is in use"; -EACCES; ...).
 * m must outlive the server. */
int metrics_server_start(struct metrics *m, const char *listen,
                         const struct metrics_server_options *opt, struct metrics_server **ret,
                         char *err, size_t err_size);
/* The address served, as "ADDR:PORT" with the numeric address (for logs). */
const char *metrics_server_address(const struct metrics_server *s);
/* Stops serving (connections in flight are closed), joins the thread, frees s (NULL: no-op).
 * A scrape running meanwhile either completes or sees its connection closed. */
void metrics_server_stop(struct metrics_server *s);
