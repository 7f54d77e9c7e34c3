/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl prove and verify-proof: an inclusion proof bundle (C2SP tlog-proof plus the
 * entry's leaf, signed checkpoint attached) for one entry, and its offline verification by an
 * auditor who holds only the bundle and the vault's public key. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

#define BUNDLE_READ_MAX (1u << 20) /* larger files are refused before parsing */

enum {
	ARG_CHECKPOINT = CTL_OPT_VERB,
	ARG_KEY,
};

static const char *arg_checkpoint, *arg_output, *arg_key;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_CHECKPOINT:
		arg_checkpoint = arg;
		return 0;
	case ARG_KEY:
		arg_key = arg;
		return 0;
	case 'o':
		arg_output = arg;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------ prove */

/* The checkpoint in file path (--checkpoint), which must be this vault's and match its entries. */
static int checkpoint_from_file(const struct ctl_vault *cv, const char *path, char **ret_note,
                                struct vault_checkpoint *ret_cp)
{
	_cleanup_(freep) char *note = NULL;
	uint8_t root[VAULT_HASH_LEN];
	uint64_t size = vault_reader_size(cv->r);
	size_t len;
	int rc;

	rc = ctl_read_file(path, VAULT_NOTE_MAX, &note, &len);
	if (rc < 0)
		return ctl_file_error(path, rc);
	rc = vault_checkpoint_parse(note, len, &cv->info.key, ret_cp);
	if (rc == -EBADMSG) {
		ctl_error("%s: not a signed checkpoint note", path);
		return CTL_EXIT_UNREADABLE;
	}
	if (rc < 0) {
		ctl_error("%s: %s", path,
		          rc == -ENOKEY ? "not signed by this vault's key" : "signature invalid");
		return CTL_EXIT_PROBLEM;
	}
	if (strcmp(ret_cp->origin, cv->info.origin) != 0) {
		ctl_error("%s: checkpoint of \"%s\", not of this vault (\"%s\")", path,
		          ret_cp->origin, cv->info.origin);
		return CTL_EXIT_PROBLEM;
	}
	if (ret_cp->size > size) {
		ctl_error("%s: the checkpoint covers %" PRIu64 " entries but the vault holds only "
		          "%" PRIu64 " (run evidentctl verify --checkpoint %s)",
		          path, ret_cp->size, size, path);
		return CTL_EXIT_PROBLEM;
	}
	rc = vault_root(cv->r, ret_cp->size, root);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot compute the root", rc);
	if (memcmp(root, ret_cp->root, VAULT_HASH_LEN) != 0) {
		ctl_error("%s: the vault's entries do not produce the checkpoint's root (run "
		          "evidentctl verify --checkpoint %s)",
		          path, path);
		return CTL_EXIT_PROBLEM;
	}
	*ret_note = note;
	note = NULL;
	return 0;
}

static int checkpoint_latest(const struct ctl_vault *cv, char **ret_note,
                             struct vault_checkpoint *ret_cp)
{
	int rc = vault_checkpoint_latest(cv->r, ret_note, ret_cp);

	if (rc == -ENOENT) {
		ctl_error("%s: the vault has no signed checkpoint yet", cv->dir);
		return CTL_EXIT_PROBLEM;
	}
	return rc < 0 ? ctl_vault_error(cv, "cannot read the latest checkpoint", rc) : 0;
}

/* Fills b (which takes note) for entry seq in the tree of cp. Returns 0 or an exit status. */
static int build(const struct ctl_vault *cv, uint64_t seq, const struct vault_checkpoint *cp,
                 struct vault_proof_bundle *b)
{
	struct vault_entry e;
	int rc, n;

	if (seq >= cp->size) {
		ctl_error("entry %" PRIu64 " is not covered by checkpoint of size %" PRIu64 " yet",
		          seq, cp->size);
		return CTL_EXIT_PROBLEM;
	}
	rc = vault_get(cv->r, seq, &e);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the entry", rc);
	vault_leaf_encode(&e.leaf, b->leaf);
	b->index = seq;
	n = vault_prove_inclusion(cv->r, seq, cp->size, b->proof);
	if (n < 0)
		return ctl_vault_error(cv, "cannot build the proof", n);
	b->proof_len = (size_t)n;
	/* Hand out only proofs that check: a failure here means the vault is damaged. */
	if (vault_proof_bundle_verify(b, &cv->info.key, NULL, NULL) < 0) {
		ctl_error("%s: the proof of entry %" PRIu64 " does not lead to the checkpoint's "
		          "root (run evidentctl verify)",
		          cv->dir, seq);
		return CTL_EXIT_PROBLEM;
	}
	return 0;
}

static json_t *prove_json(const struct vault_proof_bundle *b, const struct vault_checkpoint *cp,
                          const char *text)
{
	_cleanup_(freep) char *leaf64 = ctl_base64(b->leaf, VAULT_LEAF_LEN);
	uint8_t lh[VAULT_HASH_LEN];
	json_t *obj = json_object(), *proof = json_array();

	if (!obj || !proof || !leaf64 || vault_hash_leaf(b->leaf, VAULT_LEAF_LEN, lh) < 0) {
		json_decref(obj);
		json_decref(proof);
		return NULL;
	}
	for (size_t i = 0; i < b->proof_len; i++)
		json_array_append_new(proof, ctl_json_hex(b->proof[i], VAULT_HASH_LEN));
	ctl_json_set(obj, "seq", ctl_json_u64(b->index));
	ctl_json_set(obj, "index", ctl_json_u64(b->index));
	ctl_json_set(obj, "tree_size", ctl_json_u64(cp->size));
	ctl_json_set(obj, "leaf_hash", ctl_json_hex(lh, VAULT_HASH_LEN));
	ctl_json_set(obj, "leaf", json_string(leaf64));
	ctl_json_set(obj, "proof", proof);
	ctl_json_set(obj, "root", ctl_json_hex(cp->root, VAULT_HASH_LEN));
	ctl_json_set(obj, "checkpoint", ctl_json_string(b->note));
	ctl_json_set(obj, "bundle", ctl_json_string(text));
	return obj;
}

static int emit(const struct ctl *c, const struct vault_proof_bundle *b,
                const struct vault_checkpoint *cp)
{
	_cleanup_(freep) char *text = NULL;
	struct ctl_out out;
	int rc;

	if (vault_proof_bundle_format(b, &text) < 0) {
		ctl_error("out of memory");
		return CTL_EXIT_UNREADABLE;
	}
	if (arg_output) {
		rc = ctl_out_open(&out, arg_output);
		if (rc)
			return rc;
		fputs(text, out.f);
		rc = ctl_out_commit(&out);
		if (rc)
			return rc;
	}
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = prove_json(b, cp, text);
		return obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	if (arg_output)
		printf("wrote the proof of entry %" PRIu64 " in the tree of size %" PRIu64
		       " to %s\n",
		       b->index, cp->size, arg_output);
	else
		fputs(text, stdout);
	return 0;
}

static int prove(const struct ctl *c, const struct ctl_vault *cv, uint64_t seq)
{
	struct vault_proof_bundle b = {0};
	struct vault_checkpoint cp;
	int rc;

	if (seq >= vault_reader_size(cv->r))
		return ctl_no_entry(seq, vault_reader_size(cv->r));
	rc = arg_checkpoint ? checkpoint_from_file(cv, arg_checkpoint, &b.note, &cp)
	                    : checkpoint_latest(cv, &b.note, &cp);
	if (rc)
		return rc;
	b.note_len = strlen(b.note);
	rc = build(cv, seq, &cp, &b);
	if (rc == 0)
		rc = emit(c, &b, &cp);
	vault_proof_bundle_deinit(&b);
	return rc;
}

static int run_prove(const struct ctl *c, int argc, char **argv)
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
	rc = prove(c, &cv, seq);
	ctl_vault_close(&cv);
	return rc;
}

/* ------------------------------------------------------------------ verify-proof */

/* Why vault_proof_bundle_verify refused b. */
static const char *refusal(const struct vault_proof_bundle *b, int rc)
{
	struct vault_leaf leaf;

	switch (rc) {
	case -ENOKEY:
		return "the checkpoint is not signed by this key";
	case -EKEYREJECTED:
		return "the checkpoint's signature is invalid";
	case -EBADMSG:
		if (vault_leaf_decode(b->leaf, VAULT_LEAF_LEN, &leaf) < 0)
			return "the entry's leaf does not decode";
		if (leaf.seq != b->index)
			return "the leaf's seq does not match the proof's index";
		return "the proof does not lead to the signed root";
	default:
		return strerror(-rc);
	}
}

static int failed(const struct ctl *c, const char *reason)
{
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = json_object();
		if (obj) {
			ctl_json_set(obj, "ok", json_false());
			ctl_json_set(obj, "reason", json_string(reason));
			ctl_json_print(stdout, obj, false);
		}
	} else {
		printf("FAILED: %s\n", reason);
	}
	return CTL_EXIT_PROBLEM;
}

static json_t *included_json(const struct vault_leaf *leaf, const struct vault_checkpoint *cp,
                             const uint8_t leaf_hash[VAULT_HASH_LEN])
{
	const char *type = vault_entry_type_name(leaf->type);
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "ok", json_true());
	ctl_json_set(obj, "reason", json_null());
	ctl_json_set(obj, "seq", ctl_json_u64(leaf->seq));
	ctl_json_set(obj, "type", type ? json_string(type) : json_integer(leaf->type));
	ctl_json_set(obj, "timestamp", ctl_json_time(leaf->timestamp_ns));
	ctl_json_set(obj, "timestamp_ns", ctl_json_u64(leaf->timestamp_ns));
	ctl_json_set(obj, "payload_sha256", ctl_json_hex(leaf->payload_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "payload_len", ctl_json_u64(leaf->payload_len));
	ctl_json_set(obj, "leaf_hash", ctl_json_hex(leaf_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "origin", ctl_json_string(cp->origin));
	ctl_json_set(obj, "tree_size", ctl_json_u64(cp->size));
	ctl_json_set(obj, "root", ctl_json_hex(cp->root, VAULT_HASH_LEN));
	return obj;
}

static int included(const struct ctl *c, const struct vault_proof_bundle *b,
                    const struct vault_leaf *leaf, const struct vault_checkpoint *cp)
{
	const char *type = vault_entry_type_name(leaf->type);
	char t[CTL_TIME_MAX], ph[CTL_HEX_MAX], root[CTL_HEX_MAX];
	uint8_t lh[VAULT_HASH_LEN];

	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = NULL;
		if (vault_hash_leaf(b->leaf, VAULT_LEAF_LEN, lh) == 0)
			obj = included_json(leaf, cp, lh);
		return obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	printf("OK: entry %" PRIu64 " (%s, %s, payload SHA-256 %s, %" PRIu64
	       " bytes) is included in the log %s of size %" PRIu64 " with root %s\n",
	       leaf->seq, type ? type : "unknown type", ctl_time_format(leaf->timestamp_ns, t),
	       ctl_hex(leaf->payload_hash, VAULT_HASH_LEN, ph), leaf->payload_len, cp->origin,
	       cp->size, ctl_hex(cp->root, VAULT_HASH_LEN, root));
	return 0;
}

static int run_verify_proof(const struct ctl *c, int argc, char **argv)
{
	_cleanup_(freep) char *text = NULL;
	struct vault_proof_bundle b;
	struct vault_pubkey key;
	struct vault_checkpoint cp;
	struct vault_leaf leaf;
	char err[256], reason[512];
	size_t len;
	int rc;

	(void)argc;
	if (!arg_key)
		return ctl_usage_error("verify-proof: --key PUBKEY is required");
	rc = ctl_load_key(arg_key, NULL, VAULT_KEY_ED25519, &key);
	if (rc)
		return rc;
	rc = ctl_read_file(argv[0], BUNDLE_READ_MAX, &text, &len);
	if (rc < 0)
		return ctl_file_error(argv[0], rc);
	rc = vault_proof_bundle_parse_detail(text, len, &b, err, sizeof(err));
	if (rc == -ENOMEM)
		return ctl_file_error(argv[0], rc);
	if (rc < 0) {
		ctl_error("%s: %s", argv[0], err);
		snprintf(reason, sizeof(reason), "%s: %s", argv[0], err);
		return c->json ? failed(c, reason) : CTL_EXIT_PROBLEM;
	}
	rc = vault_proof_bundle_verify(&b, &key, &cp, &leaf);
	rc = rc < 0 ? failed(c, refusal(&b, rc)) : included(c, &b, &leaf, &cp);
	vault_proof_bundle_deinit(&b);
	return rc;
}

static const struct option prove_options[] = {
    {"checkpoint", required_argument, NULL, ARG_CHECKPOINT},
    {"output", required_argument, NULL, 'o'},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_prove = {
    .name = "prove",
    .summary = "build an inclusion proof bundle for one entry",
    .synopsis = "prove SEQ [--checkpoint FILE] [-o FILE]",
    .description =
        "Builds the proof that entry SEQ is in the log, against the latest checkpoint\n"
        "stored in the vault or the one in --checkpoint FILE (signed by the vault's\n"
        "key, of at most the vault's size, with the vault's root at that size). The\n"
        "bundle is the C2SP tlog-proof@v1 text: the entry's 91-byte leaf (seq, type,\n"
        "time, payload SHA-256 and length, previous leaf hash) as \"extra\", the index,\n"
        "the proof hashes, a blank line and the signed checkpoint note. Together with\n"
        "the vault's public key ('evidentctl checkpoint --key') anyone can check it\n"
        "with 'evidentctl verify-proof', without the vault.\n"
        "With --json: seq, index, tree_size, leaf_hash, leaf (base64), proof (hex\n"
        "hashes), root, checkpoint (the note) and bundle (the text).",
    .options = "--checkpoint FILE\n"
               "    Prove against this signed checkpoint instead of the latest stored one.\n"
               "-o, --output FILE\n"
               "    Write the bundle to FILE (atomically) instead of standard output.",
    .exit_status = "0  success\n"
                   "1  the entry is not covered by the checkpoint yet, or the checkpoint is\n"
                   "   not this vault's, or does not match its entries\n"
                   "2  usage error, or there is no entry SEQ\n"
                   "3  the vault or the checkpoint file could not be read",
    .examples = "evidentctl prove 42 -o entry42.proof\n"
                "evidentctl prove 42 --checkpoint saved.checkpoint --json",
    .short_options = "o:",
    .long_options = prove_options,
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "SEQ",
    .run = run_prove,
};

static const struct option verify_proof_options[] = {
    {"key", required_argument, NULL, ARG_KEY},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_verify_proof = {
    .name = "verify-proof",
    .summary = "check an inclusion proof bundle offline",
    .synopsis = "verify-proof FILE --key PUBKEY",
    .description = "Checks a bundle made by 'evidentctl prove' without any vault: the checkpoint\n"
                   "note is signed by PUBKEY, the leaf's seq equals the proof's index, and the\n"
                   "proof leads from the leaf hash to the signed root. Prints \"OK: entry SEQ\n"
                   "(TYPE, TIME, payload SHA-256 HEX, N bytes) is included in the log ORIGIN of\n"
                   "size N with root HEX\" or \"FAILED: REASON\". FILE \"-\" reads standard input.",
    .options = "--key PUBKEY\n"
               "    File holding the vault's verifier key: the C2SP line printed by\n"
               "    'evidentctl checkpoint --key', or the PEM of 'checkpoint --pem'.",
    .exit_status = "0  the entry is included in the signed log\n"
                   "1  the bundle is malformed, not signed by the key, or the proof is invalid\n"
                   "2  usage error\n"
                   "3  the bundle or the key file could not be read, or the key is malformed",
    .examples = "evidentctl verify-proof entry42.proof --key vault.vkey\n"
                "evidentctl verify-proof entry42.proof --key vault.pem --json",
    .long_options = verify_proof_options,
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "FILE",
    .run = run_verify_proof,
};
