/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd's lifecycle: open the vault, record the start, listen (own socket or systemd's),
 * serve, reload on SIGHUP, drain on SIGTERM (everything read is committed and acknowledged),
 * record the stop, sign a final checkpoint. */
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "entry.pb-c.h"
#include "entry_key.h"
#include "evident_version.h"
#include "forward.h"
#include "guards.h"
#include "holds.h"
#include "ingest.h"
#include "log.h"
#include "notify.h"
#include "realtime.h"
#include "registration.h"
#include "retention.h"
#include "session.h"
#include "triggers.h"

#define LISTEN_BACKLOG 512

/* ------------------------------------------------------------------ lifecycle entries */

static int lifecycle_payload(const struct daemon *d, Evident__Entry__V1__LifecycleEntry__Event ev,
                             const char *detail, uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__LifecycleEntry le = EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__INIT;
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	le.has_event = le.has_pid = true;
	le.event = ev;
	le.daemon_version = (char *)EVIDENT_VERSION;
	le.pid = (uint32_t)getpid();
	le.hostname = host;
	le.detail = (char *)detail;
	if (d->cfg.path) {
		le.has_config_sha256 = true;
		le.config_sha256.data = (uint8_t *)d->cfg.sha256;
		le.config_sha256.len = 32;
	}
	return dispatch_pack(&le.base, ret, ret_len);
}

static int config_payload(const struct config *c, uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__ConfigEntry ce = EVIDENT__ENTRY__V1__CONFIG_ENTRY__INIT;

	ce.has_sha256 = true;
	ce.sha256.data = (uint8_t *)c->sha256;
	ce.sha256.len = 32;
	ce.path = c->path;
	ce.text = c->text;
	return dispatch_pack(&ce.base, ret, ret_len);
}

/* A job appending a lifecycle entry and, with a config file, the config text. */
struct life_job {
	struct job job;
	struct vault_entry_in in[2];
	struct vault_append_result res[2];
	uint8_t *payloads[2];
	bool checkpoint; /* then sign a checkpoint (the final job) */
	struct daemon *d;
};

static int life_fill(struct life_job *lj, Evident__Entry__V1__LifecycleEntry__Event ev,
                     const char *detail, bool with_config)
{
	size_t len;

	if (lifecycle_payload(lj->d, ev, detail, &lj->payloads[0], &len) < 0)
		return -ENOMEM;
	/* the daemon's own record of its life may use the disk reserve (vault.h) */
	lj->in[0] = (struct vault_entry_in){.type = VAULT_ENTRY_LIFECYCLE,
	                                    .payload = lj->payloads[0],
	                                    .payload_len = len,
	                                    .reserved = true};
	lj->job.n = 1;
	if (with_config && lj->d->cfg.path) {
		if (config_payload(&lj->d->cfg, &lj->payloads[1], &len) < 0)
			return -ENOMEM;
		lj->in[1] = (struct vault_entry_in){.type = VAULT_ENTRY_CONFIG,
		                                    .payload = lj->payloads[1],
		                                    .payload_len = len,
		                                    .reserved = true};
		lj->job.n = 2;
	}
	lj->job.in = lj->in;
	lj->job.res = lj->res;
	return 0;
}

static void life_free(struct life_job *lj)
{
	free(lj->payloads[0]);
	free(lj->payloads[1]);
	free(lj);
}

static void life_done(struct job *j)
{
	struct life_job *lj = (struct life_job *)j;

	if (j->rc < 0)
		log_error("recording a lifecycle entry failed: %s", strerror(-j->rc));
	life_free(lj);
}

static void submit_lifecycle(struct daemon *d, Evident__Entry__V1__LifecycleEntry__Event ev,
                             const char *detail, bool with_config)
{
	struct life_job *lj = calloc(1, sizeof(*lj));

	if (!lj)
		return;
	lj->d = d;
	if (life_fill(lj, ev, detail, with_config) < 0) {
		life_free(lj);
		log_error("recording a lifecycle entry: out of memory");
		return;
	}
	lj->job.done = life_done;
	writer_submit(&d->writer, &lj->job);
}

/* ------------------------------------------------------------------ checkpoints */

/* What the writer needs from the configuration (writer.h). */
static struct writer_policy writer_policy_of(const struct daemon *d)
{
	const struct config *c = &d->cfg;

	return (struct writer_policy){.commit_entries = d->ex.commit_entries,
	                              .commit_seconds = d->ex.commit_seconds,
	                              .max_batch = c->max_batch,
	                              .commit_window_us = c->commit_window_us,
	                              .sign_after_entries = c->checkpoint_max_unsigned,
	                              .sign_after_ms = c->checkpoint_max_unsigned_ms,
	                              .sign_interval_s = c->checkpoint_interval_s};
}

/* At start, before anything is served: sign whatever the last run left unsigned (a crash
 * leaves up to one unsigned tail). Returns the signed tree size. */
static uint64_t sign_at_start(struct daemon *d)
{
	struct vault_info info;
	int rc = vault_checkpoint_sign(d->vault, NULL);

	if (rc == 0)
		return vault_size(d->vault);
	log_error("vault \"%s\": signing a checkpoint at start failed: %s%s", d->cfg.vault_dir,
	          strerror(-rc),
	          rc == -EUCLEAN ? " (the vault does not extend its last checkpoint: run "
	                           "evidentctl verify)"
	                         : "; the writer retries");
	return vault_info(d->vault, &info) == 0 && info.has_checkpoint ? info.checkpoint_size : 0;
}

/* ------------------------------------------------------------------ publishing */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A witness changed state (publish.h): a notice entry, from the loop thread. */
static void on_publish_notice(void *data, const char *kind, const char *detail)
{
	struct daemon *d = data;
	Evident__Entry__V1__NoticeEntry n = EVIDENT__ENTRY__V1__NOTICE_ENTRY__INIT;
	uint8_t *buf;
	size_t len;

	if (d->final_submitted)
		return; /* after the stop entry: logged by the publisher, nothing more to record */
	n.kind = (char *)kind;
	n.detail = (char *)detail;
	if (dispatch_pack(&n.base, &buf, &len) < 0) {
		log_error("recording a %s notice: out of memory", kind);
		return;
	}
	writer_append(&d->writer, VAULT_ENTRY_NOTICE, buf, len, true, NULL, NULL);
}

/* The writer signed a checkpoint (writer thread). */
static void on_signed(void *data, uint64_t size)
{
	struct daemon *d = data;
	metric_set(d->ex.checkpoint_entries, (double)size);
	metric_inc(d->ex.checkpoints);
	publish_signed(d->publisher, size);
	forward_committed(d->forwarder, size);
}

/* The writer committed a batch (writer thread): the forwarder may publish it now. */
static void on_committed(void *data, uint64_t size)
{
	struct daemon *d = data;
	forward_committed(d->forwarder, size);
}

static bool same_forward(const struct config_forward *a, const struct config_forward *b)
{
	const char *sa[] = {a->nats_url,       a->stream,   a->subject_prefix, a->creds_file,
	                    a->user,           a->password, a->token,          a->nkey,
	                    a->nkey_seed_file, a->tls_ca,   a->tls_cert,       a->tls_key,
	                    a->tls_hostname};
	const char *sb[] = {b->nats_url,       b->stream,   b->subject_prefix, b->creds_file,
	                    b->user,           b->password, b->token,          b->nkey,
	                    b->nkey_seed_file, b->tls_ca,   b->tls_cert,       b->tls_key,
	                    b->tls_hostname};

	for (size_t i = 0; i < sizeof(sa) / sizeof(sa[0]); i++)
		if (!same_str(sa[i], sb[i]))
			return false;
	return a->max_pending == b->max_pending && a->stop_wait_ms == b->stop_wait_ms &&
	       a->max_age_s == b->max_age_s && a->max_bytes == b->max_bytes &&
	       a->replicas == b->replicas && a->duplicate_window_s == b->duplicate_window_s;
}

static bool same_witnesses(const struct config *a, const struct config *b)
{
	if (a->n_witnesses != b->n_witnesses || a->witness_quorum != b->witness_quorum ||
	    !same_str(a->tiles_dir, b->tiles_dir))
		return false;
	for (size_t i = 0; i < a->n_witnesses; i++)
		if (strcmp(a->witnesses[i].name, b->witnesses[i].name) ||
		    !same_str(a->witnesses[i].url, b->witnesses[i].url) ||
		    a->witnesses[i].nats != b->witnesses[i].nats ||
		    strcmp(a->witnesses[i].vkey, b->witnesses[i].vkey) ||
		    a->witnesses[i].timeout_ms != b->witnesses[i].timeout_ms)
			return false;
	return true;
}

/* ------------------------------------------------------------------ watchdog and status */

static void on_watchdog_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	char status[256];
	uint64_t busy = writer_busy_ns(&d->writer);

	/* A writer stuck in one commit for half the watchdog interval is a hung daemon: stop
	 * pinging and let systemd restart it. */
	if (busy > d->watchdog_usec * 1000 / 2) {
		log_warning("writer busy for %" PRIu64 " ms, not pinging the watchdog",
		            busy / 1000000);
		return;
	}
	snprintf(status, sizeof(status),
	         "WATCHDOG=1\nSTATUS=%zu connections, %" PRIu64 " records, %" PRIu64
	         " commits, %" PRIu64 " KiB queued",
	         d->n_sessions, d->stats.records, (uint64_t)atomic_load(&d->writer.commits),
	         d->queued_bytes / 1024);
	notify_send(status);
}

/* ------------------------------------------------------------------ drain and stop */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

#define DRAIN_WRITE_MS      10000
/* entries read back at start to refill the reservoirs of recent records (audit backgrounds) */
#define RESERVOIR_SEED_SCAN 100000

/* Peers that do not read their last replies do not hold the stop up for ever. */
static void on_drain_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->closing)
		log_warning("closing connections whose clients did not read their last replies");
	for (struct session *s = d->closing; s; s = s->next)
		session_force_close(s);
	close_handle((uv_handle_t *)t);
}

static void final_done(struct job *j)
{
	struct life_job *lj = (struct life_job *)j;
	struct daemon *d = lj->d;

	if (j->rc == -ENOSPC) {
		/* Nothing acknowledged is at risk: the records refused with VAULT_FULL are still
		 * held by their clients, which resend them to the next start. */
		log_warning("stopping with the vault full: the stop entry and its checkpoint were "
		            "not written; %" PRIu64
		            " record(s) were refused with VAULT_FULL in this "
		            "run and wait in their clients for a start with room",
		            d->stats.vault_full);
	} else if (j->rc < 0) {
		log_error("final lifecycle entry or checkpoint failed: %s", strerror(-j->rc));
		d->exit_code = 1;
	}
	life_free(lj);
	publish_detach(d->publisher); /* the stop entry is written: nothing more to record */
	/* everything is acknowledged: close connections once their replies are written */
	while (d->sessions)
		session_close(d->sessions);
	close_handle((uv_handle_t *)&d->sig_term);
	close_handle((uv_handle_t *)&d->sig_int);
	close_handle((uv_handle_t *)&d->sig_hup);
	close_handle((uv_handle_t *)&d->watchdog_timer);
	exporter_stop_timer(d);
	session_limits_stop(d);
	registration_timer_stop(d);
	writer_stop(&d->writer);
	workers_stop(&d->workers);
	if (d->closing)
		uv_timer_start(&d->drain_timer, on_drain_timer, DRAIN_WRITE_MS, 0);
	else
		close_handle((uv_handle_t *)&d->drain_timer);
}

/* A connection's handle is closed (struct session_ops). */
static void on_session_closed(struct daemon *d)
{
	/* the last connection of a finished drain is gone: the timer is not needed */
	if (d->final_submitted && !d->closing && !d->sessions)
		close_handle((uv_handle_t *)&d->drain_timer);
}

static void run_final(struct job *j, struct vault *v)
{
	struct life_job *lj = (struct life_job *)j;

	j->rc = vault_append(v, lj->in, lj->job.n, lj->res);
	if (j->rc == 0)
		j->rc = vault_checkpoint_sign(v, NULL);
	if (j->rc == 0)
		publish_signed(lj->d->publisher, vault_size(v));
}

/* Once draining and nothing is left to write, audit or answer: the stop entry and the final
 * checkpoint, in one writer step. */
static void maybe_finish_drain(struct daemon *d)
{
	struct life_job *lj;

	if (!d->draining || d->final_submitted || !writer_idle(&d->writer) ||
	    !workers_idle(&d->workers) || !verdict_idle(&d->verdicts))
		return;
	d->final_submitted = true;
	lj = calloc(1, sizeof(*lj));
	if (!lj || (lj->d = d, life_fill(lj, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__STOP,
	                                 "SIGTERM: drained", false)) < 0) {
		log_error("stop: out of memory");
		if (lj)
			life_free(lj);
		d->exit_code = 1;
		return;
	}
	/* appended and checkpointed in one writer step: the entries are run(), not batched */
	lj->job.run = run_final;
	lj->job.done = final_done;
	writer_submit(&d->writer, &lj->job);
}

void daemon_drain(struct daemon *d, const char *why)
{
	if (d->draining)
		return;
	log_notice("%s: draining (every record received is committed and acknowledged)", why);
	notify_send("STOPPING=1\nSTATUS=draining");
	d->draining = true;
	retention_stop(d); /* a batch in flight finishes; an erasure in flight runs to its end */
	if (d->listening)
		close_handle((uv_handle_t *)&d->listener);
	d->listening = false;
	for (struct session *s = d->sessions; s; s = s->next)
		session_stop_reading(s);
	/* queued and running audits finish and are recorded before the stop entry (they are
	 * evidence; each is bounded by its methods' budgets) */
	maybe_finish_drain(d);
}

static void on_stop_signal(uv_signal_t *h, int sig)
{
	daemon_drain(h->data, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ------------------------------------------------------------------ reload */

/* A socket systemd passed (SocketMode= of evidentd.socket) is held to the rule config_load
 * applies to socket_mode: world-writable needs an allow list or allow_anyone = yes. An
 * abstract socket counts as world-writable (anyone may name it). */
static bool activated_socket_exposed(struct daemon *d, const struct config *c, char *err,
                                     size_t err_size)
{
	struct sockaddr_un sa = {0};
	socklen_t len = sizeof(sa) - 1; /* keeps a NUL after the path */
	struct stat st;
	uv_os_fd_t fd;
	mode_t mode = 0777;

	if (!d->socket_activated || uv_fileno((uv_handle_t *)&d->listener, &fd) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX)
		return false;
	bool named = len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0];
	if (named) {
		if (stat(sa.sun_path, &st) < 0)
			return false;
		mode = st.st_mode & 0777;
	}
	if (!config_socket_exposed(c, mode))
		return false;
	snprintf(err, err_size,
	         "the socket from systemd (%s, mode %04o; SocketMode= of its unit): %s",
	         named ? sa.sun_path : "abstract", (unsigned)mode, CONFIG_EXPOSED_MSG);
	return true;
}

static void apply_overrides(struct daemon *d, struct config *c)
{
	int level = d->log_level_arg ? log_level_from_name(d->log_level_arg) : -1;

	if (level >= 0)
		c->log_level = level;
	if (d->vault_arg) {
		free(c->vault_dir);
		c->vault_dir = strdup(d->vault_arg);
	}
	if (d->socket_arg) {
		free(c->socket_path);
		c->socket_path = strdup(d->socket_arg);
	}
}

/* The guards in force, logged; those that cannot bind to a registered version are logged
 * and recorded (after the config entry that deployed them). */
static void log_guards(struct daemon *d)
{
	const struct registry *r = &d->models;

	for (size_t i = 0; i < d->cfg.n_guards; i++) {
		const struct config_guard *g = &d->cfg.guards[i];
		log_info("guard %s in force: %s (%s%s%s): %s", g->name,
		         config_guard_action_name(g->action), g->model ? "model " : "every model",
		         g->model ? g->model : "", g->audit ? ", audited" : "", g->when);
	}
	for (size_t b = 0; d->guards && b < r->n_buckets; b++)
		for (const struct model_info *mi = r->buckets[b]; mi; mi = mi->next)
			registration_report_guards(d, mi);
}

static void on_hup(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;
	struct config nc;
	char err[600];
	int rc;

	(void)sig;
	if (d->draining)
		return;
	notify_send("RELOADING=1");
	rc = config_load(d->config_arg, &nc, err, sizeof(err));
	if (rc < 0) {
		log_error("reload rejected: %s; the running configuration stays in effect", err);
		submit_lifecycle(d, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__RELOAD_REJECTED,
		                 err, false);
		notify_send("READY=1\nSTATUS=reload rejected");
		return;
	}
	if (activated_socket_exposed(d, &nc, err, sizeof(err))) {
		log_error("reload rejected: %s; the running configuration stays in effect", err);
		submit_lifecycle(d, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__RELOAD_REJECTED,
		                 err, false);
		config_deinit(&nc);
		notify_send("READY=1\nSTATUS=reload rejected");
		return;
	}
	if (guards_check(&nc, &d->models, err, sizeof(err)) < 0) {
		log_error("reload rejected: %s; the running configuration stays in effect", err);
		submit_lifecycle(d, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__RELOAD_REJECTED,
		                 err, false);
		config_deinit(&nc);
		notify_send("READY=1\nSTATUS=reload rejected");
		return;
	}
	apply_overrides(d, &nc);
	if (!same_str(nc.vault_dir, d->cfg.vault_dir) ||
	    !same_str(nc.socket_path, d->cfg.socket_path) ||
	    !same_str(nc.signing_key, d->cfg.signing_key) || !same_str(nc.origin, d->cfg.origin))
		log_warning("reload: vault, socket, signing_key and origin changes take effect at "
		            "the next start");
	if (!same_str(nc.metrics_listen, d->cfg.metrics_listen))
		log_warning("reload: [metrics] listen takes effect at the next start");
	if (!same_witnesses(&nc, &d->cfg))
		log_warning(
		    "reload: [witness] sections, witness_quorum and tiles_dir take effect at "
		    "the next start");
	if (!same_forward(&nc.forward, &d->cfg.forward))
		log_warning("reload: [forward] changes take effect at the next start");
	/* keep what only a restart may change */
	free(nc.vault_dir);
	nc.vault_dir = d->cfg.vault_dir;
	d->cfg.vault_dir = NULL;
	free(nc.socket_path);
	nc.socket_path = d->cfg.socket_path;
	d->cfg.socket_path = NULL;
	nc.max_frame = d->cfg.max_frame; /* sessions hold readers sized for it */
	struct trigger_state *nt;
	size_t n_nt;
	struct guards *ng = NULL;
	if (triggers_new(&nc, &nt, &n_nt) < 0 || guards_new(&nc, &ng) < 0) {
		if (n_nt)
			triggers_free(nt, n_nt);
		log_error("reload rejected: out of memory for the triggers and guards");
		config_deinit(&nc);
		notify_send("READY=1\nSTATUS=reload rejected");
		return;
	}
	/* records in flight carry their firings as packed bytes and their guards' verdicts as
	 * copies: nothing points into the old rules. Rate buckets start full under the new
	 * rules. */
	triggers_free(d->triggers, d->n_triggers);
	d->triggers = nt;
	d->n_triggers = n_nt;
	guards_free(d->guards);
	d->guards = ng;
	config_deinit(&d->cfg);
	d->cfg = nc;
	log_set_level(d->cfg.log_level);
	session_limits_reconfigure(d);
	registration_timer_reconfigure(d);
	struct writer_policy wp = writer_policy_of(d);
	writer_configure(&d->writer, &wp); /* handed over under the writer's lock */
	retention_reconfigure(d);
	submit_lifecycle(d, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__RELOAD, d->cfg.path, true);
	log_guards(d);
	log_notice("configuration reloaded from %s", d->cfg.path ? d->cfg.path : "defaults");
	notify_send("READY=1\nSTATUS=configuration reloaded");
}

/* ------------------------------------------------------------------ listening */

static void on_connection(uv_stream_t *listener, int status)
{
	struct daemon *d = listener->data;

	if (status < 0) {
		log_warning("accept: %s, ignoring", uv_strerror(status));
		return;
	}
	session_accept(d, listener);
}

static int activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (!pid || !fds || strtol(pid, NULL, 10) != getpid())
		return -1;
	if (strtol(fds, NULL, 10) < 1)
		return -1;
	/* consume them: children (oracles) must not see these */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3; /* SD_LISTEN_FDS_START */
}

static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A socket file left by a daemon that died: remove it unless something still listens. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	return unlink(path) < 0 ? -errno : 0;
}

static int start_listening(struct daemon *d)
{
	int rc, fd = activated_fd();

	rc = uv_pipe_init(d->loop, &d->listener, 0);
	if (rc < 0)
		return rc;
	d->listener.data = d;
	if (fd >= 0) {
		rc = uv_pipe_open(&d->listener, fd);
		if (rc < 0) {
			log_error("socket activation: cannot use fd 3: %s", uv_strerror(rc));
			return rc;
		}
		d->socket_activated = true;
	} else {
		const char *path = d->cfg.socket_path;
		if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			log_error("socket path \"%s\" is too long for a Unix socket", path);
			return -ENAMETOOLONG;
		}
		if ((rc = make_parent(path)) < 0 || (rc = clear_stale(path)) < 0) {
			log_error("socket \"%s\": %s", path,
			          rc == -EADDRINUSE ? "another daemon is listening there"
			          : rc == -EEXIST   ? "exists and is not a socket"
			                            : strerror(-rc));
			return rc;
		}
		/* bind under a tight umask, then open up to socket_mode: never world-writable
		 * in between (uv_pipe_chmod would open it to everyone) */
		mode_t old = umask(0177);
		rc = uv_pipe_bind(&d->listener, path);
		umask(old);
		if (rc < 0) {
			log_error("socket \"%s\": bind: %s", path, uv_strerror(rc));
			return rc;
		}
		d->unlink_socket = true;
		if (chmod(path, d->cfg.socket_mode) < 0 ||
		    (d->cfg.has_socket_gid && chown(path, (uid_t)-1, d->cfg.socket_gid) < 0)) {
			rc = -errno;
			log_error("socket \"%s\": setting mode/group: %s", path, strerror(errno));
			return rc;
		}
	}
	rc = uv_listen((uv_stream_t *)&d->listener, LISTEN_BACKLOG, on_connection);
	if (rc < 0) {
		log_error("listen: %s", uv_strerror(rc));
		return rc;
	}
	d->listening = true;
	return 0;
}

/* ------------------------------------------------------------------ start */

static const char *open_error(int rc)
{
	switch (rc) {
	case -EBUSY:
		return "another evidentd is writing to this vault";
	case -EPERM:
		return "the signing key is readable by others (chmod 600 it)";
	case -EKEYREJECTED:
		return "the signing key is not this vault's key";
	case -EBADMSG:
		return "not an evidentd vault, unknown format version, or malformed key";
	default:
		return strerror(-rc);
	}
}

static int open_vault(struct daemon *d)
{
	struct vault_options o = {.key_path = d->cfg.signing_key,
	                          .origin = d->cfg.origin,
	                          .map_size = d->cfg.map_size,
	                          .map_max = d->cfg.map_max,
	                          .disk_reserve = d->cfg.disk_reserve,
	                          .model_key = entry_model_key_fn};
	struct vault_info info;
	size_t bad = 0;
	int rc;

	rc = vault_open(d->cfg.vault_dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &o, &d->vault);
	if (rc < 0) {
		log_error("vault \"%s\": %s", d->cfg.vault_dir, open_error(rc));
		return rc;
	}
	rc = vault_info(d->vault, &info);
	if (rc < 0)
		return rc;
	snprintf(d->origin, sizeof(d->origin), "%s", info.origin);
	rc = registry_load(&d->models, d->vault, &bad);
	if (rc < 0) {
		log_error("vault \"%s\": reading model entries: %s", d->cfg.vault_dir,
		          strerror(-rc));
		return rc;
	}
	if (bad)
		log_warning("%zu model entries do not decode, ignoring them", bad);
	log_info("vault \"%s\": %" PRIu64 " entries, origin %s, %zu models", d->cfg.vault_dir,
	         info.size, info.origin, d->models.count);
	return 0;
}

/* The start is recorded before anything is served. */
static int record_start(struct daemon *d)
{
	struct life_job lj = {.d = d};
	int rc = life_fill(&lj, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__START, NULL, true);

	if (rc == 0)
		rc = vault_append(d->vault, lj.in, lj.job.n, lj.res);
	free(lj.payloads[0]);
	free(lj.payloads[1]);
	if (rc < 0)
		log_error("vault \"%s\": recording the start: %s", d->cfg.vault_dir,
		          rc == -ENOSPC ? "the vault is full" : strerror(-rc));
	return rc;
}

/* After every batch of finished writer jobs: send the replies they produced, and finish a
 * drain once the writer has nothing left (whatever kind of job was last). */
static void after_writer_batch(void *data)
{
	exporter_sample(data);
	session_flush_dirty(data);
	maybe_finish_drain(data);
}

/* The workers' hooks (workers.h): an audit's verdict goes to the record's verdict wait, if
 * one is open; after the events of a wake-up, the replies and the drain. */
static void on_audit_verdict(void *data, uint64_t incident_seq, int action, double confidence,
                             const char *const *reasons, size_t n_reasons)
{
	struct daemon *d = data;
	verdict_audited(&d->verdicts, incident_seq, action, confidence, reasons, n_reasons);
}

/* An audit finished (workers_hooks.audited): counted by status, timed. */
static void on_audited(void *data, uint64_t incident_seq, int status, double seconds)
{
	static const char *const names[] = {"complete", "partial", "failed"};

	exporter_audited(data, status, seconds);
	log_at(status == 0 ? LOG_INFO : LOG_WARNING, LOG_INCIDENT(incident_seq),
	       "incident %" PRIu64 ": audit %s in %.0f ms", incident_seq,
	       status >= 0 && status <= 2 ? names[status] : "ended", seconds * 1e3);
}

static void after_audit_events(void *data)
{
	session_flush_dirty(data);
	maybe_finish_drain(data);
}

/* After a verdict deadline answered PENDING: send it. */
static void after_verdict_timer(void *data)
{
	session_flush_dirty(data);
}

/* Frames after Hello are the ingest's; a closing connection drops its registration. */
static const struct session_ops session_ops = {
    .frame = ingest_frame,
    .closing = registration_cancel,
    .closed = on_session_closed,
};

/* The legal holds in force and the open incidents, from the vault (after the incidents a kill
 * lost are written). */
static int load_holds(struct daemon *d)
{
	char err[200];
	size_t holds, open;
	int rc = holds_new(&d->holds);

	if (rc == 0)
		rc = holds_load(d->holds, d->vault, err, sizeof(err));
	if (rc < 0) {
		log_error("vault \"%s\": reading the legal holds and open incidents: %s%s%s",
		          d->cfg.vault_dir, strerror(-rc), err[0] ? ": " : "", err);
		return -1;
	}
	holds_counts(d->holds, &holds, &open);
	if (holds || open)
		log_info("%zu legal hold(s) in force, %zu open incident(s): their entries are "
		         "never pruned",
		         holds, open);
	return 0;
}

/* The test clock (retention.h) is recorded: what it pruned early is explained in the vault. */
static void record_test_clock(struct daemon *d, int64_t offset_ns)
{
	char detail[200];

	if (!offset_ns)
		return;
	snprintf(detail, sizeof(detail),
	         "EVIDENTD_TEST_NOW_OFFSET_S=%" PRId64 ": retention's clock runs %" PRId64
	         " s ahead of the wall clock (a test setting)",
	         offset_ns / 1000000000, offset_ns / 1000000000);
	log_warning("%s", detail);
	on_publish_notice(d, "test_clock", detail);
}

/* Crash recovery before anything is written: the incidents a kill lost, the reservoirs. */
static int recover(struct daemon *d)
{
	long recovered =
	    triggers_recover(d->triggers, d->n_triggers, d->vault, &d->models, realtime_ns(),
	                     d->guards ? guards_firings : NULL, d->guards);
	if (recovered < 0) {
		log_error("vault \"%s\": recovering incidents after a crash: %s", d->cfg.vault_dir,
		          strerror((int)-recovered));
		return -1;
	}
	if (recovered)
		log_warning("the last run ended without a stop: %ld incident(s) that never reached "
		            "the vault were recovered from their records",
		            recovered);
	long seeded = registry_reservoir_seed(&d->models, d->vault, RESERVOIR_SEED_SCAN);
	if (seeded < 0)
		log_warning("reading recent records back for audit backgrounds: %s",
		            strerror((int)-seeded));
	return load_holds(d);
}

/* The audit workers, and the audits a crash interrupted queued again (from, to: the range of
 * the run that crashed, workers_recovery_range). A failure is logged and the daemon serves on
 * (exit code 1 at the end). */
static void start_workers(struct daemon *d, uint64_t from, uint64_t to, bool clean)
{
	const struct workers_hooks hooks = {.verdict = on_audit_verdict,
	                                    .after_events = after_audit_events,
	                                    .audited = on_audited,
	                                    .data = d};
	int rc = workers_start(&d->workers, d->loop, d->vault, &d->writer, &d->cfg, &hooks);

	if (rc < 0) {
		log_error("audit workers: %s", strerror(-rc));
		d->exit_code = 1;
		return;
	}
	if (clean)
		return;
	long n = workers_recover(&d->workers, &d->models, from, to);
	if (n < 0)
		log_error("re-queuing the audits a crash interrupted: %s", strerror((int)-n));
	else if (n)
		log_warning("the last run ended without a stop: %ld audit(s) it had queued are "
		            "queued again (marked recovered)",
		            n);
}

/* Signals, timers and the socket. A failure to listen drains at once (exit code 1). */
static void start_serving(struct daemon *d)
{
	char err[600];

	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_hup);
	uv_timer_init(d->loop, &d->watchdog_timer);
	uv_timer_init(d->loop, &d->drain_timer);
	session_limits_start(d);
	registration_timer_start(d);
	d->drain_timer.data = d;
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	d->watchdog_timer.data = d;
	/* signals before the socket appears: a stop sent as soon as it exists is a drain */
	uv_signal_start(&d->sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
	if (start_listening(d) < 0) {
		d->exit_code = 1;
		daemon_drain(d, "startup failed");
	} else if (activated_socket_exposed(d, &d->cfg, err, sizeof(err))) {
		log_error("%s", err);
		d->exit_code = 1;
		daemon_drain(d, "startup failed");
	} else {
		d->watchdog_usec = notify_watchdog_usec();
		if (d->watchdog_usec)
			uv_timer_start(&d->watchdog_timer, on_watchdog_timer,
			               d->watchdog_usec / 2000, d->watchdog_usec / 2000);
		log_notice("evidentd %s listening on %s (vault %s)", EVIDENT_VERSION,
		           d->socket_activated ? "a socket from systemd" : d->cfg.socket_path,
		           d->cfg.vault_dir);
		notify_send("READY=1\nSTATUS=serving");
	}
}

int daemon_start(struct daemon *d, uv_loop_t *loop)
{
	char err[600];
	int rc;

	d->loop = loop;
	rc = config_load(d->config_arg, &d->cfg, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		return -1;
	}
	apply_overrides(d, &d->cfg);
	if (!d->cfg.vault_dir || !d->cfg.socket_path)
		return -1;
	log_set_level(d->cfg.log_level);
	d->decode_arena.cap = 256 * 1024;
	d->decode_arena.buf = malloc(d->decode_arena.cap);
	d->read_buf = malloc(SESSION_READ_SIZE);
	if (!d->decode_arena.buf || !d->read_buf || registry_init(&d->models) < 0 ||
	    triggers_new(&d->cfg, &d->triggers, &d->n_triggers) < 0 ||
	    guards_new(&d->cfg, &d->guards) < 0)
		return -1;
	d->session_ops = &session_ops;
	int64_t clock_offset;
	if (retention_clock_offset(&clock_offset) < 0 || open_vault(d) < 0)
		return -1;
	/* a guard naming a feature its (registered) model lacks is a config error */
	if (guards_check(&d->cfg, &d->models, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	/* metrics before anything is written: a [metrics] listen that cannot be served fails
	 * the start with nothing recorded */
	if (exporter_start(d) < 0)
		return -1;
	if (recover(d) < 0)
		return -1;
	uint64_t audit_from, audit_to;
	bool audits_clean;
	rc = workers_recovery_range(d->vault, &audit_from, &audit_to, &audits_clean);
	if (rc < 0) {
		log_error("vault \"%s\": finding the audits a crash interrupted: %s",
		          d->cfg.vault_dir, strerror(-rc));
		return -1;
	}
	if (record_start(d) < 0)
		return -1;
	uint64_t signed_size = sign_at_start(d);
	if (publish_start(&d->publisher, loop, d->vault, &d->cfg, on_publish_notice, d) < 0)
		return -1;
	struct writer_policy wp = writer_policy_of(d);
	rc = writer_start(&d->writer, loop, d->vault, signed_size, &wp, on_signed, d);
	if (rc < 0) {
		log_error("writer thread: %s", strerror(-rc));
		return -1;
	}
	d->writer.after_done = after_writer_batch;
	d->writer.after_done_data = d;
	/* the forwarder starts after the writer; it reads the vault's size itself */
	if (forward_start(&d->forwarder, d->vault, &d->cfg, d->publisher) < 0)
		log_error("forward: not forwarding in this run (records are still committed and "
		          "acknowledged)");
	writer_on_commit(&d->writer, on_committed, d);
	verdict_init(&d->verdicts, loop, &d->writer);
	d->verdicts.after_timer = after_verdict_timer;
	d->verdicts.after_timer_data = d;
	record_test_clock(d, clock_offset);
	log_guards(d);
	if (retention_start(d, clock_offset) < 0) {
		log_error("retention: out of memory");
		return -1;
	}
	start_workers(d, audit_from, audit_to, audits_clean);
	start_serving(d);
	return 0;
}

int daemon_finish(struct daemon *d)
{
	if (d->unlink_socket)
		unlink(d->cfg.socket_path);
	if (d->writer.started || d->final_submitted) {
		log_notice("stopped: %" PRIu64 " records, %" PRIu64 " duplicates, %" PRIu64
		           " refused, %" PRIu64 " connections",
		           d->stats.records, d->stats.duplicates, d->stats.refused,
		           d->stats.connections);
		if (d->n_triggers)
			log_notice("triggers: %" PRIu64 " incidents (%" PRIu64
			           " over rate limits), %" PRIu64 " not recorded (out of memory)",
			           d->stats.incidents, d->stats.incidents_rate_limited,
			           d->stats.incidents_lost);
		if (d->guards)
			log_notice("guards: %" PRIu64 " records caught (%" PRIu64 " held, %" PRIu64
			           " routed to review)",
			           d->stats.guarded, d->stats.guarded_hold,
			           d->stats.guarded - d->stats.guarded_hold);
		if (retention_pruned(d) || d->stats.admin_refused)
			log_notice("retention: %" PRIu64 " payloads pruned; %" PRIu64
			           " admin request(s) refused",
			           retention_pruned(d), d->stats.admin_refused);
	}
	publish_detach(d->publisher); /* a start that failed never drained */
	/* the final checkpoint to JetStream first: auditors' cosignatures of it come back
	 * through the forwarder while the publisher waits for the quorum */
	forward_drain(d->forwarder, d->final_submitted ? d->cfg.forward.stop_wait_ms : 0);
	publish_wait(d->publisher, d->final_submitted ? d->cfg.witness_stop_wait_ms : 0);
	forward_cosignatures_stop(d->forwarder); /* before the publisher it hands them to goes */
	publish_stop(d->publisher, 0);
	forward_stop(d->forwarder);
	d->forwarder = NULL;
	d->publisher = NULL;
	triggers_free(d->triggers, d->n_triggers);
	guards_free(d->guards);
	d->guards = NULL;
	registry_deinit(&d->models);
	retention_free(d);
	holds_free(d->holds);
	d->holds = NULL;
	vault_close(d->vault);
	config_deinit(&d->cfg);
	free(d->decode_arena.buf);
	free(d->read_buf);
	exporter_free(d); /* every thread that updates a series has stopped */
	return d->exit_code;
}

int daemon_run(struct daemon *d)
{
	uv_loop_t loop;
	int rc;

	if (uv_loop_init(&loop) < 0)
		return 1;
	if (daemon_start(d, &loop) < 0) {
		daemon_finish(d);
		uv_loop_close(&loop);
		return 1;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc < 0)
		log_warning("event loop closed with handles open: %s", uv_strerror(rc));
	return daemon_finish(d);
}
