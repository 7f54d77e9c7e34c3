/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl prove and verify-proof: an inclusion proof bundle (C2SP tlog-proof plus the
 * entry's leaf, signed checkpoint and its witnesses' cosignatures attached) for one entry,
 * citing the newest checkpoint the witnesses have cosigned, and its offline verification by an
 * auditor who holds only the bundle, the vault's public key and the witnesses' keys. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

#define BUNDLE_READ_MAX (1u << 20) /* larger files are refused before parsing */

enum {
	ARG_CHECKPOINT = CTL_OPT_VERB,
	ARG_KEY,
	ARG_WITNESS_KEY,
	ARG_QUORUM,
};

static const char *arg_checkpoint, *arg_output, *arg_key;
static struct ctl_witnesses arg_witnesses;

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
	case ARG_WITNESS_KEY:
		return ctl_witnesses_add(&arg_witnesses, "verify-proof", arg);
	case ARG_QUORUM:
		return ctl_witnesses_set_quorum(&arg_witnesses, "verify-proof", arg);
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

/* The checkpoint a proof of entry seq cites: the newest one covering it with the witness
 * quorum evidentd works to (vault_witness_quorum) of stored cosignatures, else the newest
 * signed one, with a warning. *ret_quorum receives the quorum. */
static int checkpoint_cited(const struct ctl_vault *cv, uint64_t seq, char **ret_note,
                            struct vault_checkpoint *ret_cp, unsigned *ret_quorum)
{
	unsigned quorum;
	int rc = vault_witness_quorum(cv->r, &quorum);

	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the witness quorum", rc);
	*ret_quorum = quorum;
	if (quorum > 0) {
		rc = vault_checkpoint_witnessed(cv->r, seq, quorum, ret_note, ret_cp);
		if (rc != -ENOENT)
			return rc < 0
			           ? ctl_vault_error(cv, "cannot read the witnessed checkpoint", rc)
			           : 0;
	}
	rc = checkpoint_latest(cv, ret_note, ret_cp);
	if (rc == 0 && quorum > 0 && seq < ret_cp->size)
		ctl_error("warning: no checkpoint covering entry %" PRIu64 " has %u cosignature%s "
		          "yet; citing the newest signed checkpoint (size %" PRIu64 ")",
		          seq, quorum, quorum == 1 ? "" : "s", ret_cp->size);
	return rc;
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
                          unsigned quorum, const char *text)
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
	ctl_json_set(obj, "cosignatures", ctl_cosigs_json(b->note, b->note_len));
	ctl_json_set(obj, "witness_quorum", json_integer(quorum));
	ctl_json_set(obj, "bundle", ctl_json_string(text));
	return obj;
}

static int emit(const struct ctl *c, const struct vault_proof_bundle *b,
                const struct vault_checkpoint *cp, unsigned quorum)
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
		_cleanup_(json_decrefp) json_t *obj = prove_json(b, cp, quorum, text);
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
	unsigned quorum = 0;
	int rc;

	if (seq >= vault_reader_size(cv->r))
		return ctl_no_entry(seq, vault_reader_size(cv->r));
	rc = arg_checkpoint ? checkpoint_from_file(cv, arg_checkpoint, &b.note, &cp)
	                    : checkpoint_cited(cv, seq, &b.note, &cp, &quorum);
	if (rc)
		return rc;
	b.note_len = strlen(b.note);
	rc = build(cv, seq, &cp, &b);
	if (rc == 0)
		rc = emit(c, &b, &cp, quorum);
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

/* wit: the witnesses' verdict, when it is why the bundle failed (else NULL). */
static int failed(const struct ctl *c, const char *reason, const struct ctl_witness_check *wit)
{
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = json_object();
		if (obj) {
			ctl_json_set(obj, "ok", json_false());
			ctl_json_set(obj, "reason", json_string(reason));
			if (wit)
				ctl_json_set(obj, "witnesses",
				             ctl_witnesses_json(&arg_witnesses, wit));
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

/* wit: the witnesses' verdict when witness keys were given (else NULL). */
static int included(const struct ctl *c, const struct vault_proof_bundle *b,
                    const struct vault_leaf *leaf, const struct vault_checkpoint *cp,
                    const struct ctl_witness_check *wit)
{
	const char *type = vault_entry_type_name(leaf->type);
	char t[CTL_TIME_MAX], ph[CTL_HEX_MAX], root[CTL_HEX_MAX], buf[2048];
	uint8_t lh[VAULT_HASH_LEN];

	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = NULL;
		if (vault_hash_leaf(b->leaf, VAULT_LEAF_LEN, lh) == 0)
			obj = included_json(leaf, cp, lh);
		if (obj && wit)
			ctl_json_set(obj, "witnesses", ctl_witnesses_json(&arg_witnesses, wit));
		return obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	printf("OK: entry %" PRIu64 " (%s, %s, payload SHA-256 %s, %" PRIu64
	       " bytes) is included in the log %s of size %" PRIu64 " with root %s\n",
	       leaf->seq, type ? type : "unknown type", ctl_time_format(leaf->timestamp_ns, t),
	       ctl_hex(leaf->payload_hash, VAULT_HASH_LEN, ph), leaf->payload_len, cp->origin,
	       cp->size, ctl_hex(cp->root, VAULT_HASH_LEN, root));
	if (wit) {
		ctl_witnesses_text(&arg_witnesses, wit, buf, sizeof(buf));
		printf("witnesses: %s\n", buf);
	}
	return 0;
}

/* Checks the inclusion, then the witnesses' cosignatures of the checkpoint. */
static int check_bundle(const struct ctl *c, const struct vault_proof_bundle *b,
                        const struct vault_pubkey *key)
{
	struct ctl_witness_check wit;
	struct vault_checkpoint cp;
	struct vault_leaf leaf;
	char buf[2048], reason[2100];
	int rc;

	rc = vault_proof_bundle_verify(b, key, &cp, &leaf);
	if (rc < 0)
		return failed(c, refusal(b, rc), NULL);
	if (!arg_witnesses.n)
		return included(c, b, &leaf, &cp, NULL);
	rc = ctl_witnesses_check(&arg_witnesses, b->note, b->note_len, &wit);
	if (rc < 0)
		return failed(c, "the checkpoint's signature lines are malformed", NULL);
	if (!wit.ok) {
		ctl_witnesses_text(&arg_witnesses, &wit, buf, sizeof(buf));
		snprintf(reason, sizeof(reason),
		         "too few witnesses cosigned the checkpoint (size %" PRIu64 "): %s",
		         cp.size, buf);
		return failed(c, reason, &wit);
	}
	return included(c, b, &leaf, &cp, &wit);
}

static int run_verify_proof(const struct ctl *c, int argc, char **argv)
{
	_cleanup_(freep) char *text = NULL;
	struct vault_proof_bundle b;
	struct vault_pubkey key;
	char err[256], reason[512];
	size_t len;
	int rc;

	(void)argc;
	if (!arg_key)
		return ctl_usage_error("verify-proof: --key PUBKEY is required");
	rc = ctl_witnesses_load(&arg_witnesses, "verify-proof");
	if (rc)
		return rc;
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
		return c->json ? failed(c, reason, NULL) : CTL_EXIT_PROBLEM;
	}
	rc = check_bundle(c, &b, &key);
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
        "Builds the proof that entry SEQ is in the log. The bundle is the C2SP\n"
        "tlog-proof@v1 text: the entry's 91-byte leaf (seq, type, time, payload SHA-256\n"
        "and length, previous leaf hash) as \"extra\", the index, the proof hashes, a\n"
        "blank line and the signed checkpoint note with every witness cosignature the\n"
        "vault holds for it. Together with the vault's public key ('evidentctl\n"
        "checkpoint --key') and the witnesses' keys anyone can check it with\n"
        "'evidentctl verify-proof', without the vault.\n"
        "The checkpoint cited: when evidentd works to a witness quorum Q (its\n"
        "witness_quorum, recorded in the vault), the newest checkpoint covering SEQ that\n"
        "holds Q cosignatures; when none does yet, the newest signed checkpoint, with a\n"
        "warning on standard error (\"no checkpoint covering entry SEQ has Q\n"
        "cosignatures yet; ...\"): prove again once the witnesses have cosigned. Without\n"
        "a quorum, the newest signed checkpoint. --checkpoint FILE cites that one\n"
        "instead (signed by the vault's key, of at most the vault's size, with the\n"
        "vault's root at that size), cosignatures and all.\n"
        "With --json: seq, index, tree_size, leaf_hash, leaf (base64), proof (hex\n"
        "hashes), root, checkpoint (the note), cosignatures (the note's cosignature\n"
        "lines as {name, key_id, timestamp, timestamp_unix}, as the vault stored them),\n"
        "witness_quorum and bundle (the text).",
    .options = "--checkpoint FILE\n"
               "    Prove against this signed checkpoint instead of the one chosen above.\n"
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
    {"witness-key", required_argument, NULL, ARG_WITNESS_KEY},
    {"quorum", required_argument, NULL, ARG_QUORUM},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_verify_proof = {
    .name = "verify-proof",
    .summary = "check an inclusion proof bundle offline",
    .synopsis = "verify-proof FILE --key PUBKEY [--witness-key VKEY]... [--quorum K]",
    .description =
        "Checks a bundle made by 'evidentctl prove' without any vault: the checkpoint\n"
        "note is signed by PUBKEY, the leaf's seq equals the proof's index, and the\n"
        "proof leads from the leaf hash to the signed root. Prints \"OK: entry SEQ\n"
        "(TYPE, TIME, payload SHA-256 HEX, N bytes) is included in the log ORIGIN of\n"
        "size N with root HEX\" or \"FAILED: REASON\". FILE \"-\" reads standard input.\n"
        "A log's own signature proves nothing against whoever holds its key: they can\n"
        "sign a rewritten log too. Witnesses (c2sp.org/tlog-witness) cosign only a\n"
        "checkpoint consistent with every one they cosigned before, so a checkpoint\n"
        "cosigned by witnesses you trust is one the whole world sees. With\n"
        "--witness-key, the checkpoint must carry valid cosignatures\n"
        "(c2sp.org/tlog-cosignature/v1) by at least K of those witnesses (--quorum K,\n"
        "default: all of them), else the bundle fails, naming which witnesses cosigned\n"
        "and why the others do not count (no cosignature, a signature that does not\n"
        "verify over this checkpoint, a timestamp more than 10 minutes ahead of this\n"
        "clock). On success a second line names them: \"witnesses: N of M witnesses\n"
        "cosigned (quorum K): NAME (key HEXID) at TIME; ...\" (times in UTC).\n"
        "Cosignatures by other keys are ignored.\n"
        "With --json: ok, reason, the entry's fields (seq, type, timestamp,\n"
        "payload_sha256, leaf_hash, origin, tree_size, root, ...) and, with witness\n"
        "keys, witnesses {quorum, cosigned, ok, witnesses: [{name, key_id, cosigned,\n"
        "timestamp, timestamp_unix, problem}]}.",
    .options = "--key PUBKEY\n"
               "    The vault's verifier key: the C2SP line printed by 'evidentctl checkpoint\n"
               "    --key' (NAME+HEXID+BASE64) itself, or a file holding it or the PEM of\n"
               "    'checkpoint --pem'.\n"
               "--witness-key VKEY\n"
               "    A witness's verifier key (NAME+HEXID+BASE64 of type 0x04), or a file\n"
               "    holding it. May be given up to 32 times.\n"
               "--quorum K\n"
               "    How many of the witnesses given must have cosigned (default: the number\n"
               "    of --witness-key; 0 reports them without requiring any). Needs\n"
               "    --witness-key.",
    .exit_status = "0  the entry is included in the signed log (and the quorum cosigned it)\n"
                   "1  the bundle is malformed, not signed by the key, the proof is invalid,\n"
                   "   or fewer than K of the witnesses cosigned its checkpoint\n"
                   "2  usage error (--quorum without --witness-key or above their number, a\n"
                   "   witness key given twice)\n"
                   "3  the bundle or a key could not be read, or a key is malformed or of the\n"
                   "   wrong kind",
    .examples = "evidentctl verify-proof entry42.proof --key vault.vkey\n"
                "evidentctl verify-proof entry42.proof --key vault.pem --json\n"
                "evidentctl verify-proof entry42.proof --key vault.vkey \\\n"
                "    --witness-key w1.vkey --witness-key w2.vkey --quorum 1",
    .long_options = verify_proof_options,
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "FILE",
    .run = run_verify_proof,
};
