/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl show SEQ: one entry with its leaf fields and its payload decoded, a record's
 * features by name against the training ranges of its model's manifest; with --json the raw
 * leaf, payload and nonce bytes an auditor checks the commitment with; what pruned the
 * payload, and what keeps it (legal holds, an open incident). */
#include <errno.h>
#include <inttypes.h>

#include "ctl.h"

/* What the leaf commits to, in the words of FORMAT.md §3. */
static const char *commitment_kind(const struct vault_leaf *leaf)
{
	return leaf->version == 1 ? "SHA-256(payload)" : "SHA-256(nonce || payload)";
}

/* The bytes an outside auditor checks the entry with: the 91-byte leaf, and while the
 * payload is there the payload and (leaf version 2) its nonce. Taken before anything else is
 * read, while e's payload pointers are those of the entry just read. */
static json_t *bytes_json(const struct vault_entry *e)
{
	uint8_t leaf[VAULT_LEAF_LEN];
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	vault_leaf_encode(&e->leaf, leaf);
	ctl_json_set(obj, "leaf_bytes", ctl_json_hex(leaf, sizeof(leaf)));
	if (e->payload)
		ctl_json_set(obj, "payload_bytes", ctl_json_hex(e->payload, e->payload_len));
	if (e->payload && e->payload_nonce)
		ctl_json_set(obj, "payload_nonce", ctl_json_hex(e->payload_nonce, VAULT_NONCE_LEN));
	return obj;
}

/* The entry's retention: the prune that removed its payload, the active holds covering it,
 * the open incident on it (a record). */
struct retention {
	struct ctl_prunes prunes;
	struct ctl_holds holds;
	struct ctl_open_incidents open;
};

static void retention_deinit(struct retention *rt)
{
	ctl_prunes_free(&rt->prunes);
	ctl_holds_free(&rt->holds);
	ctl_open_incidents_free(&rt->open);
}

static int retention_load(struct vault_reader *r, const struct vault_entry *e,
                          struct retention *ret)
{
	int rc = 0;

	if (!e->payload)
		rc = ctl_prunes_load(r, &e->leaf.seq, 1, &ret->prunes);
	if (rc >= 0)
		rc = ctl_holds_load(r, vault_reader_size(r), &ret->holds);
	if (rc >= 0 && e->leaf.type == VAULT_ENTRY_RECORD)
		rc = ctl_open_incidents_load(r, vault_reader_size(r), &ret->open);
	return rc;
}

static json_t *show_json(const struct vault_entry *e, json_t *bytes, const struct retention *rt,
                         const struct ctl_payload *p, const struct ctl_models *m)
{
	const struct ctl_prune *pr = ctl_prunes_find(&rt->prunes, e->leaf.seq);
	json_t *obj = ctl_entry_json(e), *holds = json_array();
	const char *k;
	json_t *v;

	if (!obj || !holds) {
		json_decref(obj);
		json_decref(holds);
		return NULL;
	}
	ctl_json_set(obj, "leaf_version", json_integer(e->leaf.version));
	ctl_json_set(obj, "commitment", json_string(commitment_kind(&e->leaf)));
	ctl_json_set(obj, "prev_hash", ctl_json_hex(e->leaf.prev_hash, VAULT_HASH_LEN));
	json_object_foreach(bytes, k, v) json_object_set(obj, k, v);
	if (pr)
		ctl_json_set(obj, "prune", ctl_prune_json(pr));
	for (size_t i = 0; i < rt->holds.n; i++)
		if (!rt->holds.v[i].released && ctl_hold_covers(&rt->holds.v[i], e->leaf.seq))
			json_array_append_new(holds, ctl_json_string(rt->holds.v[i].hold_id));
	ctl_json_set(obj, "holds", holds);
	const struct ctl_open_incident *oi = ctl_open_incident_of(&rt->open, e->leaf.seq);
	ctl_json_set(obj, "open_incident", oi ? ctl_json_u64(oi->incident_seq) : json_null());
	ctl_json_set(obj, "payload", ctl_payload_json(p, m));
	return obj;
}

static void print_leaf(const struct vault_entry *e, const json_t *bytes, const struct retention *rt)
{
	const char *type = vault_entry_type_name(e->leaf.type);
	const struct ctl_prune *pr = ctl_prunes_find(&rt->prunes, e->leaf.seq);
	const char *nonce = json_string_value(json_object_get(bytes, "payload_nonce"));
	char hex[CTL_HEX_MAX], t[CTL_TIME_MAX];

	printf("%-24s %" PRIu64 "\n", "seq", e->leaf.seq);
	printf("%-24s %s (%u)\n", "type", type ? type : "unknown", e->leaf.type);
	printf("%-24s %s (%" PRIu64 " ns)\n", "timestamp", ctl_time_format(e->leaf.timestamp_ns, t),
	       e->leaf.timestamp_ns);
	printf("%-24s %u\n", "leaf version", e->leaf.version);
	printf("%-24s %s\n", "leaf hash", ctl_hex(e->leaf_hash, VAULT_HASH_LEN, hex));
	printf("%-24s %s\n", "prev hash", ctl_hex(e->leaf.prev_hash, VAULT_HASH_LEN, hex));
	printf("%-24s %s = %s\n", "payload commitment", commitment_kind(&e->leaf),
	       ctl_hex(e->leaf.payload_hash, VAULT_HASH_LEN, hex));
	if (nonce)
		printf("%-24s %s\n", "payload nonce", nonce);
	printf("%-24s %" PRIu64 " bytes%s\n", "payload length", e->leaf.payload_len,
	       e->payload ? "" : " (pruned)");
	if (pr)
		printf("%-24s %s at %s by prune entry %" PRIu64 ": %s\n", "pruned",
		       ctl_prune_cause_name(pr->cause), ctl_time_format(pr->timestamp_ns, t),
		       pr->seq, pr->reason);
	for (size_t i = 0; i < rt->holds.n; i++) {
		const struct ctl_hold *h = &rt->holds.v[i];
		if (!h->released && ctl_hold_covers(h, e->leaf.seq))
			printf("%-24s %s (hold entry %" PRIu64 ", %s): %s\n", "legal hold",
			       h->hold_id ? h->hold_id : "?", h->seq, h->holder ? h->holder : "?",
			       h->reason ? h->reason : "");
	}
	const struct ctl_open_incident *oi = ctl_open_incident_of(&rt->open, e->leaf.seq);
	if (oi)
		printf("%-24s kept while incident %" PRIu64 " is open (not reviewed)\n",
		       "open incident", oi->incident_seq);
}

static int show(const struct ctl *c, struct ctl_vault *cv, uint64_t seq)
{
	struct vault_entry e;
	struct ctl_payload p;
	struct retention rt = {0};
	_cleanup_(ctl_models_freep) struct ctl_models *m = ctl_models_new();
	_cleanup_(json_decrefp) json_t *bytes = NULL;
	int rc;

	if (!m)
		return ctl_vault_error(cv, "cannot show", -ENOMEM);
	rc = vault_get(cv->r, seq, &e);
	if (rc == -ENOENT)
		return ctl_no_entry(seq, vault_reader_size(cv->r));
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the entry", rc);
	bytes = bytes_json(&e);
	if (!bytes)
		return ctl_vault_error(cv, "cannot show", -ENOMEM);
	ctl_payload_decode(&e, &p);
	/* A record's model is registered before it. Loading renews the reader: from here on
	 * only the decoded payload and e's copied leaf fields are used, not e.payload's bytes. */
	if (ctl_payload_record(&p))
		rc = ctl_models_load(m, cv->r, 0, seq);
	if (rc >= 0)
		rc = retention_load(cv->r, &e, &rt);
	if (rc < 0) {
		rc = ctl_vault_error(cv, "cannot read model, prune and hold entries", rc);
	} else if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = show_json(&e, bytes, &rt, &p, m);
		rc = obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	} else {
		print_leaf(&e, bytes, &rt);
		putchar('\n');
		ctl_payload_print(stdout, &p, m);
	}
	retention_deinit(&rt);
	ctl_payload_deinit(&p);
	return rc;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	uint64_t seq;
	int rc;

	(void)argc;
	if (ctl_parse_u64("SEQ", argv[0], &seq))
		return CTL_EXIT_USAGE;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = show(c, &cv, seq);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_show = {
    .name = "show",
    .summary = "show one entry, decoded",
    .synopsis = "show SEQ",
    .description =
        "Prints entry SEQ: its leaf (type, time, leaf version, leaf hash, previous leaf\n"
        "hash, payload commitment and length), what pruned its payload (retention, erasure\n"
        "or other, the prune entry and its reason), what keeps it from being pruned (the\n"
        "active legal holds covering it, an open incident on a record), and its decoded\n"
        "payload.\n"
        "A record shows its model, request id, client and times, scores, decision,\n"
        "context, labels, trace id and data subject, and its features by name (NaN as\n"
        "\"missing\") next to the training range recorded in the model's manifest, marked\n"
        "with '!' when outside it. A model entry shows its whole manifest and lineage; a\n"
        "prune entry its target and reason; a hold or release entry the hold and the\n"
        "entries it covers; an erasure entry the request and what it pruned and kept; a\n"
        "payload of a type this build cannot decode its size and first 64 bytes in hex.\n"
        "\n"
        "The payload commitment is what the leaf holds for the payload: leaf version 1\n"
        "commits to SHA-256(payload), version 2 (what evidentd writes) to\n"
        "SHA-256(nonce || payload) with a random 16-byte nonce stored with the payload and\n"
        "pruned with it, so that once a payload is gone its leaf no longer confirms a\n"
        "guess of it.\n"
        "\n"
        "With --json: one object with seq, type, timestamp, timestamp_ns, leaf_hash,\n"
        "payload_sha256 (the commitment, whatever the version), payload_len, pruned,\n"
        "leaf_version, commitment (\"SHA-256(payload)\" or \"SHA-256(nonce || payload)\"),\n"
        "prev_hash, leaf_bytes (the 91-byte leaf, hex), while the payload is present\n"
        "payload_bytes (hex) and for version 2 payload_nonce (hex), once pruned \"prune\"\n"
        "(seq, time, timestamp_ns, cause, reason of the prune entry), \"holds\" (the\n"
        "hold_ids of the active holds covering it), open_incident (the open incident on a\n"
        "record, or null) and \"payload\", the decoded payload\n"
        "(for records \"features\" by name, value or null, and \"feature_values\" in\n"
        "manifest order).\n"
        "Anyone can check an entry without this program: SHA-256 of 0x00 || leaf_bytes is\n"
        "leaf_hash, and SHA-256 of payload_nonce || payload_bytes (version 2) or of\n"
        "payload_bytes (version 1) is payload_sha256.",
    .exit_status = "0  success\n"
                   "2  usage error, or there is no entry SEQ\n"
                   "3  the vault could not be read",
    .examples = "evidentctl show 42\n"
                "evidentctl show 42 --json | jq .payload.features\n"
                "evidentctl show 42 --json | jq -r '.payload_nonce + .payload_bytes' |\n"
                "    xxd -r -p | sha256sum",
    .long_options = options,
    .min_args = 1,
    .max_args = 1,
    .args_name = "SEQ",
    .run = run,
};
