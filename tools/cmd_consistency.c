/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl consistency: the RFC 9162 consistency proof between two sizes of the vault's tree,
 * checked before it is printed: the proof an auditor holding an older checkpoint needs to see
 * that the newer tree extends it. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

/* A tree size of the vault, its root and the stored checkpoint of that size, if any. */
struct tree {
	uint64_t size;
	uint8_t root[VAULT_HASH_LEN];
	bool checkpoint; /* a stored checkpoint of this size, signed by the vault's key */
	bool latest;     /* ... and it is the latest */
};

/* Fills t for size (<= the vault's size). Returns 0 or an exit status (printed). */
static int tree_at(const struct ctl_vault *cv, uint64_t size, uint64_t latest, struct tree *t)
{
	_cleanup_(freep) char *note = NULL;
	struct vault_checkpoint cp;
	int rc;

	*t = (struct tree){.size = size};
	rc = vault_root(cv->r, size, t->root);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot compute the root", rc);
	rc = vault_checkpoint_get(cv->r, size, &note, &cp);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the checkpoint", rc);
	/* A checkpoint the entries or the key contradict is named, never passed over. */
	if (vault_checkpoint_parse(note, strlen(note), &cv->info.key, &cp) < 0) {
		ctl_error("%s: the stored checkpoint of size %" PRIu64 " is not validly signed by "
		          "the vault's key (run evidentctl verify)",
		          cv->dir, size);
		return CTL_EXIT_PROBLEM;
	}
	if (memcmp(cp.root, t->root, VAULT_HASH_LEN) != 0) {
		ctl_error("%s: the vault's first %" PRIu64
		          " entries do not produce the root of its "
		          "checkpoint of that size (run evidentctl verify)",
		          cv->dir, size);
		return CTL_EXIT_PROBLEM;
	}
	t->checkpoint = true;
	t->latest = size == latest;
	return 0;
}

static const char *tree_what(const struct tree *t)
{
	if (t->latest)
		return "the latest signed checkpoint";
	return t->checkpoint ? "a signed checkpoint" : "no stored checkpoint of this size";
}

static json_t *proof_json(const struct tree *old, const struct tree *new,
                          const uint8_t (*proof)[VAULT_HASH_LEN], size_t n)
{
	json_t *obj = json_object(), *arr = json_array();

	if (!obj || !arr) {
		json_decref(obj);
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, ctl_json_hex(proof[i], VAULT_HASH_LEN));
	ctl_json_set(obj, "old_size", ctl_json_u64(old->size));
	ctl_json_set(obj, "new_size", ctl_json_u64(new->size));
	ctl_json_set(obj, "old_root", ctl_json_hex(old->root, VAULT_HASH_LEN));
	ctl_json_set(obj, "new_root", ctl_json_hex(new->root, VAULT_HASH_LEN));
	ctl_json_set(obj, "proof", arr);
	return obj;
}

static void print_proof(const struct tree *old, const struct tree *new,
                        const uint8_t (*proof)[VAULT_HASH_LEN], size_t n)
{
	char hex[CTL_HEX_MAX];

	printf("%-10s %" PRIu64 " (%s)\n", "old size:", old->size, tree_what(old));
	printf("%-10s %s\n", "old root:", ctl_hex(old->root, VAULT_HASH_LEN, hex));
	printf("%-10s %" PRIu64 " (%s)\n", "new size:", new->size, tree_what(new));
	printf("%-10s %s\n", "new root:", ctl_hex(new->root, VAULT_HASH_LEN, hex));
	printf("%-10s %zu hash%s, verified (RFC 9162 consistency proof, old tree to new)\n",
	       "proof:", n, n == 1 ? "" : "es");
	for (size_t i = 0; i < n; i++)
		printf("%s\n", ctl_hex(proof[i], VAULT_HASH_LEN, hex));
}

static int consistency(const struct ctl *c, const struct ctl_vault *cv, uint64_t old_size,
                       bool has_new, uint64_t new_size)
{
	uint8_t proof[VAULT_PROOF_MAX][VAULT_HASH_LEN];
	const uint8_t(*cproof)[VAULT_HASH_LEN] = (const uint8_t(*)[VAULT_HASH_LEN])proof;
	uint64_t size = vault_reader_size(cv->r), latest = UINT64_MAX;
	struct vault_checkpoint cp;
	struct tree old, new;
	int rc, n;

	rc = vault_checkpoint_latest(cv->r, NULL, &cp);
	if (rc == 0)
		latest = cp.size;
	else if (rc != -ENOENT)
		return ctl_vault_error(cv, "cannot read the latest checkpoint", rc);
	if (!has_new) {
		if (latest == UINT64_MAX) {
			ctl_error("%s: the vault has no signed checkpoint yet: give NEW", cv->dir);
			return CTL_EXIT_PROBLEM;
		}
		new_size = latest;
	}
	if (new_size > size)
		return ctl_usage_error("consistency: NEW %" PRIu64 " is beyond the vault's %" PRIu64
		                       " entries",
		                       new_size, size);
	if (old_size > new_size)
		return ctl_usage_error("consistency: OLD %" PRIu64 " is larger than NEW %" PRIu64
		                       " (the latest signed checkpoint's size)",
		                       old_size, new_size);
	rc = tree_at(cv, old_size, latest, &old);
	if (rc == 0)
		rc = tree_at(cv, new_size, latest, &new);
	if (rc)
		return rc;
	n = vault_prove_consistency(cv->r, old_size, new_size, proof);
	if (n < 0)
		return ctl_vault_error(cv, "cannot build the proof", n);
	/* Hand out only proofs that check: a failure means the stored nodes are damaged. */
	if (vault_merkle_verify_consistency(old_size, new_size, old.root, new.root, cproof,
	                                    (size_t)n) < 0) {
		ctl_error("%s: the consistency proof from %" PRIu64 " to %" PRIu64 " does not "
		          "verify (run evidentctl verify)",
		          cv->dir, old_size, new_size);
		return CTL_EXIT_PROBLEM;
	}
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = proof_json(&old, &new, cproof, (size_t)n);
		return obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	print_proof(&old, &new, cproof, (size_t)n);
	return 0;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	uint64_t old_size, new_size = 0;
	int rc;

	if (ctl_parse_u64("OLD", argv[0], &old_size))
		return CTL_EXIT_USAGE;
	if (old_size == 0)
		return ctl_usage_error(
		    "consistency: OLD must be at least 1: the empty tree is "
		    "consistent with every tree, so a proof from it proves nothing");
	if (argc > 1 && ctl_parse_u64("NEW", argv[1], &new_size))
		return CTL_EXIT_USAGE;
	if (argc > 1 && old_size > new_size)
		return ctl_usage_error("consistency: OLD %" PRIu64 " is larger than NEW %" PRIu64,
		                       old_size, new_size);
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = consistency(c, &cv, old_size, argc > 1, new_size);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_consistency = {
    .name = "consistency",
    .summary = "prove that a larger tree extends a smaller one",
    .synopsis = "consistency OLD [NEW]",
    .description =
        "Prints the RFC 9162 consistency proof between the vault's tree of its first OLD\n"
        "entries and the tree of its first NEW (default: the size of the latest signed\n"
        "checkpoint): the hashes that let anyone holding the old root check that the new\n"
        "tree contains the old one unchanged, without the entries. The proof is checked\n"
        "(vault_merkle_verify_consistency) before it is printed.\n"
        "Prints both sizes and roots, whether each size is that of a signed checkpoint\n"
        "(a stored checkpoint of that size must be signed by the vault's key and carry\n"
        "the root its entries give, else exit 1), and the proof's hashes in hex, one per\n"
        "line, from the first step to the last.\n"
        "With --json: old_size, new_size, old_root, new_root (hex) and proof (hex hashes).\n"
        "OLD 0 is refused: the empty tree is consistent with every tree.",
    .exit_status = "0  the proof was built and verified\n"
                   "1  there is no checkpoint to default NEW to, a stored checkpoint of OLD or\n"
                   "   NEW does not match the entries, or the proof does not verify (damaged)\n"
                   "2  usage error: OLD or NEW not a number, OLD 0, OLD larger than NEW, NEW\n"
                   "   beyond the vault's entries\n"
                   "3  the vault could not be read",
    .examples = "evidentctl consistency 1000\n"
                "evidentctl consistency 1000 5000 --json | jq -r '.proof[]'",
    .long_options = options,
    .min_args = 1,
    .max_args = 2,
    .args_name = "OLD",
    .run = run,
};
