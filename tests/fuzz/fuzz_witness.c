/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what evident-witness reads from others (tools/witness/witness.h): add-checkpoint
 * request bodies from any HTTP client, then the log's signature and the decision against
 * several latest states; and the same bytes as a trust file. Checks what the library promises,
 * not only that it does not crash. The corpus's valid bodies are signed by the key below (a
 * vault written by evident-sample with origin fuzz.example/witness). */
#include <stdlib.h>
#include <string.h>

#include "witness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vkey[] =
    "fuzz.example/witness+e27ae81f+AaP2EdNDrqDsawncQugx9ecPLoOXyMrpOpPsUYXgFXyb";

/* The decision against states whose verdict is known from the request alone. */
static void check_decisions(const struct witness_request *req)
{
	const struct vault_checkpoint *cp = &req->cp;
	struct witness_log_state st = {.known = false};
	enum witness_verdict v;

	v = witness_check(&st, req);
	if (v != (req->old_size == 0 ? WITNESS_COSIGN : WITNESS_STALE))
		abort();
	/* latest = this very tree head */
	st = (struct witness_log_state){.known = true, .size = cp->size};
	memcpy(st.root, cp->root, VAULT_HASH_LEN);
	v = witness_check(&st, req);
	if (req->old_size != cp->size ? v != WITNESS_STALE
	                              : v != (req->proof_len ? WITNESS_BAD_PROOF : WITNESS_COSIGN))
		abort();
	/* the same size, another root */
	st.root[0] ^= 1;
	if (witness_check(&st, req) != WITNESS_FORK)
		abort();
	/* a larger tree cosigned already */
	if (cp->size < UINT64_MAX) {
		st.size = cp->size + 1;
		if (witness_check(&st, req) != WITNESS_ROLLBACK)
			abort();
	}
	/* latest at the old size: whatever it decides is a verdict with a status */
	st = (struct witness_log_state){.known = req->old_size > 0, .size = req->old_size};
	v = witness_check(&st, req);
	if ((unsigned)v >= _WITNESS_VERDICT_MAX || !witness_verdict_name(v) ||
	    witness_verdict_status(v) < 200)
		abort();
}

static void check_request(const char *text, size_t size, const struct vault_pubkey *key)
{
	struct witness_request req;
	char err[WITNESS_ERR_MAX];
	int rc;

	err[0] = '\0';
	rc = witness_request_parse(text, size, &req, err, sizeof(err));
	if (rc < 0) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort(); /* every refusal says why */
		return;
	}
	if (req.proof_len > WITNESS_PROOF_MAX || req.old_size > req.cp.size ||
	    (req.old_size == 0 && req.proof_len > 0) || req.note < text ||
	    req.note + req.note_len != text + size || req.note_text_len >= req.note_len ||
	    req.note[req.note_text_len - 1] != '\n' || req.note[req.note_text_len] != '\n' ||
	    !req.cp.origin[0])
		abort();
	err[0] = '\0';
	rc = witness_request_verify(&req, key, key ? 1 : 0, err, sizeof(err));
	if (rc < 0 && !err[0])
		abort();
	check_decisions(&req);
}

static void check_trust(const char *text, size_t size)
{
	struct witness_trust t;
	const struct vault_pubkey *first;
	char err[WITNESS_ERR_MAX];

	err[0] = '\0';
	if (witness_trust_parse(text, size, "fuzz", &t, err, sizeof(err)) < 0) {
		if (strncmp(err, "fuzz:", 5) != 0)
			abort(); /* FILE:LINE:COLUMN: ... */
		return;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (t.keys[i].type != VAULT_KEY_ED25519 ||
		    (i > 0 && strcmp(t.keys[i - 1].name, t.keys[i].name) > 0))
			abort();
		size_t n = witness_trust_find(&t, t.keys[i].name, &first);
		if (n == 0 || first > &t.keys[i] || first + n <= &t.keys[i])
			abort();
	}
	witness_trust_deinit(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vault_pubkey key;
	bool have_key = vault_pubkey_parse(vkey, strlen(vkey), NULL, &key) == 0;

	check_request((const char *)data, size, have_key ? &key : NULL);
	check_trust((const char *)data, size);
	return 0;
}
