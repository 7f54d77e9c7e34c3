/* SPDX-License-Identifier: Apache-2.0 */
/* evident-witness: a C2SP tlog-witness server. main() parses the options and runs one mode:
 * --vkey (print the cosigner key), --logs and --evidence (print the state, read-only), or serve:
 * the key, the trust file, the state, the listening socket, the committer thread, the HTTP
 * threads, then signals until SIGTERM, and a stop that answers what was decided. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "committer.h"
#include "evident_version.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "state.h"
#include "witness.h"

#define PROG           "evident-witness"
#define KEY_FILE       "witness.key"
#define STOP_ANSWER_MS 5000 /* at a stop, time left to send the decided answers */

#define usage_error(...)    cli_usage_error(PROG, __VA_ARGS__)
#define parse_unsigned(...) cli_parse_unsigned(PROG, __VA_ARGS__)

static const char help_text[] =
    "NAME\n"
    "    evident-witness - a transparency log witness (C2SP tlog-witness)\n"
    "\n"
    "SYNOPSIS\n"
    "    evident-witness --listen ADDR:PORT --state DIR --name NAME --trust FILE [OPTIONS]\n"
    "    evident-witness --state DIR --name NAME --trust FILE [OPTIONS]  (socket-activated)\n"
    "    evident-witness --state DIR --name NAME --vkey\n"
    "    evident-witness --state DIR --logs | --evidence\n"
    "\n"
    "DESCRIPTION\n"
    "    Serves POST PREFIX/add-checkpoint as c2sp.org/tlog-witness specifies: a log submits\n"
    "    its new signed checkpoint with the size of the last one this witness cosigned for it\n"
    "    and a consistency proof between the two; the witness checks the log's signature\n"
    "    against the keys the trust file lists for the checkpoint's origin, checks the proof\n"
    "    against the root it cosigned, records the new checkpoint (synced to disk) and answers\n"
    "    with its cosignature (c2sp.org/tlog-cosignature v1, Ed25519, timestamped).\n"
    "\n"
    "    The request body is \"old N\\n\", at most 63 base64 proof lines, a blank line and the\n"
    "    checkpoint note; any Content-Type. Answers:\n"
    "      200  the cosignature line(s), \"\\u2014 NAME BASE64\\n\"\n"
    "      400  a malformed body, old size larger than the checkpoint's size, a proof with\n"
    "           old size 0 (a plain-text body names the problem and its line)\n"
    "      403  no valid signature by a key trusted for the origin (signatures by other\n"
    "           keys are ignored; one by a trusted key that does not verify refuses the note)\n"
    "      404  an origin the trust file does not list; any other path\n"
    "      405  another method than POST\n"
    "      409  Content-Type text/x.tlog.size, body \"SIZE\\n\": the old size is not the\n"
    "           last size cosigned for the origin (0 if none), or a checkpoint of that size\n"
    "           with another root hash\n"
    "      413  a body over 64 KiB\n"
    "      422  the consistency proof does not verify\n"
    "      500  the state could not be written (nothing was cosigned)\n"
    "      503  the witness is stopping\n"
    "    The same checkpoint again (old size = its size, empty proof) is cosigned again.\n"
    "\n"
    "    Checking the old size and recording the new checkpoint are one LMDB transaction of\n"
    "    one thread (the committer), so concurrent submissions can never roll a log back;\n"
    "    requests that arrive while it syncs share the next transaction (group commit). The\n"
    "    answer is sent only after the sync.\n"
    "\n"
    "    Refused submissions that carried a valid log signature are kept as evidence: a\n"
    "    fork (two roots for one size), a consistency proof that does not verify, a\n"
    "    checkpoint smaller than the one cosigned (rollback). Each record holds the time, the\n"
    "    origin, the latest cosigned size and note then, and the whole request body; at most\n"
    "    256 of each kind are kept (forks: the first ones; the others: the newest) and the\n"
    "    dropped ones counted. Forks and bad proofs are logged as errors (security events),\n"
    "    every other refusal as a warning, one line each.\n"
    "\n"
    "OPTIONS\n"
    "    --listen ADDR:PORT\n"
    "        Where to accept connections: 127.0.0.1:7380, [::1]:7380, [::]:7380, or\n"
    "        :7380 (every address). Port 0 picks a free port (logged). Not needed when\n"
    "        systemd passes the listening socket (LISTEN_FDS=1, evident-witness.socket),\n"
    "        which is then used instead.\n"
    "    --state DIR\n"
    "        The witness's folder (created 0750 when missing): its key and its state.\n"
    "    --name NAME\n"
    "        The witness's key name, a schema-less URL such as witness.example.com/w1:\n"
    "        it is in every cosignature line and in the verifier key.\n"
    "    --trust FILE\n"
    "        The logs this witness cosigns: one log verifier key a line, as\n"
    "        `evidentctl checkpoint --key` prints it (ORIGIN+KEYID+BASE64, type 0x01); the\n"
    "        key's name is the log's origin, the first line of its checkpoints. Several keys\n"
    "        may name one origin. Blank lines and lines starting with # are ignored. Read at\n"
    "        start; a mistake stops the start with FILE:LINE:COLUMN.\n"
    "    --vkey\n"
    "        Print the witness's cosigner verifier key (NAME+KEYID+BASE64, type 0x04,\n"
    "        what logs and their clients configure) and exit. Creates the key if missing.\n"
    "    --logs\n"
    "        Print the latest cosigned checkpoint of every log, one JSON object a line\n"
    "        (origin, size, root, root_base64, time, note), and exit. Read-only; works\n"
    "        while the witness runs.\n"
    "    --evidence\n"
    "        Print the evidence kept, one JSON object a line (seq, kind, time, origin,\n"
    "        latest_size, cosigned_note, body), then the counts kept and dropped, and exit.\n"
    "        Read-only; works while the witness runs.\n"
    "    --prefix PATH\n"
    "        The submission prefix's path, e.g. /witness: then POST /witness/add-checkpoint.\n"
    "        Default: none (POST /add-checkpoint).\n"
    "    --threads N\n"
    "        HTTP threads, which parse, verify and cosign. Default: one per online CPU.\n"
    "    --max-batch N\n"
    "        Requests decided in one synced transaction at most. Default 1024. 1 makes a\n"
    "        sync per request (for comparisons).\n"
    "    --max-connections N\n"
    "        Open connections at most; more are refused. Default 1024.\n"
    "    --max-connections-per-ip N\n"
    "        Open connections from one address at most; 0: no limit. Default 128.\n"
    "    --idle-timeout SECONDS\n"
    "        A connection idle this long is closed. Default 30.\n"
    "    --body-timeout SECONDS\n"
    "        A request body must arrive whole within this after its headers, or the\n"
    "        connection is closed. Default 10.\n"
    "    --metrics ADDR:PORT\n"
    "        Serve GET /metrics there in the Prometheus text format: requests by status\n"
    "        code (evident_witness_requests_total), cosignatures, the committer's batch\n"
    "        sizes, the process. ADDR is an IPv4 address, [IPv6] or a host name. Default:\n"
    "        off.\n"
    "    --log-level err|warning|notice|info|debug\n"
    "        Default info. Logs go to stderr with syslog priority prefixes (<3>, <4>, ...).\n"
    "    -h, --help\n"
    "        Show this help and exit.\n"
    "    --version\n"
    "        Show the version and exit.\n"
    "\n"
    "SIGNALS AND SYSTEMD\n"
    "    SIGTERM, SIGINT: stop accepting, decide and answer what was submitted, exit 0.\n"
    "    With $NOTIFY_SOCKET it sends READY=1 once listening and STOPPING=1 (Type=notify);\n"
    "    with LISTEN_PID and LISTEN_FDS=1 it serves the socket systemd passes as fd 3.\n"
    "\n"
    "FILES\n"
    "    DIR/witness.key\n"
    "        The Ed25519 private key (PEM PKCS#8), created with mode 0600 on first use;\n"
    "        refused if group- or world-accessible.\n"
    "    DIR/data.mdb, DIR/lock.mdb\n"
    "        The state (LMDB): the latest cosigned checkpoint per origin and the evidence.\n"
    "        Never copy or restore it from a backup while logs use the witness: an older\n"
    "        state would let a log roll back past what was cosigned.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  stopped by SIGTERM or SIGINT; --vkey, --logs, --evidence done\n"
    "    1  cannot start: the key, the trust file, the state, the address; or a fatal error\n"
    "    2  usage error\n"
    "\n"
    "EXAMPLES\n"
    "    evidentctl --vault /var/lib/evidentd checkpoint --key >> /etc/evident-witness/trust\n"
    "    evident-witness --state /var/lib/evident-witness --name witness.example.com/w1 --vkey\n"
    "    evident-witness --listen [::]:7380 --state /var/lib/evident-witness \\\n"
    "        --name witness.example.com/w1 --trust /etc/evident-witness/trust\n"
    "    curl --data-binary @request.txt http://localhost:7380/add-checkpoint\n"
    "    evident-witness --state /var/lib/evident-witness --evidence | jq .kind\n";

enum {
	ARG_LISTEN = 0x100,
	ARG_STATE,
	ARG_NAME,
	ARG_TRUST,
	ARG_VKEY,
	ARG_LOGS,
	ARG_EVIDENCE,
	ARG_PREFIX,
	ARG_THREADS,
	ARG_MAX_BATCH,
	ARG_MAX_CONN,
	ARG_MAX_PER_IP,
	ARG_IDLE_TIMEOUT,
	ARG_BODY_TIMEOUT,
	ARG_METRICS,
};

enum mode { MODE_SERVE, MODE_VKEY, MODE_LOGS, MODE_EVIDENCE };

struct options {
	enum mode mode;
	const char *listen, *state, *name, *trust, *prefix;
	const char *metrics; /* --metrics ADDR:PORT, or NULL */
	unsigned threads, max_batch, max_connections, max_per_ip, idle_timeout_s, body_timeout_s;
};

static int check_prefix(const char *p)
{
	size_t len = strlen(p);

	if (len == 0)
		return 0;
	if (p[0] != '/' || p[len - 1] == '/')
		return usage_error("--prefix: \"%s\": a path starting with '/' and not ending "
		                   "with one expected (e.g. /witness)",
		                   p);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '?' || p[i] == '#')
			return usage_error(
			    "--prefix: \"%s\": character %zu is not allowed in a path", p, i + 1);
	return 0;
}

/* Returns 0, 2 (usage error, printed) or -1 (help or version printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, ARG_LISTEN},
	    {"state", required_argument, NULL, ARG_STATE},
	    {"name", required_argument, NULL, ARG_NAME},
	    {"trust", required_argument, NULL, ARG_TRUST},
	    {"vkey", no_argument, NULL, ARG_VKEY},
	    {"logs", no_argument, NULL, ARG_LOGS},
	    {"evidence", no_argument, NULL, ARG_EVIDENCE},
	    {"prefix", required_argument, NULL, ARG_PREFIX},
	    {"threads", required_argument, NULL, ARG_THREADS},
	    {"max-batch", required_argument, NULL, ARG_MAX_BATCH},
	    {"max-connections", required_argument, NULL, ARG_MAX_CONN},
	    {"max-connections-per-ip", required_argument, NULL, ARG_MAX_PER_IP},
	    {"idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT},
	    {"body-timeout", required_argument, NULL, ARG_BODY_TIMEOUT},
	    {"metrics", required_argument, NULL, ARG_METRICS},
	    CLI_COMMON_OPTIONS,
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int modes = 0, c, rc = 0;

	*o = (struct options){
	    .prefix = "",
	    .threads = cpus < 1    ? 1
	               : cpus > 64 ? 64
	                           : (unsigned)cpus,
	    .max_batch = 1024,
	    .max_connections = 1024,
	    .max_per_ip = 128,
	    .idle_timeout_s = 30,
	    .body_timeout_s = 10,
	};
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case ARG_LISTEN:
			o->listen = optarg;
			break;
		case ARG_STATE:
			o->state = optarg;
			break;
		case ARG_NAME:
			o->name = optarg;
			break;
		case ARG_TRUST:
			o->trust = optarg;
			break;
		case ARG_VKEY:
			o->mode = MODE_VKEY;
			modes++;
			break;
		case ARG_LOGS:
			o->mode = MODE_LOGS;
			modes++;
			break;
		case ARG_EVIDENCE:
			o->mode = MODE_EVIDENCE;
			modes++;
			break;
		case ARG_PREFIX:
			o->prefix = strcmp(optarg, "/") == 0 ? "" : optarg;
			rc = check_prefix(o->prefix);
			break;
		case ARG_THREADS:
			rc = parse_unsigned("--threads", optarg, 1, 256, &o->threads);
			break;
		case ARG_MAX_BATCH:
			rc = parse_unsigned("--max-batch", optarg, 1, 1u << 20, &o->max_batch);
			break;
		case ARG_MAX_CONN:
			rc = parse_unsigned("--max-connections", optarg, 1, 1u << 20,
			                    &o->max_connections);
			break;
		case ARG_MAX_PER_IP:
			rc = parse_unsigned("--max-connections-per-ip", optarg, 0, 1u << 20,
			                    &o->max_per_ip);
			break;
		case ARG_IDLE_TIMEOUT:
			rc = parse_unsigned("--idle-timeout", optarg, 1, 86400, &o->idle_timeout_s);
			break;
		case ARG_BODY_TIMEOUT:
			rc = parse_unsigned("--body-timeout", optarg, 1, 3600, &o->body_timeout_s);
			break;
		case ARG_METRICS:
			o->metrics = optarg;
			break;
		default: /* --log-level, --help, --version, ':' or unknown */
			rc = cli_common_option(PROG, c, optarg, argv[optind - 1], help_text);
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
		return usage_error("--vkey, --logs and --evidence exclude each other");
	if (!o->state)
		return usage_error("--state DIR is required");
	if (o->mode == MODE_VKEY && !o->name)
		return usage_error("--vkey needs --name NAME");
	if (o->mode == MODE_SERVE &&
	    ((!o->listen && !getenv("LISTEN_FDS")) || !o->name || !o->trust))
		return usage_error("%s is required", !o->listen ? "--listen ADDR:PORT"
		                                     : !o->name ? "--name NAME"
		                                                : "--trust FILE");
	return 0;
}

/* ------------------------------------------------------------------ the key */

static int print_vkey(const struct vault_signer *s)
{
	char vkey[VAULT_ORIGIN_MAX + 64];
	int n = vault_pubkey_format(vault_signer_pubkey(s), vkey, sizeof(vkey));

	if (n < 0)
		return 1;
	printf("%s\n", vkey);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ --logs, --evidence */

static int json_put_text(json_t *obj, const char *key, const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);

	if (!v) { /* not UTF-8: the bytes in base64 under KEY_base64 */
		char k[64], *b64 = malloc(4 * ((len + 2) / 3) + 1);
		if (!b64)
			return -ENOMEM;
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)s, (int)len);
		snprintf(k, sizeof(k), "%s_base64", key);
		v = json_string(b64);
		free(b64);
		return json_object_set_new(obj, k, v) == 0 ? 0 : -ENOMEM;
	}
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int print_json(json_t *obj)
{
	int rc = obj ? json_dumpf(obj, stdout, JSON_COMPACT) : -1;

	json_decref(obj);
	if (rc < 0 || putchar('\n') == EOF)
		return -EIO;
	return 0;
}

static int print_log(void *ud, const struct state_log *l)
{
	json_t *obj = json_object();
	char hex[2 * VAULT_HASH_LEN + 1], b64[48];

	(void)ud;
	if (!obj)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)b64, l->root, VAULT_HASH_LEN);
	json_object_set_new(obj, "origin", json_string(l->origin));
	json_object_set_new(obj, "size", json_integer((json_int_t)l->size));
	json_object_set_new(obj, "root", json_string(vault_hex(l->root, hex)));
	json_object_set_new(obj, "root_base64", json_string(b64));
	json_object_set_new(obj, "time", json_integer((json_int_t)l->time_s));
	json_put_text(obj, "note", l->note, l->note_len);
	return print_json(obj);
}

static int print_evidence(void *ud, const struct state_evidence *e)
{
	json_t *obj = json_object();

	(void)ud;
	if (!obj)
		return -ENOMEM;
	json_object_set_new(obj, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(obj, "kind", json_string(witness_verdict_name(e->kind)));
	json_object_set_new(obj, "time", json_integer((json_int_t)e->time_s));
	json_put_text(obj, "origin", e->origin, strlen(e->origin));
	json_object_set_new(obj, "latest_size", json_integer((json_int_t)e->latest_size));
	json_put_text(obj, "cosigned_note", e->note, e->note_len);
	json_put_text(obj, "body", e->body, e->body_len);
	return print_json(obj);
}

static int show_state(const struct options *o)
{
	struct state *s;
	struct state_counts counts;
	int rc = state_open(o->state, true, &s);

	if (rc < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", o->state,
		        rc == -ENOENT    ? "no witness state here"
		        : rc == -EBADMSG ? "not a witness state of a known format"
		                         : strerror(-rc));
		return 1;
	}
	if (o->mode == MODE_LOGS) {
		rc = state_each_log(s, print_log, NULL);
	} else {
		rc = state_each_evidence(s, print_evidence, NULL);
		if (rc == 0)
			rc = state_counts(s, &counts);
		if (rc == 0) {
			json_t *obj = json_object(), *kept = json_object(),
			       *dropped = json_object();
			for (int v = 0; v < _WITNESS_VERDICT_MAX; v++) {
				if (!witness_verdict_is_evidence(v))
					continue;
				json_object_set_new(kept, witness_verdict_name(v),
				                    json_integer((json_int_t)counts.kept[v]));
				json_object_set_new(dropped, witness_verdict_name(v),
				                    json_integer((json_int_t)counts.dropped[v]));
			}
			json_object_set_new(obj, "kept", kept);
			json_object_set_new(obj, "dropped", dropped);
			json_object_set_new(obj, "bound", json_integer(STATE_EVIDENCE_MAX));
			rc = print_json(obj);
		}
	}
	state_close(s);
	if (rc < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", o->state,
		        rc == -EBADMSG ? "a stored record does not decode" : strerror(-rc));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ serving */

static int load_trust(const char *path, struct witness_trust *ret)
{
	char err[WITNESS_ERR_MAX + 4200];
	int rc = witness_trust_load(path, ret, err, sizeof(err));

	if (rc == -EBADMSG)
		fprintf(stderr, PROG ": %s\n", err);
	else if (rc == -EFBIG)
		fprintf(stderr, PROG ": --trust %s: over %d bytes\n", path, WITNESS_TRUST_MAX);
	else if (rc < 0)
		fprintf(stderr, PROG ": --trust %s: %s\n", path, strerror(-rc));
	if (rc == 0 && ret->n == 0) {
		fprintf(stderr, PROG ": --trust %s: no log key in it\n", path);
		witness_trust_deinit(ret);
		rc = -ENOKEY;
	}
	return rc < 0 ? 1 : 0;
}

static void describe_address(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* Binds and listens on spec (ADDR:PORT). Returns the socket (non-blocking), or -1 (printed). */
static int open_listener(const char *spec, char *bound, size_t bound_size)
{
	const char *colon = strrchr(spec, ':'), *arg = spec;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
	                *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[256];
	size_t hlen;
	int fd, rc, one = 1;

	if (!colon || !colon[1]) {
		fprintf(stderr, PROG ": --listen \"%s\": ADDR:PORT expected\n", spec);
		return -1;
	}
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5 ||
	    atoi(colon + 1) > 65535) {
		fprintf(stderr, PROG ": --listen \"%s\": port \"%s\": 0 to 65535 expected\n", spec,
		        colon + 1);
		return -1;
	}
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		fprintf(stderr, PROG ": --listen: address too long\n");
		return -1;
	}
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(hlen && strcmp(host, "*") ? host : NULL, colon + 1, &hints, &ai);
	if (rc) {
		fprintf(stderr, PROG ": --listen \"%s\": %s\n", arg, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		char where[NI_MAXHOST + NI_MAXSERV + 4];
		describe_address(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
		fprintf(stderr, PROG ": --listen %s: %s\n", where, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	describe_address((struct sockaddr *)&ss, sslen, bound, bound_size);
	return fd;
}

/* A listening socket passed by systemd (sd_listen_fds(3): LISTEN_PID is ours, LISTEN_FDS=1, the
 * socket is fd 3). Returns it (non-blocking, close-on-exec), -1 when none was passed, -2 when
 * what was passed is not one listening stream socket (printed). */
static int passed_listener(char *bound, size_t bound_size)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss), len = sizeof(int);
	int fd = 3, listening = 0, type = 0, n;
	char *end;

	if (!pid || !fds || strtol(pid, &end, 10) != getpid() || *end)
		return -1;
	n = strcmp(fds, "1") == 0 ? 1 : 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!n) {
		fprintf(stderr, PROG ": systemd passed several or no sockets (LISTEN_FDS); one "
		                     "listening stream socket expected (one ListenStream= line)\n");
		return -2;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &(socklen_t){sizeof(int)}) < 0 ||
	    type != SOCK_STREAM || getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, PROG ": the socket systemd passed (fd 3) is not a listening stream "
		                     "socket\n");
		return -2;
	}
	describe_address((struct sockaddr *)&ss, sslen, bound, bound_size);
	return fd;
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, when set. */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warning("sd_notify %s: %s", path, strerror(errno));
	close(fd);
}

static int serve(const struct options *o, const struct vault_signer *signer, const sigset_t *sigs)
{
	struct witness_trust trust = {0};
	struct state *state = NULL;
	struct state_counts counts;
	struct committer *committer = NULL;
	struct committer_stats stats;
	struct server *server = NULL;
	struct metrics *metrics = NULL;
	struct metrics_server *metrics_server = NULL;
	struct metric *batch_hist = NULL;
	struct server_config cfg = {
	    .prefix = o->prefix,
	    .threads = o->threads,
	    .max_connections = o->max_connections,
	    .max_per_ip = o->max_per_ip,
	    .idle_timeout_s = o->idle_timeout_s,
	    .body_timeout_s = o->body_timeout_s,
	};
	char bound[NI_MAXHOST + NI_MAXSERV + 4], vkey[VAULT_ORIGIN_MAX + 64];
	int rc, sig;

	if (load_trust(o->trust, &trust))
		return 1;
	rc = state_open(o->state, false, &state);
	if (rc == 0)
		rc = state_counts(state, &counts);
	if (rc < 0) {
		fprintf(stderr, PROG ": --state %s: %s\n", o->state,
		        rc == -EBADMSG ? "holds something that is not a witness state of a known "
		                         "format"
		                       : strerror(-rc));
		state_close(state);
		witness_trust_deinit(&trust);
		return 1;
	}
	cfg.listen_fd = passed_listener(bound, sizeof(bound));
	if (cfg.listen_fd >= 0 && o->listen)
		log_notice("--listen %s ignored: serving the socket systemd passed, %s", o->listen,
		           bound);
	else if (cfg.listen_fd == -1)
		cfg.listen_fd = open_listener(o->listen, bound, sizeof(bound));
	if (cfg.listen_fd < 0) {
		state_close(state);
		witness_trust_deinit(&trust);
		return 1;
	}
	/* --metrics: the registry and its server (the series are created by their users:
	 * server.c, the committer's histogram here). */
	if (o->metrics) {
		double bounds[12];

		metrics = metrics_new();
		if (metrics) {
			metrics_exponential_buckets(1, 2, 12, bounds);
			batch_hist = metrics_histogram(
			    metrics, "evident_witness_commit_batch_requests",
			    "Requests decided in one synced transaction.", bounds, 12);
		}
		if (cli_serve_metrics(PROG, metrics, "evident_witness_build_info", o->metrics,
		                      &metrics_server) < 0) {
			close(cfg.listen_fd);
			state_close(state);
			witness_trust_deinit(&trust);
			return 1;
		}
	}
	cfg.metrics = metrics;
	rc = committer_start(state, o->max_batch, batch_hist, &committer);
	if (rc == 0)
		rc = server_start(&cfg, &trust, signer, committer, &server);
	if (rc < 0) {
		log_error("cannot start: %s", strerror(-rc));
		committer_stop(committer, NULL);
		close(cfg.listen_fd);
		state_close(state);
		witness_trust_deinit(&trust);
		metrics_server_stop(metrics_server);
		metrics_free(metrics);
		return 1;
	}
	vault_pubkey_format(vault_signer_pubkey(signer), vkey, sizeof(vkey));
	log_info("evident-witness %s: serving POST http://%s%s/add-checkpoint with %u threads; "
	         "%zu log keys trusted (%s); state %s: %" PRIu64 " logs, evidence kept: %" PRIu64
	         " forks, %" PRIu64 " bad proofs, %" PRIu64 " rollbacks",
	         EVIDENT_VERSION, bound, o->prefix, o->threads, trust.n, o->trust, o->state,
	         counts.logs, counts.kept[WITNESS_FORK], counts.kept[WITNESS_BAD_PROOF],
	         counts.kept[WITNESS_ROLLBACK]);
	log_info("cosigner key: %s", vkey);
	notify("READY=1\nSTATUS=serving");

	for (;;) {
		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		log_notice("SIGHUP: the trust file is read at start only; restart to change it");
	}
	log_info("stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	notify("STOPPING=1");
	server_quiesce(server);
	committer_stop(committer, &stats);
	server_stop(server, STOP_ANSWER_MS);
	log_info("stopped: %" PRIu64 " requests decided in %" PRIu64 " synced commits (mean "
	         "batch %.1f, largest %" PRIu64 ")%s",
	         stats.jobs, stats.commits,
	         stats.commits ? (double)(stats.jobs - stats.failed) / (double)stats.commits : 0.0,
	         stats.max_batch_seen, stats.failed ? "; some commits failed" : "");
	state_close(state);
	witness_trust_deinit(&trust);
	metrics_server_stop(metrics_server);
	metrics_free(metrics);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct vault_signer *signer = NULL;
	sigset_t sigs;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (o.mode == MODE_LOGS || o.mode == MODE_EVIDENCE)
		return show_state(&o);
	if (cli_load_signer(PROG, o.state, KEY_FILE, o.name, true, &signer))
		return 1;
	if (o.mode == MODE_VKEY) {
		rc = print_vkey(signer);
		vault_signer_free(signer);
		return rc;
	}
	/* Every thread started from here inherits the mask: the signals come to sigwait. */
	cli_block_signals(&sigs);
	rc = serve(&o, signer, &sigs);
	vault_signer_free(signer);
	return rc;
}
