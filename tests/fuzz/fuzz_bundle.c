/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: inclusion proof bundles (vault/bundle.c) as `evidentctl verify-proof` reads
 * them, through parsing, formatting again and full verification. */
#include <stdlib.h>
#include <string.h>

#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vkey[] = "fuzz.example/log+aaa2ff6e+AdJi6Rcl1DRL2O9B0RI66wTAj33J/hAvcyGaIImreu/4";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vault_proof_bundle b;
	struct vault_pubkey key;
	char err[200];

	if (vault_proof_bundle_parse_detail((const char *)data, size, &b, err, sizeof(err)) != 0)
		return 0;
	/* round trip: formatting a parsed bundle gives text that parses identically */
	char *text = NULL;
	int n = vault_proof_bundle_format(&b, &text);
	if (n < 0)
		abort();
	struct vault_proof_bundle again;
	if (vault_proof_bundle_parse(text, (size_t)n, &again) != 0 || again.index != b.index ||
	    again.proof_len != b.proof_len || memcmp(again.leaf, b.leaf, VAULT_LEAF_LEN) != 0 ||
	    again.note_len != b.note_len || memcmp(again.note, b.note, b.note_len) != 0)
		abort();
	vault_proof_bundle_deinit(&again);
	free(text);
	if (vault_pubkey_parse(vkey, strlen(vkey), NULL, &key) == 0)
		(void)vault_proof_bundle_verify(&b, &key, NULL, NULL);
	vault_proof_bundle_deinit(&b);
	return 0;
}
