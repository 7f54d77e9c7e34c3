/* SPDX-License-Identifier: Apache-2.0 */
/* A strict JSON reader for model files (METHODS.md §2.2): one pass over untrusted bytes into a
 * flat array of tokens in document order, with numbers converted and strings decoded, and no
 * allocation per value. A container's members follow it; `next` skips its whole subtree.
 * Grammar as RFC 8259 (the top level an object or an array, at most 2048 levels deep), strings
 * valid UTF-8 without NUL; an integer must fit a long long and a real must not overflow; a
 * string, array or object of more than 2^29 - 1 bytes, elements or members is refused.
 * XGBoost's bare NaN, Infinity and -Infinity (outside strings) read as null. Not installed; for
 * the explain library's loaders. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum xj_type {
	XJ_NULL = 0,
	XJ_FALSE,
	XJ_TRUE,
	XJ_INT,
	XJ_REAL,
	XJ_STRING,
	XJ_ARRAY,
	XJ_OBJECT,
};

/* Sixteen bytes: the model's token array is the reader's memory, and fresh pages cost. */
#define XJ_MAX_SIZE ((1u << 29) - 1)

struct xj_tok {
	uint32_t next;     /* index of the first token after this one's subtree */
	uint32_t type : 3; /* enum xj_type */
	/* array: elements; object: members (key, value pairs); string: bytes; at most
	 * XJ_MAX_SIZE */
	uint32_t size : 29;
	union {
		long long i;   /* XJ_INT */
		double d;      /* XJ_REAL */
		const char *s; /* XJ_STRING: decoded, NUL-terminated, inside the document */
	} v;
};

struct xj_doc {
	struct xj_tok *tok; /* tok[0] is the top-level value */
	size_t n;
	char *strings; /* the decoded strings */
};

/* Reads data (len bytes, need not be NUL-terminated). Returns 0, or -EBADMSG with "line L,
 * column C: problem" in err (err_size bytes; columns count bytes from 1), or -ENOMEM (err
 * empty). On failure doc holds nothing to free. */
int xj_parse(struct xj_doc *doc, const char *data, size_t len, char *err, size_t err_size);
void xj_free(struct xj_doc *doc);

/* The value of key in an object token (the last one if repeated), or NULL (also when obj is
 * NULL or not an object). */
const struct xj_tok *xj_get(const struct xj_doc *doc, const struct xj_tok *obj, const char *key);

/* The token after t's subtree: an array's next element, or an object's next key. */
static inline const struct xj_tok *xj_skip(const struct xj_doc *doc, const struct xj_tok *t)
{
	return doc->tok + t->next;
}

static inline int xj_is_number(const struct xj_tok *t)
{
	return t && (t->type == XJ_INT || t->type == XJ_REAL);
}

/* A number's value as a double (an integer converted); 0 for anything else. */
static inline double xj_number(const struct xj_tok *t)
{
	return !t ? 0.0 : t->type == XJ_INT ? (double)t->v.i : t->type == XJ_REAL ? t->v.d : 0.0;
}

/* A string's bytes, or NULL. */
static inline const char *xj_string(const struct xj_tok *t)
{
	return t && t->type == XJ_STRING ? t->v.s : NULL;
}

/* Elements of an array (or members of an object), or 0. */
static inline size_t xj_size(const struct xj_tok *t, enum xj_type type)
{
	return t && t->type == type ? t->size : 0;
}
