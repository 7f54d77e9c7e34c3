/* SPDX-License-Identifier: Apache-2.0 */
/* LMDB page-format checker: see lmdbcheck.h. Written from LMDB 0.9's documented on-disk
 * structures (mdb.c's MDB_page, MDB_node, MDB_db and MDB_meta) and the checks its read paths
 * leave out (mdb_page_get trusts any page number below the last page, mdb_node_read any node
 * offset and size, mdb_page_search_root asserts that branch pages have two nodes and
 * mdb_cursor_sibling that a leaf's parent is a branch page). */
#include "lmdbcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* pgno_t, txnid_t and size_t fields are size_t wide (LMDB 0.9 without MDB_VL32). */
#define W sizeof(size_t)
_Static_assert(sizeof(size_t) == 8 || sizeof(size_t) == 4, "LMDB layout: 32 or 64 bits");

#define PAGEHDRSZ (W + 8) /* pgno, pad u16, flags u16, lower u16 + upper u16 | pages u32 */
#define PH_FLAGS  (W + 2)
#define PH_LOWER  (W + 4)
#define PH_UPPER  (W + 6)
#define PH_PAGES  (W + 4)
#define NODESIZE  8 /* lo u16, hi u16, flags u16, ksize u16 */

#define DB_SIZE     (8 + 5 * W) /* MDB_db: pad u32, flags u16, depth u16, 3 page counts, ... */
#define DB_FLAGS    4
#define DB_DEPTH    6
#define DB_BRANCH   8
#define DB_LEAF     (8 + W)
#define DB_ENTRIES  (8 + 3 * W)
#define DB_ROOT     (8 + 4 * W)
#define META_DBS    (8 + 2 * W) /* after magic u32, version u32, address, mapsize */
#define META_MAPSZ  (8 + W)
#define META_LASTPG (META_DBS + 2 * DB_SIZE)
#define META_TXNID  (META_LASTPG + W)
#define META_SIZE   (META_TXNID + W)
#define FREE_DB     0
#define MAIN_DB     1

#define P_BRANCH   0x01
#define P_LEAF     0x02
#define P_OVERFLOW 0x04
#define P_META     0x08
#define F_BIGDATA  0x01
#define F_SUBDATA  0x02

#define LMDB_MAGIC        0xBEEFC0DEu
#define LMDB_DATA_VERSION 1
#define PSIZE_MIN         512
#define PSIZE_MAX         0x8000       /* LMDB 0.9's MAX_PAGESIZE */
#define MAX_DEPTH         32           /* LMDB's cursor stack: deeper trees cannot be read */
#define MAP_MAX           (1ull << 46) /* no map is larger: a bigger size is damage */
#define NAME_MAX_SHOWN    40
#define SMALL_TREE        64 /* pages of a database checked whole when a snapshot opens */

static const uint64_t pgno_invalid = W == 8 ? UINT64_MAX : UINT32_MAX;

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rdw(const uint8_t *p)
{
	size_t v;
	memcpy(&v, p, W);
	return v;
}

static int say(char *err, size_t size, int rc, uint64_t page, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int say(char *err, size_t size, int rc, uint64_t page, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !size)
		return rc;
	n = snprintf(err, size, "page %" PRIu64 ": ", page);
	if (n >= 0 && (size_t)n < size) {
		va_start(ap, fmt);
		vsnprintf(err + n, size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Reads len bytes at off. Returns 0, -ENODATA when the file ends first, or -errno. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------------ meta pages */

static bool is_meta(const uint8_t *pg, unsigned i)
{
	return rdw(pg) == i && rd16(pg + PH_FLAGS) == P_META && rd32(pg + PAGEHDRSZ) == LMDB_MAGIC;
}

static bool psize_valid(uint32_t psize)
{
	return psize >= PSIZE_MIN && psize <= PSIZE_MAX && (psize & (psize - 1)) == 0;
}

/* Checks one meta page's header and content; psize is meta page 0's. */
static int check_meta(const uint8_t *pg, unsigned i, uint32_t psize, char *err, size_t size)
{
	const uint8_t *m = pg + PAGEHDRSZ, *main = m + META_DBS + MAIN_DB * DB_SIZE;
	uint64_t last = rdw(m + META_LASTPG), root = rdw(main + DB_ROOT);
	uint16_t depth = rd16(main + DB_DEPTH);

	if (!is_meta(pg, i))
		return say(err, size, -EUCLEAN, i,
		           "not an LMDB meta page (page number, flags or magic)");
	if (rd32(m + 4) != LMDB_DATA_VERSION)
		return say(err, size, -EUCLEAN, i, "LMDB data version %" PRIu32 ", not %d",
		           rd32(m + 4), LMDB_DATA_VERSION);
	if (rd32(m + META_DBS + FREE_DB * DB_SIZE) != psize)
		return say(err, size, -EUCLEAN, i,
		           "page size %" PRIu32 ", meta page 0 says %" PRIu32,
		           rd32(m + META_DBS + FREE_DB * DB_SIZE), psize);
	if (last < 1 || last >= MAP_MAX / psize)
		return say(err, size, -EUCLEAN, i, "last page %" PRIu64 " is impossible", last);
	if (rdw(m + META_MAPSZ) > MAP_MAX)
		return say(err, size, -EUCLEAN, i, "map size %" PRIu64 " is impossible",
		           rdw(m + META_MAPSZ));
	if (rd16(main + DB_FLAGS) != 0)
		return say(err, size, -EUCLEAN, i, "main database flags %#x (the vault sets none)",
		           rd16(main + DB_FLAGS));
	if (root == pgno_invalid ? depth != 0 || rdw(main + DB_ENTRIES) != 0
	                         : root < 2 || root > last || depth < 1 || depth > MAX_DEPTH)
		return say(err, size, -EUCLEAN, i,
		           "main database root page %" PRIu64 ", depth %u, %" PRIu64
		           " entries: impossible with last page %" PRIu64,
		           root, depth, rdw(main + DB_ENTRIES), last);
	return 0;
}

int vault__lmdb_check_metas(int fd, struct vault__lmdb_metas *ret, char *err, size_t err_size)
{
	uint8_t pg[2][PAGEHDRSZ + META_SIZE];
	struct vault__lmdb_metas m = {0};
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	m.file_size = (uint64_t)st.st_size;
	if (m.file_size < sizeof(pg[0]))
		return say(err, err_size, -EBADMSG, 0, "not an LMDB file (%" PRIu64 " bytes)",
		           m.file_size);
	rc = read_at(fd, pg[0], sizeof(pg[0]), 0);
	if (rc < 0)
		return rc == -ENODATA ? -EIO : rc;
	m.psize = rd32(pg[0] + PAGEHDRSZ + META_DBS + FREE_DB * DB_SIZE);
	if (!is_meta(pg[0], 0) || !psize_valid(m.psize)) {
		/* Damage, when the second meta page is where a page size would put it. */
		for (uint32_t ps = PSIZE_MIN; ps <= PSIZE_MAX; ps *= 2) {
			uint8_t other[sizeof(pg[0])];
			if ((uint64_t)ps + sizeof(other) <= m.file_size &&
			    read_at(fd, other, sizeof(other), ps) == 0 && is_meta(other, 1))
				return say(
				    err, err_size, -EUCLEAN, 0,
				    "meta page 0 is damaged (page number, flags, magic or page "
				    "size)");
		}
		return say(err, err_size, -EBADMSG, 0, "not an LMDB file");
	}
	if (m.file_size < 2ull * m.psize)
		return say(err, err_size, -EUCLEAN, 1,
		           "the file ends at %" PRIu64 " bytes, before meta page 1", m.file_size);
	rc = read_at(fd, pg[1], sizeof(pg[1]), m.psize);
	if (rc < 0)
		return rc == -ENODATA ? -EIO : rc;
	for (unsigned i = 0; i < 2; i++) {
		rc = check_meta(pg[i], i, m.psize, err, err_size);
		if (rc < 0)
			return rc;
		m.txnid[i] = rdw(pg[i] + PAGEHDRSZ + META_TXNID);
	}
	*ret = m;
	return 0;
}

/* ------------------------------------------------------------------ trees */

static void show_name(const uint8_t *key, size_t len, char out[NAME_MAX_SHOWN + 1])
{
	size_t n = len < NAME_MAX_SHOWN ? len : NAME_MAX_SHOWN;

	for (size_t i = 0; i < n; i++)
		out[i] = key[i] >= 0x20 && key[i] < 0x7f && key[i] != '"' ? (char)key[i] : '?';
	out[n] = '\0';
}

/* A database of the snapshot: its record in the main database and what was checked of it. */
struct tree {
	char name[NAME_MAX_SHOWN + 1];
	uint8_t rec[DB_SIZE];
	uint64_t from; /* the main database's leaf page holding the record */
	unsigned idx;  /* the record's node on that page */
	bool all;      /* every page checked */
	/* The leaf page the last descent ended on, with its first and last key: a key between
	 * them lies on that page (the checked pages are ordered), so nothing new is read. */
	bool memo;
	uint16_t memo_n[2];
	uint8_t memo_key[2][512];
};

struct vault__lmdb_snap {
	const uint8_t *map; /* the file mapped (pages below file_pages only are read) */
	uint32_t psize;
	uint64_t file_size;
	uint64_t npages;     /* the snapshot's last page + 1 */
	uint64_t file_pages; /* whole pages in the file */
	uint64_t txnid;
	/* Per file page, who names it once it is checked: (page << 16 | node) + 1 of the node
	 * that points to it; 0 while unchecked. A page named by two nodes is a loop or a shared
	 * page. calloc'd: only the entries of pages touched cost memory. */
	uint64_t *owner;
	struct tree *trees;
	size_t n_trees, cap_trees;
	int broken; /* a problem found: every later check fails with it */
	char broken_err[256];
	/* the call being checked */
	const char *db;
	char *err;
	size_t err_size;
	uint64_t entries; /* leaf nodes counted by a whole walk */
	/* A whole walk: every page of the tree is checked before LMDB reads any of it, so key
	 * order (which only tells where a cursor goes next) need not be. It reads pages with
	 * pread into bufs (a page per depth), not through the map: a copy into a buffer that
	 * stays in cache was 3 times faster than touching a whole file's pages through a map,
	 * and the file's pages are not mapped a second time beside LMDB's map. */
	bool whole;
	int fd;
	uint8_t *bufs;
};

static const uint8_t *page_at(const struct vault__lmdb_snap *s, uint64_t pgno)
{
	return s->map + pgno * s->psize;
}

static uint64_t owner_of(uint64_t from, unsigned idx)
{
	return (from << 16 | idx) + 1;
}

/* Who names page p (0: nobody yet). The owner array is shared by the threads of a parallel
 * whole walk, so it is read and written with atomic operations. */
static uint64_t owner_get(const struct vault__lmdb_snap *s, uint64_t p)
{
	return __atomic_load_n(&s->owner[p], __ATOMIC_RELAXED);
}

/* Fails the snapshot for good: LMDB must never be let near the damage afterwards. */
static int broken(struct vault__lmdb_snap *s, int rc)
{
	s->broken = rc;
	if (s->err && s->err_size)
		snprintf(s->broken_err, sizeof(s->broken_err), "%s", s->err);
	return rc;
}

/* Pages [pgno, pgno + n) named by node idx of page `from`: inside the snapshot and the file.
 * Returns 1 when already checked for this very node, 0 when to be checked, or an error. */
static int locate(struct vault__lmdb_snap *s, uint64_t from, unsigned idx, uint64_t pgno,
                  uint64_t n, const char *what)
{
	if (pgno < 2)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "%s \"%s\" names page %" PRIu64 ", a meta page", what, s->db, pgno);
	if (pgno >= s->npages || n > s->npages - pgno)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "%s \"%s\" names page %" PRIu64 "%s, beyond the last page %" PRIu64,
		           what, s->db, pgno, n > 1 ? " and more" : "", s->npages - 1);
	if (pgno >= s->file_pages || n > s->file_pages - pgno)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "%s \"%s\" names page %" PRIu64
		           "%s, beyond the end of the file (%" PRIu64 " bytes)",
		           what, s->db, pgno, n > 1 ? " and more" : "", s->file_size);
	if (owner_get(s, pgno) == owner_of(from, idx))
		return 1;
	for (uint64_t p = pgno; p < pgno + n; p++)
		if (owner_get(s, p))
			return say(s->err, s->err_size, -EUCLEAN, from,
			           "%s \"%s\" names page %" PRIu64
			           ", which is already part of a tree (a loop or a shared page)",
			           what, s->db, p);
	return 0;
}

/* Marks pages [pgno, pgno + n), checked, as named by node idx of page `from`. Trees walked at
 * once (vault__lmdb_snap_check_all with threads) may both have found a shared page free in
 * locate(): whichever claims it second is told here. Returns 0 or -EUCLEAN. */
static int claim(struct vault__lmdb_snap *s, uint64_t from, unsigned idx, uint64_t pgno, uint64_t n)
{
	uint64_t mine = owner_of(from, idx);

	for (uint64_t p = pgno; p < pgno + n; p++) {
		uint64_t seen = 0;
		if (!__atomic_compare_exchange_n(&s->owner[p], &seen, mine, false, __ATOMIC_RELAXED,
		                                 __ATOMIC_RELAXED) &&
		    seen != mine)
			return say(s->err, s->err_size, -EUCLEAN, from,
			           "database \"%s\" names page %" PRIu64
			           ", which another tree also uses (a shared page)",
			           s->db, p);
	}
	return 0;
}

/* LMDB's default key order (mdb_cmp_memn): bytes, then length. */
static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static unsigned nkeys(const uint8_t *p)
{
	return (unsigned)(rd16(p + PH_LOWER) - PAGEHDRSZ) / 2;
}

static const uint8_t *node_at(const uint8_t *p, unsigned i)
{
	return p + rd16(p + PAGEHDRSZ + 2 * i);
}

static const uint8_t *node_key(const uint8_t *node, size_t *len)
{
	*len = rd16(node + 6);
	return node + NODESIZE;
}

static uint64_t node_child(const uint8_t *node)
{
	uint64_t child = (uint64_t)rd16(node) | (uint64_t)rd16(node + 2) << 16;
	if (W == 8)
		child |= (uint64_t)rd16(node + 4) << 32;
	return child;
}

/* An F_BIGDATA value of dsize bytes on the overflow pages starting at opg, named by node i of
 * leaf page `page`. */
static int check_overflow(struct vault__lmdb_snap *s, uint64_t page, unsigned i, uint64_t opg,
                          uint32_t dsize)
{
	const uint8_t *hdr;
	uint64_t pages;
	char what[48];
	int rc;

	snprintf(what, sizeof(what), "node %u's value in", i);
	rc = locate(s, page, i, opg, 1, what);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	uint8_t copy[PAGEHDRSZ];
	if (s->whole) {
		rc = read_at(s->fd, copy, sizeof(copy), opg * s->psize);
		if (rc < 0)
			return rc == -ENODATA ? say(s->err, s->err_size, -EUCLEAN, opg,
			                            "cannot be read: the file ends before it")
			                      : rc;
		hdr = copy;
	} else {
		hdr = page_at(s, opg);
	}
	if (rdw(hdr) != opg)
		return say(s->err, s->err_size, -EUCLEAN, opg, "its header says page %" PRIu64,
		           rdw(hdr));
	if (rd16(hdr + PH_FLAGS) != P_OVERFLOW)
		return say(s->err, s->err_size, -EUCLEAN, opg,
		           "flags %#x where page %" PRIu64 " puts an overflow value",
		           rd16(hdr + PH_FLAGS), page);
	pages = rd32(hdr + PH_PAGES);
	if (pages > s->npages - opg || pages > s->file_pages - opg)
		return say(s->err, s->err_size, -EUCLEAN, opg,
		           "an overflow value of %" PRIu64 " pages runs past the %s", pages,
		           pages > s->npages - opg ? "last page" : "end of the file");
	if (pages == 0 || (uint64_t)dsize + PAGEHDRSZ > pages * s->psize)
		return say(s->err, s->err_size, -EUCLEAN, opg,
		           "%" PRIu64 " overflow pages cannot hold the %" PRIu32
		           " bytes page %" PRIu64 " stores here",
		           pages, dsize, page);
	snprintf(what, sizeof(what), "overflow value of");
	rc = locate(s, page, i, opg, pages, what);
	if (rc < 0)
		return rc;
	return claim(s, page, i, opg, pages);
}

static int check_leaf_node(struct vault__lmdb_snap *s, uint64_t pgno, unsigned i,
                           const uint8_t *node, uint32_t off, bool main)
{
	uint16_t flags = rd16(node + 4), ksize = rd16(node + 6);
	uint32_t dsize = (uint32_t)rd16(node) | (uint32_t)rd16(node + 2) << 16;
	uint64_t end = (uint64_t)off + NODESIZE + ksize;

	if (main) {
		if (flags != F_SUBDATA || dsize != DB_SIZE)
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u of the main database is not a database record (flags "
			           "%#x, %" PRIu32 " bytes)",
			           i, flags, dsize);
		if (end + DB_SIZE > s->psize)
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u runs past the end of the page", i);
		return 0;
	}
	if (flags == F_BIGDATA) {
		if (end + W > s->psize)
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u (database \"%s\") runs past the end of the page", i,
			           s->db);
		return check_overflow(s, pgno, i, rdw(node + NODESIZE + ksize), dsize);
	}
	if (flags != 0)
		return say(
		    s->err, s->err_size, -EUCLEAN, pgno,
		    "node %u (database \"%s\") has flags %#x (the vault stores plain values)", i,
		    s->db, flags);
	if (end + dsize > s->psize)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "node %u (database \"%s\", key %u bytes, value %" PRIu32
		           " bytes) runs past the end of the page",
		           i, s->db, ksize, dsize);
	return 0;
}

/* The keys a page may hold: [lo, hi) (NULL: unbounded). */
struct bounds {
	const uint8_t *lo, *hi;
	size_t lo_len, hi_len;
};

/* Checks page pgno at depth (root: 1) of a tree whose leaves are at leaf_depth, named by node
 * idx of page `from`, before LMDB may read it: in the file and the snapshot, its own number,
 * named once, a branch page above the leaves and a leaf page at their depth, its node table
 * and every node inside it, branch pages with two nodes or more, overflow values that fit,
 * keys in increasing order and inside the bounds its parent gives it (so that a cursor moving
 * between checked pages is where a search for its key would put it). A page checked before
 * for the same node is not read again. Returns 0 and *ret (the page); -EUCLEAN. */
static int check_page(struct vault__lmdb_snap *s, uint64_t from, unsigned idx, uint64_t pgno,
                      unsigned depth, unsigned leaf_depth, bool main, const struct bounds *b,
                      const uint8_t **ret)
{
	const uint8_t *p;
	uint16_t flags, lower, upper;
	unsigned n;
	int rc;

	if (depth > MAX_DEPTH)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "database \"%s\" is deeper than %d levels", s->db, MAX_DEPTH);
	rc = locate(s, from, idx, pgno, 1, depth == 1 ? "the root of" : "a branch node of");
	if (rc < 0)
		return rc;
	if (s->whole) {
		int r2 =
		    read_at(s->fd, s->bufs + (size_t)depth * s->psize, s->psize, pgno * s->psize);
		if (r2 < 0)
			return r2 == -ENODATA ? say(s->err, s->err_size, -EUCLEAN, pgno,
			                            "cannot be read: the file ends before it")
			                      : r2;
		p = s->bufs + (size_t)depth * s->psize;
	} else {
		p = page_at(s, pgno);
	}
	*ret = p;
	if (rc == 1)
		return 0;
	if (rdw(p) != pgno)
		return say(s->err, s->err_size, -EUCLEAN, pgno, "its header says page %" PRIu64,
		           rdw(p));
	flags = rd16(p + PH_FLAGS);
	lower = rd16(p + PH_LOWER);
	upper = rd16(p + PH_UPPER);
	if (flags == P_LEAF && depth != leaf_depth)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "leaf page at depth %u of database \"%s\", whose leaves are at "
		           "depth %u",
		           depth, s->db, leaf_depth);
	if (flags == P_BRANCH && depth >= leaf_depth)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "branch page at depth %u of database \"%s\", whose leaves are at "
		           "depth %u",
		           depth, s->db, leaf_depth);
	if (flags != P_LEAF && flags != P_BRANCH)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "flags %#x where database \"%s\" needs a branch or leaf page", flags,
		           s->db);
	if (lower < PAGEHDRSZ || lower > upper || upper > s->psize || (lower - PAGEHDRSZ) % 2 ||
	    upper % 2)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "free space from %u to %u is not inside the page", lower, upper);
	n = (lower - PAGEHDRSZ) / 2;
	if (n < (flags == P_BRANCH ? 2u : 1u))
		return say(s->err, s->err_size, -EUCLEAN, pgno, "%s page with %u nodes",
		           flags == P_BRANCH ? "branch" : "leaf", n);
	for (unsigned i = 0; i < n; i++) {
		uint16_t off = rd16(p + PAGEHDRSZ + 2 * i);
		const uint8_t *node = p + off;

		if (off < upper || off % 2 || off > s->psize - NODESIZE)
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u at offset %u is outside the page's nodes (%u..%" PRIu32
			           ")",
			           i, off, upper, s->psize);
		if ((uint64_t)off + NODESIZE + rd16(node + 6) > s->psize)
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u's key runs past the end of the page", i);
		if (flags == P_LEAF) {
			rc = check_leaf_node(s, pgno, i, node, off, main);
			if (rc < 0)
				return rc;
		}
	}
	/* Key order: LMDB's binary searches and cursor moves assume it; a branch page's first
	 * key is never compared. A whole walk checks every page wherever a cursor goes. */
	if (s->whole)
		return claim(s, from, idx, pgno, 1);
	size_t kl, pl = 0;
	const uint8_t *k, *prev = NULL;
	for (unsigned i = flags == P_BRANCH ? 1 : 0; i < n; i++) {
		k = node_key(node_at(p, i), &kl);
		if (prev ? keycmp(prev, pl, k, kl) >= 0
		         : b->lo && keycmp(k, kl, b->lo, b->lo_len) < (flags == P_BRANCH ? 1 : 0))
			return say(s->err, s->err_size, -EUCLEAN, pgno,
			           "node %u's key is out of order (database \"%s\")", i, s->db);
		prev = k;
		pl = kl;
	}
	if (prev && b->hi && keycmp(prev, pl, b->hi, b->hi_len) >= 0)
		return say(s->err, s->err_size, -EUCLEAN, pgno,
		           "node %u's key is beyond what its parent page allows (database \"%s\")",
		           n - 1, s->db);
	return claim(s, from, idx, pgno, 1);
}

/* The bounds of child i of branch page p whose own bounds are b. */
static struct bounds child_bounds(const uint8_t *p, unsigned i, const struct bounds *b)
{
	struct bounds c = *b;
	if (i > 0)
		c.lo = node_key(node_at(p, i), &c.lo_len);
	if (i + 1 < nkeys(p))
		c.hi = node_key(node_at(p, i + 1), &c.hi_len);
	return c;
}

/* Every page of a tree below page pgno (checked or not): a whole walk. */
static int walk(struct vault__lmdb_snap *s, uint64_t from, unsigned idx, uint64_t pgno,
                unsigned depth, unsigned leaf_depth, bool main, const struct bounds *b)
{
	const uint8_t *p;
	int rc = check_page(s, from, idx, pgno, depth, leaf_depth, main, b, &p);

	if (rc < 0)
		return rc;
	if (depth == leaf_depth) {
		s->entries += nkeys(p);
		return 0;
	}
	for (unsigned i = 0; i < nkeys(p); i++) {
		struct bounds c = child_bounds(p, i, b);
		rc = walk(s, pgno, i, node_child(node_at(p, i)), depth + 1, leaf_depth, main, &c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_record(struct vault__lmdb_snap *s, uint64_t from, const uint8_t *rec)
{
	uint64_t root = rdw(rec + DB_ROOT), entries = rdw(rec + DB_ENTRIES);
	uint16_t depth = rd16(rec + DB_DEPTH);

	if (rd16(rec + DB_FLAGS) != 0)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "database \"%s\" has flags %#x (the vault's databases have none)", s->db,
		           rd16(rec + DB_FLAGS));
	if (root == pgno_invalid ? depth || entries : depth < 1 || depth > MAX_DEPTH)
		return say(s->err, s->err_size, -EUCLEAN, from,
		           "database \"%s\" has root page %" PRIu64 ", %u levels, %" PRIu64
		           " entries: impossible",
		           s->db, root, depth, entries);
	return 0;
}

/* Every page of a database, with its entry count against its record. */
static int walk_db(struct vault__lmdb_snap *s, uint64_t from, unsigned idx, const uint8_t *rec,
                   bool main)
{
	uint64_t root = rdw(rec + DB_ROOT), entries = rdw(rec + DB_ENTRIES);
	struct bounds b = {0};
	int rc;

	rc = check_record(s, from, rec);
	if (rc < 0 || root == pgno_invalid)
		return rc;
	s->entries = 0;
	if (!s->bufs && !(s->bufs = malloc((size_t)(MAX_DEPTH + 1) * s->psize)))
		return -ENOMEM;
	s->whole = true;
	rc = walk(s, from, idx, root, 1, rd16(rec + DB_DEPTH), main, &b);
	s->whole = false;
	if (rc == 0 && s->entries != entries)
		return say(s->err, s->err_size, -EUCLEAN, root,
		           "database \"%s\" has %" PRIu64 " entries, its record says %" PRIu64,
		           s->db, s->entries, entries);
	return rc;
}

/* The named databases recorded in the main database's leaves below page pgno (all checked). */
static int collect(struct vault__lmdb_snap *s, uint64_t pgno, unsigned depth, unsigned leaf_depth)
{
	const uint8_t *p = page_at(s, pgno);

	for (unsigned i = 0; i < nkeys(p); i++) {
		const uint8_t *node = node_at(p, i);
		size_t kl;
		const uint8_t *k = node_key(node, &kl);
		int rc;

		if (depth < leaf_depth) {
			rc = collect(s, node_child(node), depth + 1, leaf_depth);
			if (rc < 0)
				return rc;
			continue;
		}
		if (s->n_trees == s->cap_trees) {
			size_t cap = s->cap_trees ? 2 * s->cap_trees : 16;
			struct tree *t = realloc(s->trees, cap * sizeof(*t));
			if (!t)
				return -ENOMEM;
			s->trees = t;
			s->cap_trees = cap;
		}
		struct tree *t = &s->trees[s->n_trees++];
		memset(t, 0, sizeof(*t));
		show_name(k, kl, t->name);
		memcpy(t->rec, k + kl, DB_SIZE);
		t->from = pgno;
		t->idx = i;
		s->db = t->name;
		rc = check_record(s, pgno, t->rec);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vault__lmdb_snap_open(int fd, const struct vault__lmdb_metas *m, unsigned meta, uint64_t txnid,
                          struct vault__lmdb_snap **ret, char *err, size_t err_size)
{
	uint8_t pg[PAGEHDRSZ + META_SIZE];
	struct vault__lmdb_snap *s;
	const uint8_t *main;
	struct stat st;
	int rc;

	if (meta > 1)
		return -EINVAL;
	/* The meta page as it is now: a live writer may have replaced it since
	 * vault__lmdb_check_metas. */
	rc = read_at(fd, pg, sizeof(pg), (uint64_t)meta * m->psize);
	if (rc < 0)
		return rc == -ENODATA ? -EIO : rc;
	rc = check_meta(pg, meta, m->psize, err, err_size);
	if (rc < 0)
		return rc;
	if (rdw(pg + PAGEHDRSZ + META_TXNID) != txnid)
		return -ESTALE;
	if (fstat(fd, &st) < 0)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->psize = m->psize;
	/* the file as it is now (a live writer grows it), mapped: only what is read costs */
	s->file_size = (uint64_t)st.st_size;
	s->file_pages = s->file_size / m->psize;
	if (s->file_size < 2ull * m->psize || s->file_size > SIZE_MAX) {
		free(s);
		return say(err, err_size, -EUCLEAN, 1, "the file ends at %" PRIu64 " bytes",
		           (uint64_t)st.st_size);
	}
	void *map = mmap(NULL, (size_t)s->file_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		free(s);
		return rc;
	}
	s->map = map;
	s->npages = rdw(pg + PAGEHDRSZ + META_LASTPG) + 1;
	s->txnid = txnid;
	s->fd = fd;
	s->err = err;
	s->err_size = err_size;
	s->owner = calloc(s->file_pages + 1, sizeof(*s->owner));
	if (!s->owner) {
		free(s);
		return -ENOMEM;
	}
	/* The main database is small (a record per named database): checked whole. */
	main = pg + PAGEHDRSZ + META_DBS + MAIN_DB * DB_SIZE;
	s->db = "(main)";
	rc = walk_db(s, meta, 0, main, true);
	if (rc == 0 && rdw(main + DB_ROOT) != pgno_invalid)
		rc = collect(s, rdw(main + DB_ROOT), 1, rd16(main + DB_DEPTH));
	/* Small databases (settings, blobs' index, cosignatures) are checked whole now: a few
	 * pages, and every later read of them is free. */
	for (size_t i = 0; rc == 0 && i < s->n_trees; i++) {
		struct tree *t = &s->trees[i];
		if (rdw(t->rec + DB_BRANCH) + rdw(t->rec + DB_LEAF) > SMALL_TREE)
			continue;
		s->db = t->name;
		rc = walk_db(s, t->from, t->idx, t->rec, false);
		t->all = rc == 0;
	}
	s->err = NULL;
	s->err_size = 0;
	if (rc < 0) {
		vault__lmdb_snap_free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void vault__lmdb_snap_free(struct vault__lmdb_snap *s)
{
	if (!s)
		return;
	if (s->map)
		munmap((void *)s->map, (size_t)s->file_size);
	free(s->owner);
	free(s->bufs);
	free(s->trees);
	free(s);
}

uint64_t vault__lmdb_snap_txnid(const struct vault__lmdb_snap *s)
{
	return s->txnid;
}

static struct tree *find_tree(struct vault__lmdb_snap *s, const char *db)
{
	for (size_t i = 0; i < s->n_trees; i++)
		if (strncmp(s->trees[i].name, db, NAME_MAX_SHOWN) == 0)
			return &s->trees[i];
	return NULL;
}

/* One level of a descent: the page, its bounds and the node taken. */
struct level {
	const uint8_t *p;
	uint64_t pgno;
	unsigned idx;
	struct bounds b;
};

/* Descends from page pgno at depth to a leaf, as LMDB's search would for key (or along the
 * first or last child), checking each page, into lv[depth - 1 ..]. On the leaf, lv's idx is
 * the first node whose key is >= key (FIRST: 0; LAST: the last; may be nkeys). */
static int descend(struct vault__lmdb_snap *s, struct tree *t, struct level *lv, uint64_t from,
                   unsigned fidx, uint64_t pgno, unsigned depth, const struct bounds *b,
                   enum vault__lmdb_op op, const uint8_t *key, size_t klen)
{
	unsigned leaf_depth = rd16(t->rec + DB_DEPTH);
	struct bounds cb = *b;

	for (;; depth++) {
		struct level *l = &lv[depth - 1];
		unsigned n, lo, hi;
		int rc = check_page(s, from, fidx, pgno, depth, leaf_depth, false, &cb, &l->p);

		if (rc < 0)
			return rc;
		l->pgno = pgno;
		l->b = cb;
		n = nkeys(l->p);
		if (op == VAULT__LMDB_FIRST)
			l->idx = 0;
		else if (op == VAULT__LMDB_LAST)
			l->idx = n - 1;
		else if (depth < leaf_depth) {
			/* the last child whose key is <= key (node 0's key is not compared) */
			for (lo = 1, hi = n; lo < hi;) {
				unsigned mid = (lo + hi) / 2;
				size_t ml;
				const uint8_t *mk = node_key(node_at(l->p, mid), &ml);
				if (keycmp(mk, ml, key, klen) <= 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			l->idx = lo - 1;
		} else {
			/* the first node whose key is >= key */
			for (lo = 0, hi = n; lo < hi;) {
				unsigned mid = (lo + hi) / 2;
				size_t ml;
				const uint8_t *mk = node_key(node_at(l->p, mid), &ml);
				if (keycmp(mk, ml, key, klen) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			l->idx = lo;
		}
		if (depth == leaf_depth)
			break;
		cb = child_bounds(l->p, l->idx, &l->b);
		from = pgno;
		fidx = l->idx;
		pgno = node_child(node_at(l->p, l->idx));
	}
	/* remember the leaf */
	const uint8_t *leaf = lv[leaf_depth - 1].p;
	unsigned n = nkeys(leaf);
	size_t fl, ll;
	const uint8_t *fk = node_key(node_at(leaf, 0), &fl),
	              *lk = node_key(node_at(leaf, n - 1), &ll);
	if (fl <= sizeof(t->memo_key[0]) && ll <= sizeof(t->memo_key[1])) {
		memcpy(t->memo_key[0], fk, fl);
		memcpy(t->memo_key[1], lk, ll);
		t->memo_n[0] = (uint16_t)fl;
		t->memo_n[1] = (uint16_t)ll;
		t->memo = true;
	}
	return 0;
}

/* Checks the leaf LMDB moves to from the leaf of lv (right or left), as mdb_cursor_sibling does:
 * up to the nearest level with a next (previous) node, then down its first (last) children. */
static int sibling(struct vault__lmdb_snap *s, struct tree *t, struct level *lv, bool right)
{
	unsigned leaf_depth = rd16(t->rec + DB_DEPTH);

	for (unsigned d = leaf_depth - 1; d >= 1; d--) {
		struct level *l = &lv[d - 1];
		if (right ? l->idx + 1 >= nkeys(l->p) : l->idx == 0)
			continue;
		unsigned i = right ? l->idx + 1 : l->idx - 1;
		struct bounds cb = child_bounds(l->p, i, &l->b);
		return descend(s, t, lv, l->pgno, i, node_child(node_at(l->p, i)), d + 1, &cb,
		               right ? VAULT__LMDB_FIRST : VAULT__LMDB_LAST, NULL, 0);
	}
	return 0; /* the first or last leaf: LMDB stops there */
}

/* Whether the memorised leaf answers the operation without a descent. */
static bool memo_covers(const struct tree *t, enum vault__lmdb_op op, const uint8_t *key,
                        size_t klen)
{
	int lo, hi;

	if (!t->memo || op == VAULT__LMDB_FIRST || op == VAULT__LMDB_LAST)
		return false;
	lo = keycmp(key, klen, t->memo_key[0], t->memo_n[0]);
	hi = keycmp(key, klen, t->memo_key[1], t->memo_n[1]);
	switch (op) {
	case VAULT__LMDB_NEXT:
		return lo >= 0 && hi < 0;
	case VAULT__LMDB_PREV:
		return lo > 0 && hi <= 0;
	default:
		return lo >= 0 && hi <= 0;
	}
}

int vault__lmdb_snap_check(struct vault__lmdb_snap *s, const char *db, enum vault__lmdb_op op,
                           const void *key, size_t klen, char *err, size_t err_size)
{
	struct level lv[MAX_DEPTH];
	struct bounds b = {0};
	struct tree *t;
	uint64_t root;
	unsigned leaf_depth;
	int rc;

	if (s->broken) {
		if (err && err_size)
			snprintf(err, err_size, "%s", s->broken_err);
		return s->broken;
	}
	t = find_tree(s, db);
	if (!t)
		return 0; /* not in this snapshot: LMDB reads nothing of it */
	root = rdw(t->rec + DB_ROOT);
	if (t->all || root == pgno_invalid || memo_covers(t, op, key, klen))
		return 0;
	leaf_depth = rd16(t->rec + DB_DEPTH);
	s->db = t->name;
	s->err = err;
	s->err_size = err_size;
	rc = descend(s, t, lv, t->from, t->idx, root, 1, &b, op, key, klen);
	if (rc == 0) {
		const struct level *l = &lv[leaf_depth - 1];
		unsigned n = nkeys(l->p);
		bool found = false;
		if (op == VAULT__LMDB_NEXT && l->idx < n) {
			size_t fl;
			const uint8_t *fk = node_key(node_at(l->p, l->idx), &fl);
			found = keycmp(fk, fl, key, klen) == 0;
		}
		if ((op == VAULT__LMDB_RANGE && l->idx >= n) ||
		    (op == VAULT__LMDB_NEXT && l->idx + found >= n))
			rc = sibling(s, t, lv, true);
		else if (op == VAULT__LMDB_PREV && l->idx == 0)
			rc = sibling(s, t, lv, false);
	}
	if (rc < 0 && rc != -ENOMEM)
		broken(s, rc);
	s->err = NULL;
	s->err_size = 0;
	return rc;
}

/* The whole walk of some trees on a thread of its own: a copy of the snapshot sharing its
 * file, map, trees and owner array (claimed atomically), with its own buffers and error. */
struct part {
	struct vault__lmdb_snap s;
	size_t *trees; /* indexes into s.trees, ascending */
	size_t n;
	uint64_t pages;
	size_t failed; /* the tree it stopped at (rc < 0) */
	int rc;
	char err[256];
	pthread_t thread;
};

static void *part_walk(void *arg)
{
	struct part *pt = arg;

	pt->rc = 0;
	for (size_t j = 0; pt->rc == 0 && j < pt->n; j++) {
		struct tree *t = &pt->s.trees[pt->trees[j]];
		pt->s.db = t->name;
		pt->rc = walk_db(&pt->s, t->from, t->idx, t->rec, false);
		pt->failed = pt->trees[j];
	}
	return NULL;
}

static uint64_t tree_pages(const struct tree *t)
{
	return rdw(t->rec + DB_BRANCH) + rdw(t->rec + DB_LEAF) + rdw(t->rec + DB_LEAF + W);
}

/* The trees not yet checked walked on up to `threads` threads, each tree whole on one: the
 * biggest first, each onto the least loaded thread. The problem reported is the one the walk
 * in tree order would meet first: that of the lowest tree that failed. */
static int check_parallel(struct vault__lmdb_snap *s, unsigned threads)
{
	struct part *pts = calloc(threads, sizeof(*pts));
	size_t *order = calloc(s->n_trees, sizeof(*order));
	unsigned *assign = calloc(s->n_trees, sizeof(*assign));
	size_t n = 0;
	unsigned started = 0;
	int rc = -ENOMEM;

	if (!pts || !order || !assign)
		goto out;
	for (unsigned k = 0; k < threads; k++) {
		pts[k].s = *s;
		pts[k].s.bufs = NULL;
		pts[k].s.err = pts[k].err;
		pts[k].s.err_size = sizeof(pts[k].err);
		if (!(pts[k].trees = calloc(s->n_trees, sizeof(*pts[k].trees))))
			goto out;
	}
	for (size_t i = 0; i < s->n_trees; i++)
		if (!s->trees[i].all)
			order[n++] = i;
	for (size_t i = 1; i < n; i++) /* biggest first; a few trees: insertion sort */
		for (size_t j = i;
		     j > 0 && tree_pages(&s->trees[order[j]]) > tree_pages(&s->trees[order[j - 1]]);
		     j--) {
			size_t x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	for (size_t j = 0; j < n; j++) {
		unsigned least = 0;
		for (unsigned k = 1; k < threads; k++)
			if (pts[k].pages < pts[least].pages)
				least = k;
		pts[least].pages += tree_pages(&s->trees[order[j]]) + 1;
		assign[order[j]] = least + 1;
	}
	/* in tree order within a part, so that each stops where the ordered walk would */
	for (size_t i = 0; i < s->n_trees; i++)
		if (assign[i]) {
			struct part *pt = &pts[assign[i] - 1];
			pt->trees[pt->n++] = i;
		}
	rc = 0;
	for (; started < threads; started++)
		if (pts[started].n &&
		    pthread_create(&pts[started].thread, NULL, part_walk, &pts[started]) != 0) {
			rc = -EAGAIN;
			break;
		}
	for (unsigned k = 0; k < started; k++)
		if (pts[k].n)
			pthread_join(pts[k].thread, NULL);
	if (rc < 0)
		goto out;
	struct part *worst = NULL;
	for (unsigned k = 0; k < threads; k++) {
		struct part *pt = &pts[k];
		for (size_t j = 0; j < pt->n; j++) {
			if (pt->rc < 0 && pt->trees[j] == pt->failed) {
				if (!worst || pt->failed < worst->failed)
					worst = pt;
				break;
			}
			s->trees[pt->trees[j]].all = true;
		}
	}
	if (worst) {
		rc = worst->rc;
		s->db = s->trees[worst->failed].name;
		if (s->err && s->err_size)
			snprintf(s->err, s->err_size, "%s", worst->err);
	}
out:
	for (unsigned k = 0; pts && k < threads; k++) {
		free(pts[k].s.bufs);
		free(pts[k].trees);
	}
	free(pts);
	free(order);
	free(assign);
	return rc;
}

int vault__lmdb_snap_check_all(struct vault__lmdb_snap *s, unsigned threads, char *err,
                               size_t err_size)
{
	size_t left = 0;
	int rc = 0;

	if (s->broken) {
		if (err && err_size)
			snprintf(err, err_size, "%s", s->broken_err);
		return s->broken;
	}
	s->err = err;
	s->err_size = err_size;
	for (size_t i = 0; i < s->n_trees; i++)
		left += !s->trees[i].all;
	if (threads > 1 && left > 1) {
		rc = check_parallel(s, threads < left ? threads : (unsigned)left);
	} else {
		for (size_t i = 0; rc == 0 && i < s->n_trees; i++) {
			struct tree *t = &s->trees[i];
			if (t->all)
				continue;
			s->db = t->name;
			rc = walk_db(s, t->from, t->idx, t->rec, false);
			t->all = rc == 0;
		}
	}
	if (rc < 0 && rc != -ENOMEM && rc != -EAGAIN)
		broken(s, rc);
	s->err = NULL;
	s->err_size = 0;
	return rc;
}

int vault__lmdb_check_snapshot(int fd, const struct vault__lmdb_metas *m, unsigned meta,
                               uint64_t txnid, unsigned threads, char *err, size_t err_size)
{
	struct vault__lmdb_snap *s = NULL;
	int rc = vault__lmdb_snap_open(fd, m, meta, txnid, &s, err, err_size);

	if (rc == 0)
		rc = vault__lmdb_snap_check_all(s, threads, err, err_size);
	vault__lmdb_snap_free(s);
	return rc;
}
