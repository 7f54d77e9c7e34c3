/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: signed-note / checkpoint parsing, witness cosignature verification and
 * verifier key parsing (vault/note.c): inputs an auditor receives from elsewhere, and what
 * evidentd reads back from a witness (its answer appended to a checkpoint). */
#include <stdlib.h>
#include <string.h>

#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed verifier key, so the signature path is exercised too. */
static const char vkey[] = "fuzz.example/log+aaa2ff6e+AdJi6Rcl1DRL2O9B0RI66wTAj33J/hAvcyGaIImreu/4";
/* A witness key (type 0x04) whose cosignatures the seed corpus holds (cosig-* seeds). */
static const char wkey[] =
    "fuzz.example/witness+bd20bcaa+BIsgKlhhI6LhgEndrFgCgbnY+NKdXKYvnavzkL/7vP61";

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
	struct vault_pubkey w[2];
	struct vault_cosig_check chk[2];
	size_t body_len;
	if (vault_pubkey_parse(wkey, strlen(wkey), NULL, &w[0]) == 0 && have_key) {
		w[1] = key; /* a log key never counts as a witness */
		int n = vault_cosignatures_verify(text, size, w, 2, 1800000000, chk);
		if (n > 1 || (n >= 0 && chk[1].valid))
			abort();
		if (n == 1) {
			/* the line found lies after the body and is a whole signature line */
			if (vault_note_split(text, size, &body_len) < 0 ||
			    chk[0].line_off <= body_len ||
			    chk[0].line_off + chk[0].line_len > size ||
			    memcmp(text + chk[0].line_off, "\xe2\x80\x94 ", 4) != 0 ||
			    text[chk[0].line_off + chk[0].line_len - 1] != '\n')
				abort();
		}
	}
	if (vault_pubkey_parse(text, size, "default", &parsed) == 0) {
		char out[512];
		if (vault_pubkey_format(&parsed, out, sizeof(out)) < 0 && parsed.name[0])
			abort();
	}
	return 0;
}
