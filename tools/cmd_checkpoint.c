/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl checkpoint: the latest signed checkpoint note with the witnesses' cosignatures the
 * vault holds, or the vault's verifier key in C2SP or PEM form (to hand to auditors for
 * verify-proof). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

#define PEM_MAX 512

enum {
	ARG_KEY = CTL_OPT_VERB,
	ARG_PEM,
};

static bool arg_key, arg_pem;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	(void)arg;
	switch (opt) {
	case ARG_KEY:
		arg_key = true;
		return 0;
	case ARG_PEM:
		arg_pem = true;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

static int print_key(const struct ctl *c, const struct ctl_vault *cv)
{
	char text[PEM_MAX];
	int n = arg_pem ? vault_pubkey_pem(&cv->info.key, text, sizeof(text))
	                : vault_pubkey_format(&cv->info.key, text, sizeof(text));

	if (n < 0)
		return ctl_vault_error(cv, "cannot format the key", n);
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = json_object();
		if (!obj)
			return CTL_EXIT_UNREADABLE;
		ctl_json_set(obj, arg_pem ? "pem" : "key", json_string(text));
		return ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	/* The PEM text ends in a newline already. */
	printf(arg_pem ? "%s" : "%s\n", text);
	return 0;
}

static json_t *checkpoint_json(const struct ctl_vault *cv, const struct vault_checkpoint *cp,
                               const char *note)
{
	_cleanup_(freep) char *root64 = ctl_base64(cp->root, VAULT_HASH_LEN);
	char key[1024];
	json_t *obj = json_object();

	if (!obj || !root64) {
		json_decref(obj);
		return NULL;
	}
	ctl_json_set(obj, "origin", ctl_json_string(cp->origin));
	ctl_json_set(obj, "size", ctl_json_u64(cp->size));
	ctl_json_set(obj, "root", ctl_json_hex(cp->root, VAULT_HASH_LEN));
	ctl_json_set(obj, "root_base64", json_string(root64));
	ctl_json_set(obj, "note", ctl_json_string(note));
	if (vault_pubkey_format(&cv->info.key, key, sizeof(key)) >= 0)
		ctl_json_set(obj, "key", json_string(key));
	ctl_json_set(obj, "unsigned_entries", ctl_json_u64(vault_reader_size(cv->r) - cp->size));
	ctl_json_set(obj, "cosignatures", ctl_cosigs_json(note, strlen(note)));
	return obj;
}

static int print_checkpoint(const struct ctl *c, const struct ctl_vault *cv)
{
	_cleanup_(freep) char *note = NULL;
	struct vault_checkpoint cp;
	int rc;

	rc = ctl_latest_signed_checkpoint(cv, "", &note, &cp);
	if (rc)
		return rc;
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = checkpoint_json(cv, &cp, note);
		return obj && ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	fputs(note, stdout);
	return 0;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	int rc;

	(void)argc;
	(void)argv;
	if (arg_key && arg_pem)
		return ctl_usage_error("checkpoint: --key and --pem exclude each other");
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = arg_key || arg_pem ? print_key(c, &cv) : print_checkpoint(c, &cv);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"key", no_argument, NULL, ARG_KEY},
    {"pem", no_argument, NULL, ARG_PEM},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_checkpoint = {
    .name = "checkpoint",
    .summary = "print the latest signed checkpoint or the verifier key",
    .synopsis = "checkpoint [--key | --pem]",
    .description = "Prints the latest checkpoint stored in the vault verbatim: a C2SP signed note\n"
                   "whose body is a tlog-checkpoint (origin, tree size, base64 Merkle root),\n"
                   "signed with the vault's Ed25519 key, followed by every witness cosignature\n"
                   "(c2sp.org/tlog-cosignature/v1) the vault holds for it. Keep copies elsewhere:\n"
                   "'evidentctl verify --checkpoint FILE' then detects any later truncation or\n"
                   "rewrite, and with --witness-key checks the cosignatures.\n"
                   "With --json: origin, size, root (hex), root_base64, note, key (C2SP verifier\n"
                   "key), unsigned_entries (entries appended since) and cosignatures: the note's\n"
                   "cosignature lines as {name, key_id (hex), timestamp (UTC), timestamp_unix},\n"
                   "as the vault stored them (it checked each against its witness's key then;\n"
                   "verify --witness-key checks them against the keys you trust).",
    .options = "--key\n"
               "    Print the vault's verifier key (C2SP form NAME+ID+KEY) instead.\n"
               "--pem\n"
               "    Print the vault's public key as PEM (SubjectPublicKeyInfo) instead.",
    .exit_status = "0  success\n"
                   "1  the vault has no checkpoint yet, or it is not validly signed\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl checkpoint > saved.checkpoint\n"
                "evidentctl checkpoint --key > vault.vkey\n"
                "evidentctl checkpoint --pem > vault.pem",
    .long_options = options,
    .option = option,
    .run = run,
};
