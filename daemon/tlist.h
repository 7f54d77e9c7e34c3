/* SPDX-License-Identifier: Apache-2.0 */
/* Lists kept in time order, for timeouts: a node is (re)appended with the loop's time (uv_now,
 * ms), so with one timeout per list the head always has the earliest deadline and one timer
 * at the head's deadline serves the whole list. The owner of a list arms that timer; a node
 * is embedded in what it times (NODE_OF gets that back). No allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tlist;
struct tnode {
	struct tnode *prev, *next;
	struct tlist *list; /* NULL: in no list */
	uint64_t since;
};
struct tlist {
	struct tnode *head, *tail;
};

/* The struct of the given type whose member field is the node n. */
#define NODE_OF(n, type, field) ((type *)(void *)((char *)(n)-offsetof(type, field)))

/* Takes n out of its list (nothing when it is in none). */
static inline void tlist_remove(struct tnode *n)
{
	struct tlist *l = n->list;

	if (!l)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
	n->list = NULL;
}

/* (Re)appends n to l stamped now. Returns true when l was empty: the only change that can
 * bring the list's earliest deadline forward, so the owner arms its timer then. */
static inline bool tlist_append(struct tlist *l, struct tnode *n, uint64_t now)
{
	bool was_empty;

	tlist_remove(n);
	was_empty = !l->head;
	n->since = now;
	n->list = l;
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	return was_empty;
}
