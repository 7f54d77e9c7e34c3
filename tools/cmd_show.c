/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl show SEQ: one entry with its leaf fields and its payload decoded, a record's
 * features by name against the training ranges of its model's manifest. */
#include <errno.h>
#include <inttypes.h>

#include "ctl.h"

static json_t *show_json(const struct vault_entry *e, const struct ctl_payload *p,
                         const struct ctl_models *m)
{
	json_t *obj = ctl_entry_json(e);

	if (!obj)
		return NULL;
	ctl_json_set(obj, "leaf_version", json_integer(e->leaf.version));
	ctl_json_set(obj, "prev_hash", ctl_json_hex(e->leaf.prev_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "payload", ctl_payload_json(p, m));
	return obj;
}

static void print_leaf(const struct vault_entry *e)
{
	const char *type = vault_entry_type_name(e->leaf.type);
	char hex[CTL_HEX_MAX], t[CTL_TIME_MAX];

	printf("%-24s %" PRIu64 "\n", "seq", e->leaf.seq);
	printf("%-24s %s (%u)\n", "type", type ? type : "unknown", e->leaf.type);
	printf("%-24s %s (%" PRIu64 " ns)\n", "timestamp", ctl_time_format(e->leaf.timestamp_ns, t),
	       e->leaf.timestamp_ns);
	printf("%-24s %u\n", "leaf version", e->leaf.version);
	printf("%-24s %s\n", "leaf hash", ctl_hex(e->leaf_hash, VAULT_HASH_LEN, hex));
	printf("%-24s %s\n", "prev hash", ctl_hex(e->leaf.prev_hash, VAULT_HASH_LEN, hex));
	printf("%-24s %s\n", "payload sha256", ctl_hex(e->leaf.payload_hash, VAULT_HASH_LEN, hex));
	printf("%-24s %" PRIu64 " bytes%s\n", "payload length", e->leaf.payload_len,
	       e->payload ? "" : " (pruned)");
}

static int show(const struct ctl *c, struct ctl_vault *cv, uint64_t seq)
{
	struct vault_entry e;
	struct ctl_payload p;
	_cleanup_(ctl_models_freep) struct ctl_models *m = ctl_models_new();
	int rc;

	if (!m)
		return ctl_vault_error(cv, "cannot show", -ENOMEM);
	rc = vault_get(cv->r, seq, &e);
	if (rc == -ENOENT)
		return ctl_no_entry(seq, vault_reader_size(cv->r));
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the entry", rc);
	ctl_payload_decode(&e, &p);
	/* A record's model is registered before it. Loading renews the reader: from here on
	 * only the decoded payload and e's copied leaf fields are used, not e.payload's bytes. */
	if (ctl_payload_record(&p))
		rc = ctl_models_load(m, cv->r, 0, seq);
	if (rc < 0) {
		rc = ctl_vault_error(cv, "cannot read model entries", rc);
	} else if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = show_json(&e, &p, m);
		rc = obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	} else {
		print_leaf(&e);
		putchar('\n');
		ctl_payload_print(stdout, &p, m);
	}
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
        "Prints entry SEQ: its leaf (type, time, leaf hash, previous leaf hash,\n"
        "payload hash and length) and its decoded payload.\n"
        "A record shows its model, request id, client and times, scores, decision,\n"
        "context, labels and trace id, and its features by name (NaN as \"missing\")\n"
        "next to the training range recorded in the model's manifest, marked with '!'\n"
        "when outside it. A model entry shows its whole manifest and lineage; a prune\n"
        "entry its target and reason; a payload of a type this build cannot decode its\n"
        "size and first 64 bytes in hex.\n"
        "With --json: one object with seq, type, timestamp, timestamp_ns, leaf_hash,\n"
        "prev_hash, payload_sha256, payload_len, pruned and \"payload\", the decoded\n"
        "payload (for records \"features\" by name, value or null, and \"feature_values\"\n"
        "in manifest order).",
    .exit_status = "0  success\n"
                   "2  usage error, or there is no entry SEQ\n"
                   "3  the vault could not be read",
    .examples = "evidentctl show 42\n"
                "evidentctl show 42 --json | jq .payload.features",
    .long_options = options,
    .min_args = 1,
    .max_args = 1,
    .args_name = "SEQ",
    .run = run,
};
