/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl status: a vault's size, keys, latest checkpoint, blobs, models and entries per
 * type (from the vault's type index: no pass over the records). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "entry.pb-c.h"

struct census {
	uint64_t by_type[_VAULT_ENTRY_TYPE_MAX]; /* index 0: types this build does not know */
	unsigned quorum;         /* the witness quorum evidentd works to (0: no witnesses) */
	bool witnessed;          /* a checkpoint holds quorum cosignatures */
	uint64_t witnessed_size; /* ... the newest of them */
	unsigned cosignatures;   /* cosignatures of the latest checkpoint */
	bool forwarding;         /* a forwarder recorded its position ([forward]) */
	uint64_t forwarded;      /* entries JetStream acknowledged in order */
	uint64_t forward_lag_ns; /* age of the oldest entry not acknowledged (0: none) */
	struct ctl_models *models;
	/* incidents by ctl_incident_state (open: no human review recorded yet) */
	uint64_t incidents[CTL_INCIDENT_RATE_LIMITED + 1];
};

struct count {
	struct census *cs;
	const struct ctl_reviewed *rv;
};

static int count_incident(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct count *c = ud;
	const Evident__Entry__V1__IncidentEntry *ie =
	    p->status == 0 ? (const Evident__Entry__V1__IncidentEntry *)p->msg : NULL;

	if (ie)
		c->cs->incidents[ctl_incident_state(ie, ctl_reviewed_has(c->rv, e->leaf.seq))]++;
	return 0;
}

/* Incidents by state, as `evidentctl incidents --status` sees them. */
static int count_incidents(struct census *cs, struct vault_reader *r, uint64_t size)
{
	struct ctl_reviewed rv = {0};
	struct count c = {.cs = cs, .rv = &rv};
	int rc = ctl_reviewed_load(r, size, &rv);

	if (rc >= 0)
		rc = ctl_scan_type(r, VAULT_ENTRY_INCIDENT, 0, size, count_incident, &c);
	ctl_reviewed_free(&rv);
	return rc;
}

/* The witness quorum, the newest checkpoint that meets it and the latest one's cosignatures. */
static int witnesses_take(struct census *cs, struct vault_reader *r, const struct vault_info *in)
{
	struct vault_checkpoint cp;
	int rc = vault_witness_quorum(r, &cs->quorum);

	if (rc >= 0 && in->has_checkpoint)
		rc = vault_cosignature_count(r, in->checkpoint_size, &cs->cosignatures);
	if (rc < 0 || cs->quorum == 0)
		return rc;
	rc = vault_checkpoint_witnessed(r, 0, cs->quorum, NULL, &cp);
	if (rc == -ENOENT)
		return 0;
	cs->witnessed = rc == 0;
	cs->witnessed_size = cp.size;
	return rc;
}

/* The forwarder's position ([forward]) and how far behind it is: entries, and the age of the
 * oldest entry JetStream has not acknowledged (by the entries' own timestamps). */
static int forward_take(struct census *cs, struct vault_reader *r)
{
	struct vault_entry e;
	struct timespec ts;
	int rc = vault_forwarded(r, &cs->forwarded);

	if (rc <= 0)
		return rc;
	cs->forwarding = true;
	if (cs->forwarded >= vault_reader_size(r))
		return 0;
	rc = vault_get(r, cs->forwarded, &e);
	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	cs->forward_lag_ns = now > e.leaf.timestamp_ns ? now - e.leaf.timestamp_ns : 0;
	return 0;
}

static int census_take(struct census *cs, struct vault_reader *r, uint64_t size)
{
	uint64_t known = 0;

	for (int t = 1; t < _VAULT_ENTRY_TYPE_MAX; t++) {
		int rc = vault_count_type(r, t, &cs->by_type[t]);
		if (rc < 0)
			return rc;
		known += cs->by_type[t];
	}
	/* Counts are of the reader's snapshot; vault_info may have seen fewer entries. */
	cs->by_type[0] = known > size ? 0 : size - known;
	int rc = count_incidents(cs, r, size);
	return rc < 0 ? rc : ctl_models_load(cs->models, r, 0, size);
}

static json_t *by_type_json(const struct census *cs)
{
	json_t *obj = json_object();

	for (int t = 1; obj && t < _VAULT_ENTRY_TYPE_MAX; t++)
		if (cs->by_type[t])
			ctl_json_set(obj, vault_entry_type_name(t), ctl_json_u64(cs->by_type[t]));
	if (obj && cs->by_type[0])
		ctl_json_set(obj, "unknown", ctl_json_u64(cs->by_type[0]));
	return obj;
}

static json_t *status_json(const struct ctl_vault *cv, const struct census *cs)
{
	const struct vault_info *in = &cv->info;
	char key[1024];
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "vault", ctl_json_string(cv->dir));
	ctl_json_set(obj, "format_version", json_integer(in->format_version));
	ctl_json_set(obj, "origin", ctl_json_string(in->origin));
	ctl_json_set(obj, "mirror", json_boolean(in->mirror));
	if (vault_pubkey_format(&in->key, key, sizeof(key)) >= 0)
		ctl_json_set(obj, "key", json_string(key));
	ctl_json_set(obj, "entries", ctl_json_u64(in->size));
	ctl_json_set(obj, "file_bytes", ctl_json_u64(in->file_bytes));
	ctl_json_set(obj, "map_bytes", ctl_json_u64(in->map_bytes));
	ctl_json_set(obj, "last_timestamp",
	             in->size ? ctl_json_time(in->last_timestamp_ns) : json_null());
	ctl_json_set(obj, "last_timestamp_ns",
	             in->size ? ctl_json_u64(in->last_timestamp_ns) : json_null());
	ctl_json_set(obj, "root", ctl_json_hex(in->root, VAULT_HASH_LEN));
	ctl_json_set(obj, "last_leaf_hash", ctl_json_hex(in->last_leaf_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "checkpoint_size",
	             in->has_checkpoint ? ctl_json_u64(in->checkpoint_size) : json_null());
	ctl_json_set(obj, "unsigned_entries",
	             ctl_json_u64(in->size - (in->has_checkpoint ? in->checkpoint_size : 0)));
	ctl_json_set(obj, "checkpoint_cosignatures",
	             in->has_checkpoint ? json_integer(cs->cosignatures) : json_null());
	ctl_json_set(obj, "witness_quorum", json_integer(cs->quorum));
	ctl_json_set(obj, "witnessed_size",
	             cs->witnessed ? ctl_json_u64(cs->witnessed_size) : json_null());
	ctl_json_set(obj, "unwitnessed_entries",
	             cs->quorum ? ctl_json_u64(in->size - (cs->witnessed ? cs->witnessed_size : 0))
	                        : json_null());
	ctl_json_set(obj, "forwarded_entries",
	             cs->forwarding ? ctl_json_u64(cs->forwarded) : json_null());
	ctl_json_set(obj, "forward_lag_entries",
	             cs->forwarding ? ctl_json_u64(vault_reader_size(cv->r) - cs->forwarded)
	                            : json_null());
	ctl_json_set(obj, "forward_lag_seconds",
	             cs->forwarding ? json_real((double)cs->forward_lag_ns / 1e9) : json_null());
	ctl_json_set(obj, "blob_count", ctl_json_u64(in->blob_count));
	ctl_json_set(obj, "blob_bytes", ctl_json_u64(in->blob_bytes));
	ctl_json_set(obj, "models", json_integer((json_int_t)ctl_models_count(cs->models)));
	ctl_json_set(obj, "open_incidents", ctl_json_u64(cs->incidents[CTL_INCIDENT_OPEN]));
	ctl_json_set(obj, "reviewed_incidents", ctl_json_u64(cs->incidents[CTL_INCIDENT_REVIEWED]));
	ctl_json_set(obj, "rate_limited_incidents",
	             ctl_json_u64(cs->incidents[CTL_INCIDENT_RATE_LIMITED]));
	ctl_json_set(obj, "entries_by_type", by_type_json(cs));
	return obj;
}

static void print_by_type(const struct census *cs)
{
	bool first = true;

	printf("%-22s", "entries by type:");
	for (int t = 1; t < _VAULT_ENTRY_TYPE_MAX; t++) {
		if (!cs->by_type[t])
			continue;
		printf("%s%s %" PRIu64, first ? " " : ", ", vault_entry_type_name(t),
		       cs->by_type[t]);
		first = false;
	}
	if (cs->by_type[0])
		printf("%sunknown %" PRIu64, first ? " " : ", ", cs->by_type[0]);
	printf("%s\n", first ? " none" : "");
}

static void print_status(const struct ctl_vault *cv, const struct census *cs)
{
	const struct vault_info *in = &cv->info;
	char key[1024], hex[CTL_HEX_MAX], t[CTL_TIME_MAX], b1[32], b2[32];

	printf("%-22s %s\n", "vault:", cv->dir);
	printf("%-22s %s\n", "origin:", in->origin);
	if (in->mirror)
		printf("%-22s %s\n",
		       "mirror:", "yes (the origin's entries and checkpoints; no signing key)");
	if (vault_pubkey_format(&in->key, key, sizeof(key)) >= 0)
		printf("%-22s %s\n", "verifier key:", key);
	printf("%-22s %" PRIu64 "\n", "entries:", in->size);
	printf("%-22s %s\n",
	       "last entry:", in->size ? ctl_time_format(in->last_timestamp_ns, t) : "-");
	printf("%-22s %s\n", "root:", ctl_hex(in->root, VAULT_HASH_LEN, hex));
	if (in->has_checkpoint)
		printf("%-22s size %" PRIu64 " (%" PRIu64 " entries not yet checkpointed), %u "
		       "cosignature%s\n",
		       "latest checkpoint:", in->checkpoint_size, in->size - in->checkpoint_size,
		       cs->cosignatures, cs->cosignatures == 1 ? "" : "s");
	else
		printf("%-22s none\n", "latest checkpoint:");
	if (!cs->quorum)
		printf("%-22s none (no witness quorum recorded)\n", "witnessed checkpoint:");
	else if (cs->witnessed)
		printf("%-22s size %" PRIu64 " (quorum %u cosignatures; %" PRIu64
		       " entries not yet witnessed)\n",
		       "witnessed checkpoint:", cs->witnessed_size, cs->quorum,
		       in->size - cs->witnessed_size);
	else
		printf("%-22s none yet (quorum %u cosignatures)\n",
		       "witnessed checkpoint:", cs->quorum);
	if (cs->forwarding && cs->forwarded >= vault_reader_size(cv->r))
		printf("%-22s all %" PRIu64 " entries acknowledged by JetStream\n",
		       "forwarded:", cs->forwarded);
	else if (cs->forwarding)
		printf("%-22s %" PRIu64 " entries acknowledged by JetStream; lag %" PRIu64
		       " entries, the oldest %.1f s old\n",
		       "forwarded:", cs->forwarded, vault_reader_size(cv->r) - cs->forwarded,
		       (double)cs->forward_lag_ns / 1e9);
	printf("%-22s %s (map %s)\n", "data file:", ctl_bytes_format(in->file_bytes, b1),
	       ctl_bytes_format(in->map_bytes, b2));
	printf("%-22s %" PRIu64 " (%s)\n", "blobs:", in->blob_count,
	       ctl_bytes_format(in->blob_bytes, b1));
	printf("%-22s %zu\n", "models registered:", ctl_models_count(cs->models));
	printf("%-22s %" PRIu64 " (no human review yet; of %" PRIu64 " incidents, %" PRIu64
	       " reviewed, %" PRIu64 " rate-limited)\n",
	       "open incidents:", cs->incidents[CTL_INCIDENT_OPEN],
	       cs->by_type[VAULT_ENTRY_INCIDENT], cs->incidents[CTL_INCIDENT_REVIEWED],
	       cs->incidents[CTL_INCIDENT_RATE_LIMITED]);
	print_by_type(cs);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct census cs = {0};
	_cleanup_(json_decrefp) json_t *obj = NULL;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	if (cv.info.damaged) {
		/* no root or last entry to show: verify names what is wrong */
		rc = ctl_vault_error(&cv, "cannot read the vault", -EBADMSG);
		ctl_vault_close(&cv);
		return rc;
	}
	cs.models = ctl_models_new();
	/* Count the entries vault_info described, even if the daemon appends meanwhile. */
	rc = cs.models ? census_take(&cs, cv.r, vault_reader_size(cv.r)) : -ENOMEM;
	if (rc >= 0)
		rc = witnesses_take(&cs, cv.r, &cv.info);
	if (rc >= 0)
		rc = forward_take(&cs, cv.r);
	if (rc < 0) {
		rc = ctl_vault_error(&cv, "cannot read entries", rc);
	} else if (c->json) {
		obj = status_json(&cv, &cs);
		rc = obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	} else {
		print_status(&cv, &cs);
	}
	ctl_models_free(cs.models);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_status = {
    .name = "status",
    .summary = "summarize a vault",
    .synopsis = "status",
    .description = "Shows the number of entries, the data file and map sizes, the checkpoint\n"
                   "origin and verifier key (C2SP form), whether the vault is a mirror of that\n"
                   "origin's vault (written by evident-auditor; mirror in --json), the time of\n"
                   "the last entry, the Merkle root, the latest signed checkpoint, how many\n"
                   "entries it does not cover yet and how many witness cosignatures it holds,\n"
                   "the witnessed checkpoint (the newest holding the witness quorum evidentd\n"
                   "works to: the one 'evidentctl prove' cites), the stored blobs, the models\n"
                   "registered (distinct ID@VERSION among the model entries), the open incidents\n"
                   "(no human review recorded yet, not rate-limited: evidentctl incidents\n"
                   "--status open lists the same ones) beside the reviewed and rate-limited\n"
                   "ones, the number of entries of each type, and, once evidentd's [forward] has\n"
                   "run, how many entries NATS JetStream acknowledged and how far it is behind\n"
                   "(entries, and the age of the oldest one not acknowledged, by its timestamp;\n"
                   "the position is stored every 100 ms or so).\n"
                   "With --json the same as keys (checkpoint_size, checkpoint_cosignatures,\n"
                   "witness_quorum (0: none), witnessed_size (null: none yet),\n"
                   "unwitnessed_entries, forwarded_entries, forward_lag_entries,\n"
                   "forward_lag_seconds (null: no forwarder), open_incidents, reviewed_incidents,\n"
                   "rate_limited_incidents, entries_by_type, ...).\n"
                   "Uses the vault's type index, so it is quick on any size of vault; the vault\n"
                   "is opened read-only.",
    .options = NULL,
    .exit_status = NULL,
    .examples = "evidentctl --vault ./vault status\n"
                "evidentctl status --json | jq .entries",
    .long_options = options,
    .run = run,
};
