/* SPDX-License-Identifier: Apache-2.0 */
/* A batch of payloads to prune, gathered on the writer thread by retention and by erasures and
 * committed in one vault_prune_batch transaction: each entry goes with its dedup key (derived
 * from its payload as verify derives it, entry_key.h), so that a later retry of that request
 * id is stored anew; the reasons are borrowed and must outlive the commit. Writer thread
 * only; errors are returned. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

struct prune_list {
	struct vault_prune_in *in;
	struct vault_append_result *res;
	char **keys; /* per entry: its dedup client and request, NULL when it has none */
	size_t n, cap;
	/* the seqs the last successful commit covered (until the next prune_list_add) */
	uint64_t *committed;
	size_t n_committed;
};

/* Adds entry e (its payload present, read through a reader that is still open) with reason
 * (at most 1024 bytes, borrowed). Returns 0 or -ENOMEM. */
int prune_list_add(struct prune_list *l, const struct vault_entry *e, const char *reason);
/* Prunes every entry added, in one transaction, and empties the list (l->committed lists
 * their seqs). Returns the number of payloads pruned (entries already pruned are skipped), or
 * vault_prune_batch's error (nothing was pruned). */
long prune_list_commit(struct prune_list *l, struct vault *v);
void prune_list_deinit(struct prune_list *l);
