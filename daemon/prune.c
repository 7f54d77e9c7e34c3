/* SPDX-License-Identifier: Apache-2.0 */
/* Batches of prunes (prune.h). */
#include "prune.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "entry_key.h"

static void clear(struct prune_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	l->n = 0;
}

int prune_list_add(struct prune_list *l, const struct vault_entry *e, const char *reason)
{
	char client[ENTRY_KEY_MAX], request[ENTRY_KEY_MAX];
	char *key = NULL;

	l->n_committed = 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct vault_prune_in *in = realloc(l->in, nc * sizeof(*in));
		if (in)
			l->in = in;
		struct vault_append_result *res = realloc(l->res, nc * sizeof(*res));
		if (res)
			l->res = res;
		char **keys = realloc(l->keys, nc * sizeof(*keys));
		if (keys)
			l->keys = keys;
		uint64_t *committed = realloc(l->committed, nc * sizeof(*committed));
		if (committed)
			l->committed = committed;
		if (!in || !res || !keys || !committed)
			return -ENOMEM;
		l->cap = nc;
	}
	/* a payload that does not decode has no key to remove (verify allows a pruned entry's
	 * key to stay) */
	if (entry_dedup_key(e->leaf.type, e->payload, e->payload_len, client, request) == 1) {
		size_t cl = strlen(client), rl = strlen(request);
		key = malloc(cl + rl + 2);
		if (!key)
			return -ENOMEM;
		memcpy(key, client, cl + 1);
		memcpy(key + cl + 1, request, rl + 1);
	}
	l->keys[l->n] = key;
	l->in[l->n] = (struct vault_prune_in){.seq = e->leaf.seq,
	                                      .reason = reason,
	                                      .dedup_client = key,
	                                      .dedup_request = key ? key + strlen(key) + 1 : NULL};
	l->n++;
	return 0;
}

long prune_list_commit(struct prune_list *l, struct vault *v)
{
	long pruned = 0;
	int rc = vault_prune_batch(v, l->in, l->n, l->res);

	if (rc == 0)
		for (size_t i = 0; i < l->n; i++) {
			pruned += !l->res[i].duplicate;
			l->committed[i] = l->in[i].seq;
		}
	l->n_committed = rc == 0 ? l->n : 0;
	clear(l);
	return rc < 0 ? rc : pruned;
}

void prune_list_deinit(struct prune_list *l)
{
	clear(l);
	free(l->in);
	free(l->res);
	free(l->keys);
	free(l->committed);
	*l = (struct prune_list){0};
}
