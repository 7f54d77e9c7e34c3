/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl verify: recomputes the vault (vault_verify) against its own checkpoints and any
 * the user kept elsewhere, with a progress bar on a terminal; proves each checkpoint kept
 * elsewhere consistent with the vault's latest one (RFC 9162), and counts its witnesses'
 * cosignatures. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"
#include "entry_key.h"

#define MAX_CHECKPOINTS 64

enum {
	ARG_CHECKPOINT = CTL_OPT_VERB,
	ARG_KEY,
	ARG_SKIP_BLOBS,
	ARG_THREADS,
	ARG_MAX_UNSIGNED,
	ARG_WITNESS_KEY,
	ARG_QUORUM,
};

static const char *arg_checkpoints[MAX_CHECKPOINTS];
static size_t arg_n_checkpoints;
static const char *arg_key;
static bool arg_skip_blobs;
static unsigned arg_threads;
/* --max-unsigned: a bound on the unsigned tail, in entries or in age (UINT64_MAX: none) */
static uint64_t arg_max_unsigned_entries = UINT64_MAX;
static uint64_t arg_max_unsigned_ns = UINT64_MAX;
static struct ctl_witnesses arg_witnesses;

/* N (entries) or a duration N{ms,s,m,h,d}. */
static int parse_max_unsigned(const char *s)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ms", 1000000ull},
	             {"s", 1000000000ull},
	             {"m", 60ull * 1000000000ull},
	             {"h", 3600ull * 1000000000ull},
	             {"d", 86400ull * 1000000000ull}};
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		goto bad;
	if (!*end) {
		arg_max_unsigned_entries = n;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (n > UINT64_MAX / units[i].ns)
				goto bad;
			arg_max_unsigned_ns = n * units[i].ns;
			return 0;
		}
bad:
	return ctl_usage_error("--max-unsigned: expected a number of entries or a duration "
	                       "(100ms, 30s, 5m, 1h, 1d): '%s'",
	                       s);
}

/* verify rebuilds the dedup index from the daemon's dedup keys, derived from the payloads
 * (entry_dedup_key_fn), instead of trusting it: the two headers must agree on them. */
_Static_assert(ENTRY_KEY_MAX == VAULT_DEDUP_KEY_MAX, "one key size");
_Static_assert((int)ENTRY_KEYED_RECORD == (int)VAULT_ENTRY_RECORD &&
                   (int)ENTRY_KEYED_MODEL == (int)VAULT_ENTRY_MODEL &&
                   (int)ENTRY_KEYED_REVIEW == (int)VAULT_ENTRY_REVIEW,
               "entry_key.h numbers types as the vault does");

static int option(struct ctl *c, int opt, const char *arg)
{
	uint64_t n;

	(void)c;
	switch (opt) {
	case ARG_CHECKPOINT:
		if (arg_n_checkpoints == MAX_CHECKPOINTS)
			return ctl_usage_error("verify: --checkpoint: at most %d files",
			                       MAX_CHECKPOINTS);
		arg_checkpoints[arg_n_checkpoints++] = arg;
		return 0;
	case ARG_KEY:
		arg_key = arg;
		return 0;
	case ARG_SKIP_BLOBS:
		arg_skip_blobs = true;
		return 0;
	case ARG_THREADS:
		if (ctl_parse_u64("--threads", arg, &n))
			return CTL_EXIT_USAGE;
		if (n < 1 || n > 256)
			return ctl_usage_error("--threads: expected 1..256: '%s'", arg);
		arg_threads = (unsigned)n;
		return 0;
	case ARG_MAX_UNSIGNED:
		return parse_max_unsigned(arg);
	case ARG_WITNESS_KEY:
		return ctl_witnesses_add(&arg_witnesses, "verify", arg);
	case ARG_QUORUM:
		return ctl_witnesses_set_quorum(&arg_witnesses, "verify", arg);
	}
	return CTL_EXIT_USAGE;
}

/* The checkpoint files' notes, read whole. */
struct notes {
	char *text[MAX_CHECKPOINTS];
	size_t len[MAX_CHECKPOINTS];
	size_t n;
};

static void notes_deinit(struct notes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->text[i]);
	ns->n = 0;
}

static int notes_read(struct notes *ns)
{
	for (size_t i = 0; i < arg_n_checkpoints; i++) {
		int rc =
		    ctl_read_file(arg_checkpoints[i], VAULT_NOTE_MAX, &ns->text[i], &ns->len[i]);
		if (rc < 0)
			return ctl_file_error(arg_checkpoints[i], rc);
		ns->n++;
	}
	return 0;
}

static void progress_fn(void *userdata, uint64_t done, uint64_t total)
{
	ctl_progress_update(userdata, done, total);
}

/* Problems about the vault as a whole report the vault size as bad_seq: no entry to name. */
static bool names_entry(const struct vault_verify_report *rep)
{
	return rep->bad_seq < rep->entries || rep->problem == VAULT_PROBLEM_TRUNCATED;
}

/* Age of the unsigned tail: how long its first entry has waited for a signature. */
static uint64_t tail_age_ns(const struct vault_verify_report *rep)
{
	uint64_t now = ctl_now_ns();

	if (!rep->unsigned_entries || rep->unsigned_since_ns > now)
		return 0;
	return now - rep->unsigned_since_ns;
}

/* The tail over --max-unsigned: a one-line reason into buf, or false. */
static bool tail_too_large(const struct vault_verify_report *rep, char *buf, size_t size)
{
	uint64_t age = tail_age_ns(rep);

	if (rep->unsigned_entries > arg_max_unsigned_entries) {
		snprintf(buf, size,
		         "%" PRIu64 " entries after the last signed checkpoint, over the %" PRIu64
		         " allowed by --max-unsigned",
		         rep->unsigned_entries, arg_max_unsigned_entries);
		return true;
	}
	if (rep->unsigned_entries && age > arg_max_unsigned_ns) {
		snprintf(buf, size,
		         "the first entry after the last signed checkpoint is %.3f s old, over the "
		         "%.3f s allowed by --max-unsigned",
		         (double)age / 1e9, (double)arg_max_unsigned_ns / 1e9);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ checkpoints kept elsewhere */

/* The tree a checkpoint kept elsewhere is proven against: the vault's latest checkpoint signed
 * by the key, or its head when that is older than the checkpoint (or there is none). */
struct target {
	struct vault_checkpoint latest;
	bool have_latest;
	uint64_t head_size;
	uint8_t head_root[VAULT_HASH_LEN];
};

/* What one --checkpoint FILE says about the vault. */
struct given {
	const char *path;
	struct vault_checkpoint cp;
	bool parsed;     /* signed by the key, of this vault's origin */
	bool consistent; /* proven consistent with the vault */
	char problem[768];
	uint64_t against_size;   /* the tree it was proven against */
	bool against_checkpoint; /* ... a signed checkpoint, else the vault's head */
	uint8_t proof[VAULT_PROOF_MAX][VAULT_HASH_LEN];
	size_t proof_len;
	bool have_now_root; /* the vault holds cp.size entries: now_root is their root */
	uint8_t now_root[VAULT_HASH_LEN];
	bool witnessed; /* the witness check ran (witness keys given, the note parsed) */
	struct ctl_witness_check wit;
};

static int target_load(struct vault_reader *r, const struct vault_pubkey *key, struct target *t)
{
	_cleanup_(freep) char *note = NULL;
	int rc;

	*t = (struct target){.head_size = vault_reader_size(r)};
	rc = vault_root(r, t->head_size, t->head_root);
	if (rc < 0)
		return rc;
	rc = vault_checkpoint_latest(r, &note, &t->latest);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	/* A latest checkpoint the key does not vouch for is vault_verify's finding; prove
	 * against the entries themselves then. */
	t->have_latest = vault_checkpoint_parse(note, strlen(note), key, &t->latest) == 0 &&
	                 t->latest.size <= t->head_size;
	return 0;
}

/* Signature and origin of g's note. Returns true when it is this vault's, signed by key. */
static bool given_parse(struct given *g, const char *note, size_t len,
                        const struct vault_pubkey *key, const char *origin)
{
	int rc = vault_checkpoint_parse(note, len, key, &g->cp);

	if (rc < 0) {
		snprintf(g->problem, sizeof(g->problem), "checkpoint %s: %s", g->path,
		         rc == -ENOKEY         ? "not signed by the vault's key"
		         : rc == -EKEYREJECTED ? "its signature does not verify"
		                               : "not a signed checkpoint note");
		return false;
	}
	if (strcmp(g->cp.origin, origin) != 0) {
		snprintf(g->problem, sizeof(g->problem),
		         "checkpoint %s: a checkpoint of \"%s\", not of this vault (\"%s\")",
		         g->path, g->cp.origin, origin);
		return false;
	}
	g->parsed = true;
	return true;
}

/* Proves g consistent with t (RFC 9162), or says where it diverges. Returns 0 or a negative
 * errno of the vault. */
static int given_prove(struct vault_reader *r, const struct target *t, struct given *g)
{
	const uint8_t(*proof)[VAULT_HASH_LEN] = (const uint8_t(*)[VAULT_HASH_LEN])g->proof;
	const uint8_t *root;
	char x[CTL_HEX_MAX], y[CTL_HEX_MAX];
	uint64_t n = g->cp.size;
	int rc;

	if (n > t->head_size) {
		snprintf(g->problem, sizeof(g->problem),
		         "checkpoint %s (size %" PRIu64
		         ") is not consistent with the vault: it covers "
		         "%" PRIu64 " entries but the vault holds %" PRIu64
		         " (truncated or rolled back)",
		         g->path, n, n, t->head_size);
		return 0;
	}
	rc = vault_root(r, n, g->now_root);
	if (rc < 0)
		return rc;
	g->have_now_root = true;
	g->against_checkpoint = t->have_latest && n <= t->latest.size;
	g->against_size = g->against_checkpoint ? t->latest.size : t->head_size;
	root = g->against_checkpoint ? t->latest.root : t->head_root;
	if (n == 0) {
		/* Nothing to prove from the empty tree (vault_merkle_verify_consistency refuses
		 * it): its root is fixed. */
		uint8_t empty[VAULT_HASH_LEN];
		vault_hash_empty(empty);
		g->consistent = memcmp(g->cp.root, empty, VAULT_HASH_LEN) == 0;
	} else {
		rc = vault_prove_consistency(r, n, g->against_size, g->proof);
		if (rc < 0)
			return rc;
		g->proof_len = (size_t)rc;
		g->consistent = vault_merkle_verify_consistency(n, g->against_size, g->cp.root,
		                                                root, proof, g->proof_len) == 0;
	}
	if (g->consistent)
		return 0;
	ctl_hex(g->cp.root, VAULT_HASH_LEN, x);
	ctl_hex(g->now_root, VAULT_HASH_LEN, y);
	if (memcmp(g->cp.root, g->now_root, VAULT_HASH_LEN) != 0)
		snprintf(g->problem, sizeof(g->problem),
		         "checkpoint %s (size %" PRIu64
		         ", root %s) is not consistent with the vault: "
		         "the first %" PRIu64 " entries now hash to %s",
		         g->path, n, x, n, y);
	else
		/* The prefix is intact but the tree proven against does not extend it: the
		 * vault's own nodes or checkpoint are damaged (vault_verify names them). */
		snprintf(g->problem, sizeof(g->problem),
		         "checkpoint %s (size %" PRIu64 ") matches the vault's first %" PRIu64
		         " entries, but the consistency proof to the vault's %s of size %" PRIu64
		         " does not verify",
		         g->path, n, n, g->against_checkpoint ? "checkpoint" : "head",
		         g->against_size);
	return 0;
}

/* A diverged checkpoint's change lies after the largest consistent one it extends. */
static void given_bound(struct given *gs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct given *best = NULL;
		struct given *g = &gs[i];
		size_t len = strlen(g->problem);

		if (!g->parsed || g->consistent || !g->have_now_root)
			continue;
		for (size_t j = 0; j < n; j++)
			if (gs[j].consistent && gs[j].cp.size > 0 && gs[j].cp.size < g->cp.size &&
			    (!best || gs[j].cp.size > best->cp.size))
				best = &gs[j];
		if (best)
			snprintf(g->problem + len, sizeof(g->problem) - len,
			         "; entries 0..%" PRIu64 " still match checkpoint %s (size %" PRIu64
			         "), so the change is among entries %" PRIu64 "..%" PRIu64,
			         best->cp.size - 1, best->path, best->cp.size, best->cp.size,
			         g->cp.size - 1);
	}
}

/* Checks every --checkpoint FILE against the vault's current snapshot and the witnesses.
 * damaged: vault_verify found a problem, so the vault may not even be readable: a file that
 * cannot be checked then fails, naming why, instead of ending the run. Returns 0 or an exit
 * status (printed). */
static int givens_check(struct ctl_vault *cv, const struct notes *ns,
                        const struct vault_pubkey *key, bool damaged, struct given *gs)
{
	struct target t;
	size_t i = 0;
	int rc;

	if (!ns->n)
		return 0;
	rc = vault_reader_begin(cv->v, &cv->r);
	if (rc == 0)
		rc = target_load(cv->r, key, &t);
	for (; rc == 0 && i < ns->n; i++) {
		struct given *g = &gs[i];
		g->path = arg_checkpoints[i];
		if (!given_parse(g, ns->text[i], ns->len[i], key, cv->info.origin))
			continue;
		rc = given_prove(cv->r, &t, g);
		if (rc == 0 && arg_witnesses.n) {
			rc = ctl_witnesses_check(&arg_witnesses, ns->text[i], ns->len[i], &g->wit);
			g->witnessed = rc == 0;
		}
	}
	if (rc < 0 && !damaged)
		return ctl_vault_error(cv, "cannot check the given checkpoints", rc);
	for (i = rc < 0 && i > 0 ? i - 1 : i; rc < 0 && i < ns->n; i++) {
		gs[i] = (struct given){.path = arg_checkpoints[i]};
		snprintf(gs[i].problem, sizeof(gs[i].problem),
		         "checkpoint %s: not checked: the vault is damaged (%s)", gs[i].path,
		         rc == -EBADMSG ? "an entry or a Merkle node is missing or malformed"
		                        : ctl_strerror(rc));
	}
	given_bound(gs, ns->n);
	return 0;
}

static bool given_ok(const struct given *g)
{
	return g->parsed && g->consistent && (!arg_witnesses.n || (g->witnessed && g->wit.ok));
}

/* The first given checkpoint's failure, or NULL. */
static const char *givens_problem(const struct given *gs, size_t n, char *buf, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		if (given_ok(&gs[i]))
			continue;
		if (!gs[i].parsed || !gs[i].consistent)
			return gs[i].problem;
		snprintf(buf, size, "checkpoint %s: too few witness cosignatures: ", gs[i].path);
		size_t len = strlen(buf);
		ctl_witnesses_text(&arg_witnesses, &gs[i].wit, buf + len, size - len);
		return buf;
	}
	return NULL;
}

static json_t *given_json(const struct given *g)
{
	json_t *obj = json_object(), *proof = json_array();

	if (!obj || !proof) {
		json_decref(obj);
		json_decref(proof);
		return NULL;
	}
	for (size_t i = 0; i < g->proof_len; i++)
		json_array_append_new(proof, ctl_json_hex(g->proof[i], VAULT_HASH_LEN));
	ctl_json_set(obj, "file", ctl_json_string(g->path));
	ctl_json_set(obj, "size", g->parsed ? ctl_json_u64(g->cp.size) : json_null());
	ctl_json_set(obj, "root",
	             g->parsed ? ctl_json_hex(g->cp.root, VAULT_HASH_LEN) : json_null());
	ctl_json_set(obj, "consistent", json_boolean(g->parsed && g->consistent));
	ctl_json_set(obj, "problem",
	             g->parsed && g->consistent ? json_null() : ctl_json_string(g->problem));
	ctl_json_set(obj, "vault_root",
	             g->have_now_root ? ctl_json_hex(g->now_root, VAULT_HASH_LEN) : json_null());
	ctl_json_set(obj, "against",
	             !g->have_now_root       ? json_null()
	             : g->against_checkpoint ? json_string("checkpoint")
	                                     : json_string("head"));
	ctl_json_set(obj, "against_size",
	             g->have_now_root ? ctl_json_u64(g->against_size) : json_null());
	ctl_json_set(obj, "proof", proof);
	if (arg_witnesses.n)
		ctl_json_set(obj, "witnesses",
		             g->witnessed ? ctl_witnesses_json(&arg_witnesses, &g->wit)
		                          : json_null());
	return obj;
}

static void given_print(const struct given *g)
{
	char buf[2048];

	if (!g->parsed || !g->consistent) {
		printf("FAILED: %s\n", g->problem);
	} else if (g->cp.size == g->against_size) {
		printf("checkpoint %s (size %" PRIu64
		       "): consistent: the same tree as the vault's %s\n",
		       g->path, g->cp.size,
		       g->against_checkpoint ? "latest signed checkpoint"
		                             : "head (not yet signed)");
	} else {
		printf("checkpoint %s (size %" PRIu64 "): consistent with the vault's %s of size "
		       "%" PRIu64 " (consistency proof of %zu hashes verified)\n",
		       g->path, g->cp.size,
		       g->against_checkpoint ? "latest signed checkpoint" : "head (not yet signed)",
		       g->against_size, g->proof_len);
	}
	if (!g->witnessed)
		return;
	ctl_witnesses_text(&arg_witnesses, &g->wit, buf, sizeof(buf));
	printf("%scheckpoint %s: %s\n", g->wit.ok ? "" : "FAILED: ", g->path, buf);
}

/* ------------------------------------------------------------------ the report */

static json_t *report_json(const struct vault_verify_report *rep, double seconds,
                           const struct given *gs, size_t ngiven)
{
	char tail[200], buf[2048];
	bool over = rep->problem == VAULT_OK && tail_too_large(rep, tail, sizeof(tail));
	const char *given =
	    rep->problem == VAULT_OK && !over ? givens_problem(gs, ngiven, buf, sizeof(buf)) : NULL;
	bool ok = rep->problem == VAULT_OK && !over && !given;
	json_t *obj = json_object(), *arr = json_array();

	if (!obj || !arr) {
		json_decref(obj);
		json_decref(arr);
		return NULL;
	}
	ctl_json_set(obj, "ok", json_boolean(ok));
	ctl_json_set(obj, "entries", ctl_json_u64(rep->entries));
	ctl_json_set(obj, "root", ok ? ctl_json_hex(rep->root, VAULT_HASH_LEN) : json_null());
	ctl_json_set(obj, "problem",
	             ok      ? json_null()
	             : over  ? json_string("unsigned tail over --max-unsigned")
	             : given ? json_string("a given checkpoint does not hold")
	                     : json_string(vault_problem_name(rep->problem)));
	ctl_json_set(obj, "bad_seq",
	             ok || given ? json_null()
	                         : ctl_json_u64(over ? rep->signed_size : rep->bad_seq));
	ctl_json_set(obj, "detail",
	             ok      ? json_null()
	             : over  ? ctl_json_string(tail)
	             : given ? ctl_json_string(given)
	                     : ctl_json_string(rep->detail));
	ctl_json_set(obj, "signed_size", ctl_json_u64(rep->signed_size));
	ctl_json_set(obj, "unsigned_entries", ctl_json_u64(rep->unsigned_entries));
	ctl_json_set(obj, "unsigned_age_seconds",
	             rep->unsigned_entries ? json_real((double)tail_age_ns(rep) / 1e9)
	                                   : json_null());
	ctl_json_set(obj, "dedup_keys", ctl_json_u64(rep->dedup_keys));
	ctl_json_set(obj, "model_keys", ctl_json_u64(rep->model_keys));
	ctl_json_set(obj, "checkpoints", ctl_json_u64(rep->checkpoints));
	ctl_json_set(obj, "pruned", ctl_json_u64(rep->pruned));
	ctl_json_set(obj, "blobs", ctl_json_u64(rep->blobs));
	ctl_json_set(obj, "payload_bytes", ctl_json_u64(rep->payload_bytes));
	ctl_json_set(obj, "seconds", json_real(seconds));
	for (size_t i = 0; i < ngiven; i++)
		json_array_append_new(arr, given_json(&gs[i]));
	ctl_json_set(obj, "given_checkpoints", arr);
	return obj;
}

static void print_report(const struct vault_verify_report *rep, double seconds)
{
	char hex[CTL_HEX_MAX], tail[200];

	if (rep->problem == VAULT_OK && tail_too_large(rep, tail, sizeof(tail))) {
		printf("FAILED: unsigned tail: %s\n", tail);
		return;
	}
	if (rep->problem != VAULT_OK) {
		if (names_entry(rep))
			printf("FAILED at entry %" PRIu64 ": %s: %s\n", rep->bad_seq,
			       vault_problem_name(rep->problem), rep->detail);
		else
			printf("FAILED: %s: %s\n", vault_problem_name(rep->problem), rep->detail);
		return;
	}
	printf("OK: %" PRIu64 " entries, root %s, %" PRIu64 " checkpoints checked, %" PRIu64
	       " pruned payloads, %" PRIu64 " blobs, %.1f MB hashed in %.2f s (%.0f entries/s)\n",
	       rep->entries, ctl_hex(rep->root, VAULT_HASH_LEN, hex), rep->checkpoints, rep->pruned,
	       rep->blobs, (double)rep->payload_bytes / 1e6, seconds,
	       seconds > 0 ? (double)rep->entries / seconds : 0.0);
	if (rep->unsigned_entries)
		printf("unsigned tail: %" PRIu64 " entries after the last signed checkpoint "
		       "(size %" PRIu64 "), the first %.3f s old\n",
		       rep->unsigned_entries, rep->signed_size, (double)tail_age_ns(rep) / 1e9);
	else
		printf("unsigned tail: none (the last signed checkpoint covers every entry)\n");
}

static int verify(const struct ctl *c, struct ctl_vault *cv, const struct notes *ns,
                  const struct vault_pubkey *key)
{
	const char *notes[MAX_CHECKPOINTS];
	struct vault_verify_options opts = {
	    .checkpoints = notes,
	    .checkpoint_lens = ns->len,
	    .n_checkpoints = ns->n,
	    .key = key,
	    .skip_blobs = arg_skip_blobs,
	    .threads = arg_threads,
	    .progress = progress_fn,
	    .dedup_key = entry_dedup_key_fn,
	    .model_key = entry_model_key_fn,
	};
	_cleanup_(freep) struct given *gs = calloc(ns->n ? ns->n : 1, sizeof(*gs));
	struct vault_verify_report rep;
	struct ctl_progress progress;
	char tail[200], buf[2048];
	double start, seconds;
	int rc;

	if (!gs) {
		ctl_error("out of memory");
		return CTL_EXIT_UNREADABLE;
	}
	for (size_t i = 0; i < ns->n; i++)
		notes[i] = ns->text[i];
	ctl_progress_init(&progress, true, "entries");
	opts.progress_userdata = &progress;
	start = ctl_monotonic();
	rc = vault_verify(cv->v, &opts, &rep);
	ctl_progress_end(&progress);
	if (rc < 0)
		return ctl_vault_error(cv, "verification could not run", rc);
	seconds = ctl_monotonic() - start;
	rc = givens_check(cv, ns, key ? key : &cv->info.key, rep.problem != VAULT_OK, gs);
	if (rc)
		return rc;
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = report_json(&rep, seconds, gs, ns->n);
		if (!obj || ctl_json_print(stdout, obj, false) < 0)
			return CTL_EXIT_UNREADABLE;
	} else {
		print_report(&rep, seconds);
		for (size_t i = 0; i < ns->n; i++)
			given_print(&gs[i]);
	}
	return rep.problem == VAULT_OK && !tail_too_large(&rep, tail, sizeof(tail)) &&
	               !givens_problem(gs, ns->n, buf, sizeof(buf))
	           ? CTL_EXIT_OK
	           : CTL_EXIT_PROBLEM;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct notes ns = {0};
	struct vault_pubkey key;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_witnesses_load(&arg_witnesses, "verify");
	if (rc)
		return rc;
	if (arg_witnesses.n && !arg_n_checkpoints)
		return ctl_usage_error("verify: --witness-key checks the cosignatures of a "
		                       "--checkpoint FILE: give one");
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	/* vault_verify takes its own snapshots. */
	vault_reader_end(cv.r);
	cv.r = NULL;
	rc = arg_key ? ctl_load_key(arg_key, cv.info.origin, VAULT_KEY_ED25519, &key) : 0;
	if (rc == 0)
		rc = notes_read(&ns);
	if (rc == 0)
		rc = verify(c, &cv, &ns, arg_key ? &key : NULL);
	notes_deinit(&ns);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"checkpoint", required_argument, NULL, ARG_CHECKPOINT},
    {"key", required_argument, NULL, ARG_KEY},
    {"skip-blobs", no_argument, NULL, ARG_SKIP_BLOBS},
    {"threads", required_argument, NULL, ARG_THREADS},
    {"max-unsigned", required_argument, NULL, ARG_MAX_UNSIGNED},
    {"witness-key", required_argument, NULL, ARG_WITNESS_KEY},
    {"quorum", required_argument, NULL, ARG_QUORUM},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_verify = {
    .name = "verify",
    .summary = "check the vault's integrity from its stored bytes",
    .synopsis = "verify [--checkpoint FILE]... [--key PUBKEY] [--max-unsigned N|DURATION]\n"
                "       [--witness-key VKEY]... [--quorum K] [--skip-blobs] [--threads N]",
    .description =
        "Recomputes every payload commitment (SHA-256 of the payload for leaf version\n"
        "1, of its nonce and the payload for version 2; a vault may hold both), leaf\n"
        "hash, chain link, timestamp order, Merkle node and root; checks every\n"
        "checkpoint stored in the vault (signature and root), the prune entries, the\n"
        "type and subject indexes, the dedup index (rebuilt from the entries: every\n"
        "record, review, model, hold, release and erasure carries its key, and no other\n"
        "key exists), the model index (every record and model entry is listed under its\n"
        "model, and no entry under another) and, unless --skip-blobs, every blob's\n"
        "content.\n"
        "A vault holding entries of which no checkpoint signed by the key covers any\n"
        "fails: without a signature the whole log could have been rewritten. The\n"
        "unsigned tail (entries after the last signed checkpoint, and the age of the\n"
        "first) is always reported; --max-unsigned turns it into a check.\n"
        "Prints \"OK: ...\" with the counts and throughput, or \"FAILED at entry SEQ:\n"
        "PROBLEM: DETAIL\" naming the first bad entry. A progress bar is drawn on\n"
        "standard error when it is a terminal.\n"
        "\n"
        "Whoever holds the files and the signing key can rewrite the log and sign it\n"
        "again, and the vault then verifies by itself: only a checkpoint kept\n"
        "elsewhere shows it. Each --checkpoint FILE (signed by the key, of this\n"
        "vault's origin) is proven consistent with the vault's latest signed\n"
        "checkpoint (or its head, when the file is newer) by an RFC 9162 consistency\n"
        "proof built from the vault and checked against the file's root; one line per\n"
        "file says so, or \"FAILED: checkpoint FILE (size N, root X) is not consistent\n"
        "with the vault: the first N entries now hash to Y\" (a checkpoint alone does\n"
        "not say which of its N entries changed; a smaller --checkpoint that is still\n"
        "consistent narrows it down), or that the vault holds fewer entries than the\n"
        "file covers (truncated or rolled back).\n"
        "With --witness-key, each --checkpoint FILE must also carry valid\n"
        "cosignatures (c2sp.org/tlog-cosignature/v1) by at least K of the witnesses\n"
        "given (--quorum K; default: all of them), else it fails naming which witnesses\n"
        "cosigned and when, and why the others do not count (no cosignature, a\n"
        "signature that does not verify, a timestamp more than 10 minutes ahead of this\n"
        "clock). Cosignatures by other keys are ignored; a witness counts once.\n"
        "With --json: the report's keys (ok, entries, root, problem, bad_seq, detail,\n"
        "signed_size, unsigned_entries, ...) and given_checkpoints: per FILE its file,\n"
        "size, root, consistent, problem, vault_root (the root of the vault's first\n"
        "size entries), against (\"checkpoint\" or \"head\"), against_size, proof (hex\n"
        "hashes) and, with witness keys, witnesses {quorum, cosigned, ok, witnesses:\n"
        "[{name, key_id, cosigned, timestamp, timestamp_unix, problem}]}.",
    .options = "--checkpoint FILE\n"
               "    A signed checkpoint note kept elsewhere (e.g. a copy of DIR/checkpoint,\n"
               "    or 'evidentctl checkpoint' output with its cosignatures). May be given\n"
               "    several times.\n"
               "--key PUBKEY\n"
               "    Verify checkpoint signatures with this key instead of the key recorded\n"
               "    in the vault: the C2SP verifier key itself (NAME+HEXID+BASE64) or a file\n"
               "    holding it or its PEM.\n"
               "--max-unsigned N|DURATION\n"
               "    Fail when more than N entries, or entries older than DURATION (100ms, 30s,\n"
               "    5m, 1h, 1d), follow the last signed checkpoint. For monitors: evidentd signs\n"
               "    within checkpoint_max_unsigned_ms (default 100 ms) of a commit.\n"
               "--witness-key VKEY\n"
               "    A witness's verifier key (NAME+HEXID+BASE64, type 0x04), or a file holding\n"
               "    it. May be given up to 32 times. Needs --checkpoint.\n"
               "--quorum K\n"
               "    How many of the witnesses must have cosigned each --checkpoint FILE\n"
               "    (default: every --witness-key given; 0 reports without requiring any).\n"
               "--skip-blobs\n"
               "    Do not rehash blob contents.\n"
               "--threads N\n"
               "    Hashing threads (default: one per CPU, at most 4).",
    .exit_status = "0  the vault is intact, and every --checkpoint FILE is consistent with it\n"
                   "   and cosigned by the quorum\n"
                   "1  a problem was found (the first one is printed), a --checkpoint FILE is\n"
                   "   not consistent with the vault, or lacks cosignatures\n"
                   "2  usage error (--quorum without --witness-key or above their number, a\n"
                   "   witness key given twice, --witness-key without --checkpoint)\n"
                   "3  the vault, a checkpoint file or a key could not be read, or a key is\n"
                   "   malformed or of the wrong kind",
    .examples = "evidentctl --vault ./vault verify\n"
                "cp ./vault/checkpoint /safe/place/cp.1\n"
                "evidentctl verify --checkpoint /safe/place/cp.1 --key vault.pub --json\n"
                "evidentctl verify --key vault.pub --max-unsigned 10s\n"
                "evidentctl checkpoint > cp.2\n"
                "evidentctl verify --checkpoint cp.2 --witness-key w1.vkey \\\n"
                "    --witness-key w2.vkey --quorum 1",
    .long_options = options,
    .option = option,
    .run = run,
};
