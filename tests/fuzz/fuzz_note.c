/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: signed-note / checkpoint parsing and verifier key parsing (vault/note.c),
 * inputs an auditor receives from elsewhere. */
#include <stdlib.h>
#include <string.h>

#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed verifier key, so the signature path is exercised too. */
static const char vkey[] = "fuzz.example/log+aaa2ff6e+AdJi6Rcl1DRL2O9B0RI66wTAj33J/hAvcyGaIImreu/4";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vault_pubkey key, parsed;
	struct vault_checkpoint cp;
	const char *text = (const char *)data;
	bool have_key = vault_pubkey_parse(vkey, strlen(vkey), NULL, &key) == 0;

	if (vault_checkpoint_parse(text, size, NULL, &cp) == 0) {
		/* Bodies are canonical: formatting the parsed values gives the note's first lines
		 * back byte for byte (no leading zeros, strict base64). */
		char body[VAULT_ORIGIN_MAX + 128];
		int n = vault_checkpoint_body(&cp, body, sizeof(body));
		if (n < 0 || (size_t)n > size || memcmp(body, text, (size_t)n) != 0)
			abort();
	}
	if (have_key)
		(void)vault_checkpoint_parse(text, size, &key, &cp);
	if (vault_pubkey_parse(text, size, "default", &parsed) == 0) {
		char out[512];
		if (vault_pubkey_format(&parsed, out, sizeof(out)) < 0 && parsed.name[0])
			abort();
	}
	return 0;
}
