/* SPDX-License-Identifier: Apache-2.0 */
/* evident-auditor: mirrors, verifies and cosigns the logs of a fleet of evidentd hosts that
 * forward through NATS JetStream. main() parses the options and runs one mode: --vkey (print
 * the cosigner key), --alerts (print the recorded alerts), --clear ORIGIN (an operator's
 * acknowledgement), or the auditor itself (auditor.c) on a thread, with signals on this one. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "auditor_state.h"
#include "cli.h"
#include "evident_version.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"

#define PROG      "evident-auditor"
#define KEY_FILE  "auditor.key"
#define LOCK_FILE "auditor.lock"

#define usage_error(...)    cli_usage_error(PROG, __VA_ARGS__)
#define parse_unsigned(...) cli_parse_unsigned(PROG, __VA_ARGS__)
#define parse_duration(...) cli_parse_duration(PROG, __VA_ARGS__)

static const char help_text[] =
    "NAME\n"
    "    evident-auditor - mirror, verify and cosign the evidence logs of a fleet of\n"
    "    evidentd hosts forwarded through NATS JetStream\n"
    "\n"
    "SYNOPSIS\n"
    "    evident-auditor --nats URL --mirror DIR --trust FILE --state DIR [--name NAME]\n"
    "                    [OPTIONS]\n"
    "    evident-auditor --state DIR [--name NAME] --vkey\n"
    "    evident-auditor --state DIR --alerts\n"
    "    evident-auditor --state DIR --mirror DIR --clear ORIGIN\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads every message evidentd forwarders publish to the JetStream stream (subjects\n"
    "    PREFIX.<origin token>.entry, .blob and .checkpoint; fleet/FLEET.md) through a\n"
    "    durable pull consumer named after NAME, so that a restart resumes where it stopped.\n"
    "    For each origin whose verifier key is in the trust file it keeps a mirror vault in\n"
    "    DIR/<origin token>/: the same leaves, leaf hashes, Merkle tree, payloads, blobs and\n"
    "    signed checkpoints as the origin's vault, so `evidentctl --vault DIR/<token>` works on\n"
    "    it unchanged (verify, log, show, prove, ...).\n"
    "\n"
    "    Entries are appended only when they continue the mirror: seq, previous-leaf hash,\n"
    "    time order and payload commitment are checked (vault_mirror_append). Entries that\n"
    "    arrive early (a forwarder's retry reorders them) are held, up to --hold entries per\n"
    "    origin, until the missing ones arrive; missing ones that stay missing for --gap-after\n"
    "    are a gap alert. Each checkpoint's signature by the origin's key, its size and root\n"
    "    against the mirror are checked (vault_mirror_checkpoint); one ahead of the mirror\n"
    "    waits for its entries. A checkpoint the auditor mirrored and verified is cosigned\n"
    "    (c2sp.org/tlog-cosignature/v1 with the key in --state), the cosignature stored beside\n"
    "    it in the mirror and published as FleetCosig on PREFIX.<origin token>.cosig.<NAME\n"
    "    token>, where the origin's evidentd picks it up like any witness's.\n"
    "\n"
    "    A message is acknowledged to JetStream only after the mirror transaction holding it\n"
    "    (or the alert about it) is on disk: a crash of the auditor redelivers it, and a\n"
    "    duplicate is recognised by its leaf and skipped. Messages of one fetch are written\n"
    "    in one transaction per origin.\n"
    "\n"
    "    Anomalies are alerts, written to the state in --state and to stderr with the origin,\n"
    "    never into a mirror:\n"
    "      fork            an entry or checkpoint that contradicts what the mirror holds;\n"
    "                      its bytes are kept as evidence, it is not merged, and the mirror\n"
    "                      takes nothing more from the origin until --clear\n"
    "      rollback        a signed checkpoint of a smaller tree that the mirror contradicts\n"
    "                      (stops the mirror like a fork)\n"
    "      gap             entries missing for longer than --gap-after\n"
    "      bad-signature   a checkpoint not signed by the origin's key\n"
    "      unknown-origin  messages of an origin the trust file does not list (refused)\n"
    "      malformed       a message the fleet decoders refuse, or on a subject of no origin\n"
    "                      (recorded with its subject and reason, skipped)\n"
    "      silent          no checkpoint from a trusted origin for --silent-after\n"
    "      mirror          the mirror cannot be written (the messages wait and are retried)\n"
    "      blob            a blob whose chunks do not hash to its name\n"
    "    Duplicates (a replayed or redelivered message) are counted, not alerts.\n"
    "\n"
    "    The status of every origin (alerts still open, last message, mirror lag) is written\n"
    "    atomically to DIR/fleet-status.json, which `evidentctl fleet status --mirror DIR`\n"
    "    reads.\n"
    "\n"
    "OPTIONS\n"
    "    --nats URL\n"
    "        The NATS server(s), e.g. nats://127.0.0.1:4222 (comma-separated for a cluster).\n"
    "        Unreachable at start: the auditor keeps retrying.\n"
    "    --mirror DIR\n"
    "        The folder of the mirror vaults (created when missing).\n"
    "    --trust FILE\n"
    "        The origins mirrored: one log verifier key a line, as `evidentctl checkpoint\n"
    "        --key` prints it (ORIGIN+KEYID+BASE64); blank lines and lines starting with #\n"
    "        are ignored. Read at start and on SIGHUP: an origin removed from it is refused\n"
    "        from then on.\n"
    "    --state DIR\n"
    "        The auditor's folder (created 0750 when missing): its cosigner key and its\n"
    "        state (alerts, fork evidence). One auditor at a time uses it.\n"
    "    --name NAME\n"
    "        The auditor's key name, a schema-less URL such as auditor.example.com/a1: in its\n"
    "        cosignatures, its verifier key, its cosignature subjects and (as a subject\n"
    "        token) its durable consumer's name. Several auditors, each with its own name,\n"
    "        state and mirror folder, each get every message. Default: HOSTNAME/auditor.\n"
    "    --stream NAME\n"
    "        The JetStream stream. Default EVIDENT.\n"
    "    --subject-prefix PREFIX\n"
    "        The subjects' first token(s). Default evident.\n"
    "    --creds FILE\n"
    "        A NATS credentials file (user JWT and NKey seed).\n"
    "    --user USER\n"
    "        A NATS user; the password comes from $NATS_PASSWORD.\n"
    "    --token-file FILE\n"
    "        A file holding a NATS authentication token.\n"
    "    --tls-ca FILE, --tls-cert FILE, --tls-key FILE\n"
    "        TLS: the CA certificates to trust; a client certificate chain and its key.\n"
    "    --silent-after DURATION\n"
    "        A trusted origin without a checkpoint for this long is a silent alert: 90s,\n"
    "        5m, 1h. Default 5m.\n"
    "    --gap-after DURATION\n"
    "        A missing entry that later ones have been waiting for this long is a gap\n"
    "        alert. Default 60s.\n"
    "    --hold N\n"
    "        Entries held per origin ahead of a missing one (more are redelivered later by\n"
    "        JetStream). Default 100000.\n"
    "    --batch N\n"
    "        Messages fetched at once. Default 4096.\n"
    "    --ack-wait DURATION\n"
    "        The consumer's AckWait: a message not acknowledged within it is delivered\n"
    "        again, so also how long what a killed auditor had fetched waits before it\n"
    "        comes back. Set when the consumer is created. Default 30s.\n"
    "    --vkey\n"
    "        Print the auditor's cosigner verifier key (NAME+KEYID+BASE64, type 0x04: what\n"
    "        evidentd's [witness NAME] vkey takes) and exit. Creates the key if missing.\n"
    "    --alerts\n"
    "        Print the alerts recorded in the state, one JSON object a line (seq, time,\n"
    "        kind, origin, message, evidence_base64), and exit. Works while the auditor runs.\n"
    "    --clear ORIGIN\n"
    "        An operator's acknowledgement (the auditor must be stopped): the origin's alerts\n"
    "        recorded so far are closed, and when its mirror was stopped by a fork or\n"
    "        rollback, the mirror folder is moved aside to DIR/<token>.fork-<UTC time> (kept\n"
    "        as evidence) so that the next run starts a new mirror.\n"
    "    --metrics ADDR:PORT\n"
    "        Serve GET /metrics there in the Prometheus text format: messages received by\n"
    "        kind and what became of them, messages held, open alerts by kind, entries\n"
    "        mirrored per origin, mirror lag, fetch sizes, mirror commit durations,\n"
    "        checkpoints verified and cosigned, the process (evident_auditor_*). ADDR is an\n"
    "        IPv4 address, [IPv6] or a host name; a port in use fails the start. Default:\n"
    "        off.\n"
    "    --log-level err|warning|notice|info|debug\n"
    "        Default info. Logs go to stderr with syslog priority prefixes.\n"
    "    -h, --help\n"
    "        Show this help and exit.\n"
    "    --version\n"
    "        Show the version and exit.\n"
    "\n"
    "SIGNALS\n"
    "    SIGHUP rereads the trust file. SIGTERM, SIGINT: finish the batch in hand, write the\n"
    "    status and exit 0 (what was not acknowledged is delivered again).\n"
    "\n"
    "FILES\n"
    "    STATE/auditor.key   the cosigner key (PEM PKCS#8, mode 0600, created on first use)\n"
    "    STATE/data.mdb      the state (LMDB): alerts with their evidence, stopped mirrors\n"
    "    MIRROR/<token>/     the mirror vault of an origin\n"
    "    MIRROR/fleet-status.json  the per-origin status for evidentctl fleet status\n"
    "\n"
    "EXIT STATUS\n"
    "    0  stopped by SIGTERM or SIGINT; --vkey, --alerts, --clear done\n"
    "    1  cannot start (key, trust file, state, NATS options) or a fatal error\n"
    "    2  usage error\n"
    "\n"
    "EXAMPLES\n"
    "    evidentctl --vault /var/lib/evidentd checkpoint --key >> /etc/evident-auditor/trust\n"
    "    evident-auditor --state /var/lib/evident-auditor --name audit.example.com/a1 --vkey\n"
    "    evident-auditor --nats nats://nats.example.com:4222 --mirror /srv/fleet \\\n"
    "        --trust /etc/evident-auditor/trust --state /var/lib/evident-auditor \\\n"
    "        --name audit.example.com/a1\n"
    "    evidentctl fleet status --mirror /srv/fleet\n";

enum {
	ARG_NATS = 0x100,
	ARG_MIRROR,
	ARG_TRUST,
	ARG_STATE,
	ARG_NAME,
	ARG_STREAM,
	ARG_PREFIX,
	ARG_CREDS,
	ARG_USER,
	ARG_TOKEN_FILE,
	ARG_TLS_CA,
	ARG_TLS_CERT,
	ARG_TLS_KEY,
	ARG_SILENT,
	ARG_GAP,
	ARG_HOLD,
	ARG_BATCH,
	ARG_ACK_WAIT,
	ARG_VKEY,
	ARG_ALERTS,
	ARG_CLEAR,
	ARG_METRICS,
};

enum mode { MODE_RUN, MODE_VKEY, MODE_ALERTS, MODE_CLEAR };

struct options {
	enum mode mode;
	struct auditor_config cfg;
	const char *clear;
	const char *metrics; /* --metrics ADDR:PORT, or NULL */
	char default_name[300];
};

/* Returns 0, 2 (usage error, printed) or -1 (help or version printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
	    {"nats", required_argument, NULL, ARG_NATS},
	    {"mirror", required_argument, NULL, ARG_MIRROR},
	    {"trust", required_argument, NULL, ARG_TRUST},
	    {"state", required_argument, NULL, ARG_STATE},
	    {"name", required_argument, NULL, ARG_NAME},
	    {"stream", required_argument, NULL, ARG_STREAM},
	    {"subject-prefix", required_argument, NULL, ARG_PREFIX},
	    {"creds", required_argument, NULL, ARG_CREDS},
	    {"user", required_argument, NULL, ARG_USER},
	    {"token-file", required_argument, NULL, ARG_TOKEN_FILE},
	    {"tls-ca", required_argument, NULL, ARG_TLS_CA},
	    {"tls-cert", required_argument, NULL, ARG_TLS_CERT},
	    {"tls-key", required_argument, NULL, ARG_TLS_KEY},
	    {"silent-after", required_argument, NULL, ARG_SILENT},
	    {"gap-after", required_argument, NULL, ARG_GAP},
	    {"hold", required_argument, NULL, ARG_HOLD},
	    {"batch", required_argument, NULL, ARG_BATCH},
	    {"ack-wait", required_argument, NULL, ARG_ACK_WAIT},
	    {"vkey", no_argument, NULL, ARG_VKEY},
	    {"alerts", no_argument, NULL, ARG_ALERTS},
	    {"clear", required_argument, NULL, ARG_CLEAR},
	    {"metrics", required_argument, NULL, ARG_METRICS},
	    CLI_COMMON_OPTIONS,
	};
	struct auditor_config *c = &o->cfg;
	char host[256] = "localhost";
	int modes = 0, ch, rc = 0;

	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, " +")] = '\0';
	snprintf(o->default_name, sizeof(o->default_name), "%s/auditor", host);
	*c = (struct auditor_config){
	    .stream = "EVIDENT",
	    .prefix = "evident",
	    .name = o->default_name,
	    .silent_after_ns = 300ull * 1000000000u,
	    .gap_after_ns = 60ull * 1000000000u,
	    .batch = 4096,
	    .hold_max = 100000,
	    .ack_wait_ns = 30ull * 1000000000u,
	};
	opterr = 0;
	while (rc == 0 && (ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case ARG_NATS:
			c->nats_url = optarg;
			break;
		case ARG_MIRROR:
			c->mirror_dir = optarg;
			break;
		case ARG_TRUST:
			c->trust_path = optarg;
			break;
		case ARG_STATE:
			c->state_dir = optarg;
			break;
		case ARG_NAME:
			c->name = optarg;
			break;
		case ARG_STREAM:
			c->stream = optarg;
			break;
		case ARG_PREFIX:
			c->prefix = optarg;
			break;
		case ARG_CREDS:
			c->creds = optarg;
			break;
		case ARG_USER:
			c->user = optarg;
			break;
		case ARG_TOKEN_FILE:
			c->token_file = optarg;
			break;
		case ARG_TLS_CA:
			c->tls_ca = optarg;
			break;
		case ARG_TLS_CERT:
			c->tls_cert = optarg;
			break;
		case ARG_TLS_KEY:
			c->tls_key = optarg;
			break;
		case ARG_SILENT:
			rc = parse_duration("--silent-after", optarg, &c->silent_after_ns);
			break;
		case ARG_GAP:
			rc = parse_duration("--gap-after", optarg, &c->gap_after_ns);
			break;
		case ARG_ACK_WAIT:
			rc = parse_duration("--ack-wait", optarg, &c->ack_wait_ns);
			break;
		case ARG_HOLD:
			rc = parse_unsigned("--hold", optarg, 1, 10000000, &c->hold_max);
			break;
		case ARG_BATCH:
			rc = parse_unsigned("--batch", optarg, 1, 65536, &c->batch);
			break;
		case ARG_VKEY:
			o->mode = MODE_VKEY;
			modes++;
			break;
		case ARG_ALERTS:
			o->mode = MODE_ALERTS;
			modes++;
			break;
		case ARG_CLEAR:
			o->mode = MODE_CLEAR;
			o->clear = optarg;
			modes++;
			break;
		case ARG_METRICS: {
			char err[200];
			o->metrics = optarg;
			if (metrics_parse_listen(optarg, NULL, NULL, err, sizeof(err)) < 0)
				rc = usage_error("--metrics \"%s\": %s", optarg, err);
			break;
		}
		default: /* --log-level, --help, --version, ':' or unknown */
			rc = cli_common_option(PROG, ch, optarg, argv[optind - 1], help_text);
			if (rc < 0)
				return -1;
			break;
		}
	}
	if (rc)
		return rc;
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	if (modes > 1)
		return usage_error("--vkey, --alerts and --clear exclude each other");
	if (!c->state_dir)
		return usage_error("--state DIR is required");
	if (o->mode == MODE_CLEAR && !c->mirror_dir)
		return usage_error("--clear needs --mirror DIR");
	if (o->mode == MODE_RUN && (!c->nats_url || !c->mirror_dir || !c->trust_path))
		return usage_error("%s is required", !c->nats_url     ? "--nats URL"
		                                     : !c->mirror_dir ? "--mirror DIR"
		                                                      : "--trust FILE");
	if (fleet_name_check(c->name, strlen(c->name), NULL, 0) < 0 || strchr(c->name, ' ') ||
	    strchr(c->name, '+'))
		return usage_error("--name \"%s\": 1 to %d bytes of UTF-8 without spaces, control "
		                   "characters or '+' expected",
		                   c->name, VAULT_ORIGIN_MAX);
	{
		char subject[FLEET_SUBJECT_MAX];
		if (fleet_subject(c->prefix, c->name, FLEET_COSIG, c->name, subject,
		                  sizeof(subject)) < 0)
			return usage_error("--subject-prefix \"%s\": NATS tokens of [A-Za-z0-9_-] "
			                   "separated by '.' expected",
			                   c->prefix);
	}
	return 0;
}

/* ------------------------------------------------------------------ the key and the lock */

/* Takes STATE/auditor.lock: one auditor (or --clear) at a time. Returns the fd or -1. */
static int lock_state(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", dir,
		        errno == EWOULDBLOCK ? "another evident-auditor uses this state"
		                             : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------ --alerts, --clear */

static int print_alert(void *ud, const struct astate_alert *al)
{
	json_t *obj = json_object();
	char when[40], *b64;
	time_t secs = (time_t)(al->time_ns / 1000000000u);
	struct tm tm;
	int rc;

	(void)ud;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(obj, "seq", json_integer((json_int_t)al->seq));
	json_object_set_new(obj, "time", json_string(when));
	json_object_set_new(obj, "kind", json_string(alert_kind_name(al->kind)));
	json_object_set_new(obj, "origin", *al->origin ? json_string(al->origin) : json_null());
	json_object_set_new(obj, "message", json_string(al->msg));
	b64 = malloc(4 * ((al->evidence_len + 2) / 3) + 1);
	if (b64) {
		EVP_EncodeBlock((unsigned char *)b64, al->evidence, (int)al->evidence_len);
		json_object_set_new(obj, "evidence_base64", json_string(b64));
		free(b64);
	}
	rc = json_dumpf(obj, stdout, JSON_COMPACT);
	json_decref(obj);
	return rc < 0 || putchar('\n') == EOF ? -EIO : 0;
}

static int show_alerts(const struct options *o)
{
	struct astate *s;
	int rc = astate_open(o->cfg.state_dir, true, &s);

	if (rc == 0) {
		rc = astate_each_alert(s, 0, print_alert, NULL);
		astate_close(s);
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", o->cfg.state_dir,
		        rc == -ENOENT ? "no auditor state here" : strerror(-rc));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int next_seq(void *ud, const struct astate_alert *al)
{
	*(uint64_t *)ud = al->seq + 1;
	return 0;
}

static int clear_origin(const struct options *o)
{
	struct astate *s;
	struct astate_origin so = {0};
	char tok[FLEET_TOKEN_MAX], from[4096], to[4200], when[32];
	time_t t = time(NULL);
	struct tm tm;
	uint64_t next = 0;
	int fd = lock_state(o->cfg.state_dir), rc;

	if (fd < 0)
		return 1;
	if (fleet_subject_token(o->clear, tok, sizeof(tok)) < 0) {
		close(fd);
		return usage_error("--clear \"%s\": not an origin", o->clear);
	}
	rc = astate_open(o->cfg.state_dir, false, &s);
	if (rc < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", o->cfg.state_dir, strerror(-rc));
		close(fd);
		return 1;
	}
	rc = astate_each_alert(s, 0, next_seq, &next);
	if (rc == 0 && astate_origin_get(s, o->clear, &so) == 0 && (so.flags & ASTATE_STOPPED)) {
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(from, sizeof(from), "%s/%s", o->cfg.mirror_dir, tok);
		snprintf(to, sizeof(to), "%s/%s.fork-%s", o->cfg.mirror_dir, tok, when);
		if (rename(from, to) < 0 && errno != ENOENT) {
			fprintf(stderr, PROG ": cannot move %s to %s: %s\n", from, to,
			        strerror(errno));
			rc = -errno;
		} else {
			printf("the stopped mirror %s is now %s\n", from, to);
		}
	}
	if (rc == 0) {
		so = (struct astate_origin){.open_from = next};
		rc = astate_origin_put(s, o->clear, &so);
	}
	astate_close(s);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, PROG ": --clear %s: %s\n", o->clear, strerror(-rc));
		return 1;
	}
	printf("alerts of %s up to #%" PRIu64 " cleared\n", o->clear, next);
	return 0;
}

/* ------------------------------------------------------------------ running */

struct runner {
	const struct auditor_config *cfg;
	const struct vault_signer *signer;
	struct auditor_flags *flags;
	int rc;
};

static void *run_thread(void *p)
{
	struct runner *r = p;

	r->rc = auditor_run(r->cfg, r->signer, r->flags);
	/* A fatal error ends the process as a signal would. */
	atomic_store(&r->flags->stop, true);
	kill(getpid(), SIGTERM);
	return NULL;
}

static int run(struct options *o, const struct vault_signer *signer)
{
	struct auditor_flags flags;
	struct runner r = {.cfg = &o->cfg, .signer = signer, .flags = &flags};
	struct metrics_server *metrics_server = NULL;
	sigset_t sigs;
	pthread_t th;
	int sig, lock_fd, rc;

	atomic_init(&flags.stop, false);
	atomic_init(&flags.reload, false);
	if (cli_make_dir(PROG, "--mirror", o->cfg.mirror_dir))
		return 1;
	lock_fd = lock_state(o->cfg.state_dir);
	if (lock_fd < 0)
		return 1;
	cli_block_signals(&sigs);
	/* After the mask: the server's thread inherits it, so that the signals come here. */
	/* --metrics: the registry and its server (auditor.c creates its series in it). */
	if (o->metrics) {
		o->cfg.metrics = metrics_new();
		if (cli_serve_metrics(PROG, o->cfg.metrics, "evident_auditor_build_info",
		                      o->metrics, &metrics_server) < 0) {
			o->cfg.metrics = NULL; /* freed */
			close(lock_fd);
			return 1;
		}
	}
	rc = pthread_create(&th, NULL, run_thread, &r);
	if (rc) {
		fprintf(stderr, PROG ": cannot start a thread: %s\n", strerror(rc));
		metrics_server_stop(metrics_server);
		metrics_free(o->cfg.metrics);
		close(lock_fd);
		return 1;
	}
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			atomic_store(&flags.reload, true);
			continue;
		}
		break;
	}
	if (!atomic_load(&flags.stop))
		log_info("stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	atomic_store(&flags.stop, true);
	pthread_join(th, NULL);
	metrics_server_stop(metrics_server);
	metrics_free(o->cfg.metrics);
	o->cfg.metrics = NULL;
	close(lock_fd);
	return r.rc;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct vault_signer *signer = NULL;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (o.mode == MODE_ALERTS)
		return show_alerts(&o);
	if (o.mode == MODE_CLEAR)
		return clear_origin(&o);
	if (cli_load_signer(PROG, o.cfg.state_dir, KEY_FILE, o.cfg.name, true, &signer))
		return 1;
	if (o.mode == MODE_VKEY) {
		char vkey[VAULT_ORIGIN_MAX + 64];
		if (vault_pubkey_format(vault_signer_pubkey(signer), vkey, sizeof(vkey)) >= 0)
			printf("%s\n", vkey);
		vault_signer_free(signer);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	rc = run(&o, signer);
	vault_signer_free(signer);
	return rc;
}
