/* SPDX-License-Identifier: Apache-2.0 */
/* vault-cosign: a test witness without the witness server (never installed). Cosigns
 * checkpoints as c2sp.org/tlog-cosignature/v1 with a witness key (vault_signer_*), so that the
 * tests of evidentctl have cosignatures to count.
 *
 *   vault-cosign DIR --key FILE --name NAME [--size N] [--time UNIX]
 *       cosigns the stored checkpoint of size N (default: the latest) of the stopped vault in
 *       DIR, stores the cosignature beside it (vault_cosignature_add) and prints the witness's
 *       verifier key. The key file is created when missing.
 *   vault-cosign --key FILE --name NAME --note CHECKPOINT [--time UNIX]
 *       prints the signed note in CHECKPOINT with the cosignature line appended (a checkpoint
 *       kept elsewhere, cosigned).
 *   vault-cosign --key FILE --name NAME
 *       prints the witness's verifier key.
 *   vault-cosign DIR --quorum Q
 *       records the witness quorum Q in the stopped vault (vault_witness_quorum_set), as
 *       evidentd does from its configuration.
 *
 * --time sets the cosignature's timestamp (default: now), e.g. far in the future. Exit 0, 1 on
 * an error (printed), 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vault.h"

#define PROG "vault-cosign"

struct args {
	const char *dir, *key, *name, *note;
	uint64_t size, time, quorum;
	bool has_size, has_time, has_quorum;
};

static int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	return 1;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-';
}

static int usage(void)
{
	fprintf(stderr, "usage: " PROG " DIR --key FILE --name NAME [--size N] [--time UNIX]\n"
	                "       " PROG " --key FILE --name NAME [--note CHECKPOINT] [--time UNIX]\n"
	                "       " PROG " DIR --quorum Q\n");
	return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},
	    {"time", required_argument, NULL, 't'},
	    {"note", required_argument, NULL, 'N'},
	    {"quorum", required_argument, NULL, 'q'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'k':
			a->key = optarg;
			break;
		case 'n':
			a->name = optarg;
			break;
		case 'N':
			a->note = optarg;
			break;
		case 's':
			if (!parse_u64(optarg, &a->size))
				return usage();
			a->has_size = true;
			break;
		case 't':
			if (!parse_u64(optarg, &a->time))
				return usage();
			a->has_time = true;
			break;
		case 'q':
			if (!parse_u64(optarg, &a->quorum) || a->quorum > 255)
				return usage();
			a->has_quorum = true;
			break;
		default:
			return usage();
		}
	}
	if (optind < argc)
		a->dir = argv[optind++];
	if (optind < argc || (!a->has_quorum && (!a->key || !a->name)) ||
	    (a->has_quorum && (!a->dir || a->key)) || (a->note && a->dir))
		return usage();
	return 0;
}

/* The cosignature line of the note's body by s at the requested time into line. */
static int cosign(const struct vault_signer *s, const struct args *a, const char *note, char *line,
                  size_t size)
{
	size_t body_len;
	int rc = vault_note_split(note, strlen(note), &body_len);

	if (rc < 0)
		return fail("the checkpoint note", rc);
	rc = vault_signer_cosign(s, note, body_len, a->has_time ? a->time : (uint64_t)time(NULL),
	                         line, size);
	return rc < 0 ? fail("cosigning", rc) : 0;
}

static int read_note(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return fail(path, -errno);
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* Cosigns the vault's stored checkpoint and stores the cosignature. */
static int cosign_stored(const struct vault_signer *s, const struct args *a)
{
	char line[VAULT_SIGLINE_MAX + 1], *note = NULL;
	struct vault_reader *r = NULL;
	struct vault_checkpoint cp;
	struct vault *v;
	int rc;

	rc = vault_open(a->dir, VAULT_OPEN_WRITE, NULL, &v);
	if (rc < 0)
		return fail(a->dir, rc);
	rc = vault_reader_begin(v, &r);
	if (rc == 0)
		rc = a->has_size ? vault_checkpoint_get(r, a->size, &note, &cp)
		                 : vault_checkpoint_latest(r, &note, &cp);
	vault_reader_end(r);
	if (rc < 0) {
		vault_close(v);
		return fail("reading the checkpoint", rc);
	}
	rc = cosign(s, a, note, line, sizeof(line));
	free(note);
	if (rc == 0) {
		rc = vault_cosignature_add(v, cp.size, vault_signer_pubkey(s), line, strlen(line));
		rc = rc < 0 ? fail("storing the cosignature", rc) : 0;
	}
	vault_close(v);
	return rc;
}

static int set_quorum(const struct args *a)
{
	struct vault *v;
	int rc = vault_open(a->dir, VAULT_OPEN_WRITE, NULL, &v);

	if (rc < 0)
		return fail(a->dir, rc);
	rc = vault_witness_quorum_set(v, (unsigned)a->quorum);
	vault_close(v);
	return rc < 0 ? fail("recording the quorum", rc) : 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct vault_signer *s;
	char vkey[VAULT_ORIGIN_MAX + 64], note[VAULT_NOTE_MAX + 1], line[VAULT_SIGLINE_MAX + 1];
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc;
	if (a.has_quorum)
		return set_quorum(&a);
	rc = vault_signer_load(a.key, true, a.name, VAULT_KEY_COSIGNATURE_V1, &s);
	if (rc < 0)
		return fail(a.key, rc);
	if (a.note) {
		rc = read_note(a.note, note, sizeof(note));
		if (rc == 0)
			rc = cosign(s, &a, note, line, sizeof(line));
		if (rc == 0)
			printf("%s%s", note, line);
	} else {
		rc = a.dir ? cosign_stored(s, &a) : 0;
		if (rc == 0 && vault_pubkey_format(vault_signer_pubkey(s), vkey, sizeof(vkey)) >= 0)
			printf("%s\n", vkey);
	}
	vault_signer_free(s);
	return rc;
}
