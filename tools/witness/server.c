/* SPDX-License-Identifier: Apache-2.0 */
/* POST <prefix>/add-checkpoint over libmicrohttpd (server.h).
 *
 * Threads: a pool of HTTP threads (MHD_OPTION_THREAD_POOL_SIZE, one per CPU by default), each
 * polling many connections, with suspend/resume, rather than a thread per connection:
 *  - The work of a request is CPU (two Ed25519 operations, about 100 us) and then waiting for
 *    the committer's sync (about a millisecond). A thread per connection would block on the
 *    wait, so every connection waiting for a commit, or merely kept alive, or trickled by a
 *    slow client, would hold a thread and its stack: 1,024 connections, 1,024 threads. With
 *    the pool a request waiting for its commit is suspended (it costs its buffers, no thread),
 *    the committer resumes it, and the threads only ever compute: as many as there are CPUs
 *    keep them busy, whatever the number of connections.
 *  - What bounds a hostile client is then the connection limits (in total and per IP), the
 *    idle timeout, the body deadline and the body size, none of which depends on a thread.
 * A suspended connection is neither timed out nor checked for a hang-up by libmicrohttpd, which
 * is right here: the committer always resumes it within one batch.
 *
 * A request's life: the headers (404 for another path, 405 for another method, 413 for a
 * Content-Length over WITNESS_BODY_MAX), the body into a buffer of its own, then on the HTTP
 * thread witness_request_parse (400), the trust file (404), witness_request_verify (403);
 * then suspend, committer_submit; the committer decides, syncs and resumes; on the HTTP
 * thread again the cosignature (200) or the refusal (409, 422), logged. */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evident/invariant.h"
#include "log.h"
#include "metrics.h"

#define CT_TEXT       "text/plain; charset=utf-8"
#define CT_TLOG_SIZE  "text/x.tlog.size"
#define ENDPOINT      "/add-checkpoint"
#define BODY_INITIAL  4096
#define PEER_NAME_MAX (NI_MAXHOST + NI_MAXSERV + 4)

struct server {
	struct MHD_Daemon *mhd;
	const struct witness_trust *trust;
	const struct vault_signer *signer;
	struct committer *committer;
	char *path; /* prefix + ENDPOINT */
	unsigned body_timeout_s;
	/* Requests handed to the committer and not answered yet. */
	atomic_uint waiting;
};

/* One add-checkpoint request, from its headers to its completion (*con_cls). */
struct request {
	struct server *srv;
	struct MHD_Connection *conn;
	char peer[PEER_NAME_MAX];
	struct timespec started; /* the headers arrived */
	char *body;
	size_t len, cap;
	bool too_large;
	bool submitted; /* handed to the committer: the next call answers */
	bool answered;
	/* Written by the committer, then the store-release of decided, then the resume; read by
	 * the HTTP thread after a load-acquire of decided. */
	atomic_bool decided;
	struct witness_request req;
	struct commit_job job;
};

/* ------------------------------------------------------------------ metrics */

/* Requests answered, by HTTP status, and cosignatures (server_config.metrics). Set by
 * server_start before the HTTP threads exist and only read after: one server a process. */
static struct metric_family *requests_total;
static struct metric *cosignatures_total;

static void count_response(unsigned status)
{
	char code[8];
	const char *values[] = {code};

	if (!requests_total)
		return;
	snprintf(code, sizeof(code), "%u", status);
	metric_inc(metric_family_get(requests_total, values));
}

/* ------------------------------------------------------------------ responses */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *body, size_t len, bool allow_post)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
	    (allow_post &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		count_response(status);
	return ret;
}

static enum MHD_Result respond_str(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return respond(conn, status, CT_TEXT, text, strlen(text), false);
}

/* A plain-text answer "message\n", and the refusal's one log line at level. */
__attribute__((format(printf, 5, 6))) static enum MHD_Result refuse(struct MHD_Connection *conn,
                                                                    const char *peer, int level,
                                                                    unsigned status,
                                                                    const char *fmt, ...)
{
	char msg[WITNESS_ERR_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	log_printf(level, "refused %u from %s: %.*s", status, peer, n, msg);
	msg[n++] = '\n';
	return respond(conn, status, CT_TEXT, msg, (size_t)n, status == 405);
}

static void peer_name(struct MHD_Connection *conn, char out[PEER_NAME_MAX])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t len;

	snprintf(out, PEER_NAME_MAX, "?");
	if (!ci || !ci->client_addr)
		return;
	len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                             : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, host, sizeof(host), serv, sizeof(serv),
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(out, PEER_NAME_MAX,
		         ci->client_addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) * 1e-9;
}

/* ------------------------------------------------------------------ the decision's answer */

/* The committer thread: the decision is on disk (or failed). */
static void on_decided(struct commit_job *job)
{
	struct request *r = (struct request *)((char *)job - offsetof(struct request, job));

	atomic_store_explicit(&r->decided, true, memory_order_release);
	/* From here on r belongs to the HTTP thread again (and may be freed at once). */
	MHD_resume_connection(r->conn);
}

static enum MHD_Result answer_cosign(struct request *r)
{
	const struct witness_request *q = &r->req;
	char line[VAULT_SIGLINE_MAX + 1];
	int n = vault_signer_cosign(r->srv->signer, q->note, q->note_text_len, r->job.timestamp,
	                            line, sizeof(line));

	if (n < 0) {
		log_error("origin \"%s\": cosigning size %" PRIu64 " failed: %s", q->cp.origin,
		          q->cp.size, strerror(-n));
		return respond_str(r->conn, 500, "cosigning failed\n");
	}
	metric_inc(cosignatures_total);
	log_debug("cosigned %s: origin \"%s\", size %" PRIu64 " (old %" PRIu64 ")", r->peer,
	          q->cp.origin, q->cp.size, q->old_size);
	return respond(r->conn, 200, CT_TEXT, line, (size_t)n, false);
}

/* 409: the body is the latest cosigned size (c2sp.org/tlog-witness). */
static enum MHD_Result answer_size(struct request *r)
{
	char body[32];
	int n = snprintf(body, sizeof(body), "%" PRIu64 "\n", r->job.latest.size);

	return respond(r->conn, 409, CT_TLOG_SIZE, body, (size_t)n, false);
}

static void evidence_note(const struct commit_job *job, char *buf, size_t size)
{
	if (job->evidence_kept)
		snprintf(buf, size, "evidence #%" PRIu64 " kept", job->evidence_seq);
	else
		snprintf(buf, size,
		         "evidence not kept: the bound of %d records of this kind is "
		         "reached",
		         STATE_EVIDENCE_MAX);
}

static enum MHD_Result answer(struct request *r)
{
	const struct commit_job *job = &r->job;
	const struct witness_request *q = &r->req;
	const char *origin = q->cp.origin;
	char have[2 * VAULT_HASH_LEN + 1], got[2 * VAULT_HASH_LEN + 1], ev[96];

	r->answered = true;
	if (job->rc == -ESHUTDOWN)
		return refuse(r->conn, r->peer, LOG_NOTICE, 503, "the witness is stopping");
	if (job->rc < 0)
		return refuse(r->conn, r->peer, LOG_ERR, 500,
		              "origin \"%s\": the witness could not record its state: %s", origin,
		              strerror(-job->rc));
	evidence_note(job, ev, sizeof(ev));
	switch (job->verdict) {
	case WITNESS_COSIGN:
		return answer_cosign(r);
	case WITNESS_STALE:
		log_warning("refused 409 from %s: origin \"%s\": old size %" PRIu64
		            " is not the latest cosigned size %" PRIu64 " (checkpoint size %" PRIu64
		            ")",
		            r->peer, origin, q->old_size, job->latest.size, q->cp.size);
		return answer_size(r);
	case WITNESS_ROLLBACK:
		log_warning("refused 409 from %s: origin \"%s\": rollback: checkpoint size %" PRIu64
		            " is smaller than the latest cosigned size %" PRIu64
		            " (old size %" PRIu64 "); %s",
		            r->peer, origin, q->cp.size, job->latest.size, q->old_size, ev);
		return answer_size(r);
	case WITNESS_FORK:
		log_error("security event: refused 409 from %s: origin \"%s\": fork: checkpoint "
		          "size %" PRIu64 " with root %s, but the witness cosigned root %s at that "
		          "size (old size %" PRIu64 "); %s",
		          r->peer, origin, q->cp.size, vault_hex(q->cp.root, got),
		          vault_hex(job->latest.root, have), q->old_size, ev);
		return answer_size(r);
	case WITNESS_BAD_PROOF:
		log_error("security event: refused 422 from %s: origin \"%s\": the consistency "
		          "proof from the cosigned size %" PRIu64 " (root %s) to size %" PRIu64
		          " (root %s) does not verify (%zu hashes); %s",
		          r->peer, origin, q->old_size, vault_hex(job->latest.root, have),
		          q->cp.size, vault_hex(q->cp.root, got), q->proof_len, ev);
		return respond_str(r->conn, 422,
		                   "the consistency proof does not verify against the latest "
		                   "cosigned checkpoint\n");
	case _WITNESS_VERDICT_MAX:
		break;
	}
	INVARIANT(!"a verdict out of range");
	return MHD_NO;
}

/* ------------------------------------------------------------------ a whole body */

static enum MHD_Result process(struct request *r)
{
	struct server *srv = r->srv;
	const struct vault_pubkey *keys = NULL;
	char err[WITNESS_ERR_MAX];
	size_t n;
	int rc;

	if (r->too_large)
		return refuse(r->conn, r->peer, LOG_WARNING, 413, "body over %d bytes",
		              WITNESS_BODY_MAX);
	rc = witness_request_parse(r->body, r->len, &r->req, err, sizeof(err));
	if (rc < 0)
		return refuse(r->conn, r->peer, LOG_WARNING, rc == -EMSGSIZE ? 413 : 400, "%s",
		              err);
	n = witness_trust_find(srv->trust, r->req.cp.origin, &keys);
	if (n == 0)
		return refuse(r->conn, r->peer, LOG_WARNING, 404,
		              "origin \"%s\" (size %" PRIu64 ", old size %" PRIu64
		              "): not a log this witness trusts",
		              r->req.cp.origin, r->req.cp.size, r->req.old_size);
	rc = witness_request_verify(&r->req, keys, n, err, sizeof(err));
	if (rc == -ENOKEY || rc == -EKEYREJECTED)
		return refuse(r->conn, r->peer, LOG_WARNING, 403, "%s (size %" PRIu64 ")", err,
		              r->req.cp.size);
	if (rc < 0)
		return refuse(r->conn, r->peer, LOG_ERR, 500, "%s", err);

	r->job = (struct commit_job){
	    .req = &r->req,
	    .body = r->body,
	    .body_len = r->len,
	    .done = on_decided,
	};
	r->submitted = true;
	atomic_fetch_add(&srv->waiting, 1);
	/* Suspended before it is queued: the committer may resume it at once. */
	MHD_suspend_connection(r->conn);
	rc = committer_submit(srv->committer, &r->job);
	if (rc < 0) {
		r->job.rc = rc;
		atomic_store_explicit(&r->decided, true, memory_order_release);
		MHD_resume_connection(r->conn);
	}
	return MHD_YES;
}

/* ------------------------------------------------------------------ libmicrohttpd's calls */

static enum MHD_Result start_request(struct server *srv, struct MHD_Connection *conn,
                                     const char *url, const char *method, void **con_cls)
{
	const char *clen =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char peer[PEER_NAME_MAX];
	struct request *r;

	if (strcmp(url, srv->path) != 0 || strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		bool ours = strcmp(url, srv->path) == 0;
		peer_name(conn, peer);
		if (!ours)
			return refuse(conn, peer, LOG_WARNING, 404, "no such resource (POST %s)",
			              srv->path);
		return refuse(conn, peer, LOG_WARNING, 405, "%s: only POST", srv->path);
	}
	if (clen && strtoull(clen, NULL, 10) > WITNESS_BODY_MAX) {
		peer_name(conn, peer);
		return refuse(conn, peer, LOG_WARNING, 413, "Content-Length %s: over %d bytes",
		              clen, WITNESS_BODY_MAX);
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return MHD_NO;
	r->srv = srv;
	r->conn = conn;
	peer_name(conn, r->peer);
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	atomic_init(&r->decided, false);
	*con_cls = r;
	return MHD_YES;
}

static enum MHD_Result add_body(struct request *r, const char *data, size_t len)
{
	if (elapsed_s(&r->started) > r->srv->body_timeout_s) {
		log_warning("closed %s: the body did not arrive within %u s", r->peer,
		            r->srv->body_timeout_s);
		return MHD_NO;
	}
	if (r->too_large || len > WITNESS_BODY_MAX - r->len) {
		r->too_large = true; /* read to the end (within the deadline), then 413 */
		return MHD_YES;
	}
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : BODY_INITIAL;
		char *grown;
		while (cap < r->len + len)
			cap *= 2;
		if (cap > WITNESS_BODY_MAX)
			cap = WITNESS_BODY_MAX;
		grown = realloc(r->body, cap);
		if (!grown)
			return MHD_NO;
		r->body = grown;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct request *r = *con_cls;
	size_t len = *upload_data_size;

	(void)version;
	if (!r)
		return start_request(cls, conn, url, method, con_cls);
	if (r->submitted) {
		/* Called again only once resumed, which happens only after the decision. */
		INVARIANT(atomic_load_explicit(&r->decided, memory_order_acquire));
		atomic_fetch_sub(&r->srv->waiting, 1);
		return answer(r);
	}
	if (len > 0) {
		*upload_data_size = 0;
		return add_body(r, upload_data, len);
	}
	return process(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	/* Handed back, but the connection ended before the answer (the client hung up). */
	if (r->submitted && !r->answered)
		atomic_fetch_sub(&r->srv->waiting, 1);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_notice("libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ starting and stopping */

int server_start(const struct server_config *cfg, const struct witness_trust *trust,
                 const struct vault_signer *signer, struct committer *committer,
                 struct server **ret)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->trust = trust;
	s->signer = signer;
	s->committer = committer;
	s->body_timeout_s = cfg->body_timeout_s;
	atomic_init(&s->waiting, 0);
	if (asprintf(&s->path, "%s" ENDPOINT, cfg->prefix) < 0) {
		free(s);
		return -ENOMEM;
	}
	if (cfg->metrics) {
		const char *labels[] = {"code", NULL};
		requests_total =
		    metrics_family(cfg->metrics, METRIC_COUNTER, "evident_witness_requests_total",
		                   "Requests answered, by HTTP status code.", labels, NULL, 0);
		cosignatures_total =
		    metrics_counter(cfg->metrics, "evident_witness_cosignatures_total",
		                    "Checkpoints cosigned (200 answers with a cosignature).");
	}
	s->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
	        MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, s,
	    /* the logger first, so that libmicrohttpd never writes to stderr itself */
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
	    (MHD_socket)cfg->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    cfg->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->mhd) {
		free(s->path);
		free(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

void server_quiesce(struct server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->mhd);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void server_stop(struct server *s, unsigned timeout_ms)
{
	struct timespec tick = {0, 1000000};

	if (!s)
		return;
	for (unsigned i = 0; i < timeout_ms && atomic_load(&s->waiting) > 0; i++)
		nanosleep(&tick, NULL);
	if (atomic_load(&s->waiting) > 0)
		log_warning("stopping with %u answers not sent (their decisions are on disk)",
		            atomic_load(&s->waiting));
	MHD_stop_daemon(s->mhd);
	free(s->path);
	free(s);
}
