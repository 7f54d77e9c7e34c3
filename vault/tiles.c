/* SPDX-License-Identifier: Apache-2.0 */
/* C2SP tlog-tiles export (FORMAT.md §9): the log up to a signed checkpoint as static files,
 * hash tiles and entry bundles first, the checkpoint last, each file through a temporary name,
 * fsync and rename.
 *
 * Level 0 comes from one cursor pass over the leaves, each leaf hashed again and compared with
 * its stored hash. A hash of level L >= 1 is the stored perfect subtree of height 8L (merkle.c's
 * node store), so higher levels cost one lookup a hash; each new full tile is hashed once and
 * compared with the stored node above it, and the root recomputed from the right edge's partial
 * tiles must be the checkpoint's: what is published is consistent with the signed root even if
 * the vault's caches are damaged. Memory is bounded: one tile, one bundle and the right edge's
 * partial tiles (64 KiB). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evident/invariant.h"
#include "internal.h"

#define LEVELS       8                    /* tile levels of a 64-bit tree: 8 x height 8 */
#define ENTRY_LEN    (2 + VAULT_LEAF_LEN) /* uint16 length || leaf encoding */
#define BUNDLE_FULL  (VAULT_TILE_WIDTH * ENTRY_LEN)
#define DIRTY_MAX    16
#define TMP_PATH_MAX (VAULT_TILE_PATH_MAX + 8) /* a path with "." and ".tmp" around its name */

struct tiles {
	struct vault_reader *r;
	int dfd; /* the export folder, locked */
	struct vault__hasher h;
	struct vault_checkpoint cp;
	char *prev_note; /* the folder's checkpoint before the export (NULL: none) */
	size_t prev_len;
	uint64_t trusted; /* full tiles below this tree size are taken as present */
	struct vault_tiles_stats st;
	/* The tile being written and, at level 0, its bundle. */
	uint8_t hashes[VAULT_TILE_WIDTH][VAULT_HASH_LEN];
	uint8_t bundle[BUNDLE_FULL];
	uint8_t back[BUNDLE_FULL]; /* a file read back */
	/* Each level's partial tile, for the root check. */
	uint8_t edge[LEVELS][VAULT_TILE_WIDTH][VAULT_HASH_LEN];
	/* Folders that received a new name since their last fsync. */
	char dirty[DIRTY_MAX][VAULT_TILE_PATH_MAX];
	size_t n_dirty;
};

/* ------------------------------------------------------------------ paths */

int vault_tile_path(int level, uint64_t index, unsigned width, char *buf, size_t size)
{
	unsigned groups[7]; /* 2^64 has 20 digits */
	size_t n = 0;
	int len;

	if (level < VAULT_TILE_ENTRIES || level > 63 || width == 0 || width > VAULT_TILE_WIDTH)
		return -EINVAL;
	do {
		groups[n++] = (unsigned)(index % 1000);
		index /= 1000;
	} while (index);
	if (level == VAULT_TILE_ENTRIES)
		len = snprintf(buf, size, "tile/entries/");
	else
		len = snprintf(buf, size, "tile/%d/", level);
	while (len >= 0 && (size_t)len < size && n > 1)
		len += snprintf(buf + len, size - (size_t)len, "x%03u/", groups[--n]);
	if (len >= 0 && (size_t)len < size)
		len += snprintf(buf + len, size - (size_t)len, "%03u", groups[0]);
	if (len >= 0 && (size_t)len < size && width < VAULT_TILE_WIDTH)
		len += snprintf(buf + len, size - (size_t)len, ".p/%u", width);
	if (len < 0 || (size_t)len >= size)
		return -ENOBUFS;
	return len;
}

/* ------------------------------------------------------------------ files */

/* openat(t->dfd, path, ...). Under ThreadSanitizer it goes through open() on the folder's
 * /proc/self/fd path instead, to the same file: GCC 12's libtsan intercepts open() but not
 * openat(), so a descriptor number that libuv had just closed and openat() reused would keep
 * the old socket's history, and closing it would be reported as a race with libuv's epoll_ctl
 * on that socket (a false report; seen in the publisher thread's tiles export). */
static int tiles_open(const struct tiles *t, const char *path, int flags, mode_t mode)
{
#if defined(__SANITIZE_THREAD__)
	char full[64 + TMP_PATH_MAX];

	if (snprintf(full, sizeof(full), "/proc/self/fd/%d/%s", t->dfd, path) >=
	    (int)sizeof(full)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(full, flags, mode);
#else
	return openat(t->dfd, path, flags, mode);
#endif
}

/* Remembers that folder dir ("" for the export folder) got a new name; fsyncs the remembered
 * folders when the list is full. */
static int dirty_flush(struct tiles *t)
{
	int rc = 0;

	for (size_t i = 0; i < t->n_dirty; i++) {
		int fd = tiles_open(t, t->dirty[i][0] ? t->dirty[i] : ".",
		                    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0 || fsync(fd) < 0) {
			if (rc == 0)
				rc = -errno;
		}
		if (fd >= 0)
			close(fd);
	}
	t->n_dirty = 0;
	return rc;
}

static int dirty_add(struct tiles *t, const char *dir, size_t len)
{
	int rc;

	INVARIANT(len < VAULT_TILE_PATH_MAX);
	for (size_t i = 0; i < t->n_dirty; i++)
		if (strlen(t->dirty[i]) == len && memcmp(t->dirty[i], dir, len) == 0)
			return 0;
	if (t->n_dirty == DIRTY_MAX) {
		rc = dirty_flush(t);
		if (rc < 0)
			return rc;
	}
	memcpy(t->dirty[t->n_dirty], dir, len);
	t->dirty[t->n_dirty++][len] = '\0';
	return 0;
}

/* Creates the folders of path[0..len) that are missing, each made durable by its parent's
 * fsync (through the dirty list). */
static int make_dirs(struct tiles *t, const char *path, size_t len)
{
	char p[VAULT_TILE_PATH_MAX];
	int rc;

	INVARIANT(len < sizeof(p));
	memcpy(p, path, len);
	p[len] = '\0';
	for (size_t i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdirat(t->dfd, p, 0755) == 0) {
			const char *slash = strrchr(p, '/');
			rc = dirty_add(t, p, slash ? (size_t)(slash - p) : 0);
			if (rc < 0)
				return rc;
		} else if (errno != EEXIST) {
			return -errno;
		}
		if (i < len)
			p[i] = '/';
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, (const uint8_t *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Replaces path (relative to the export folder) by data: a temporary ".NAME.tmp" beside it,
 * written, fsynced, renamed. The folder's fsync is left to dirty_flush. */
static int put_file(struct tiles *t, const char *path, const void *data, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	const char *name = slash ? slash + 1 : path;
	char tmp[TMP_PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%.*s%s.%s.tmp", (int)dlen, path, slash ? "/" : "", name) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = tiles_open(t, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == ENOENT && dlen) {
		rc = make_dirs(t, path, dlen);
		if (rc < 0)
			return rc;
		fd =
		    tiles_open(t, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	}
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(t->dfd, tmp, t->dfd, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(t->dfd, tmp, 0);
		return rc;
	}
	return dirty_add(t, path, dlen);
}

/* Whether path already holds exactly data[0..len). Anything unreadable is "no": writing it
 * reports the real problem. */
static bool same_file(struct tiles *t, const char *path, const void *data, size_t len)
{
	struct stat st;
	size_t off = 0;
	bool same = false;
	int fd;

	INVARIANT(len <= sizeof(t->back));
	fd = tiles_open(t, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
		while (off < len) {
			ssize_t n = read(fd, t->back + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		same = off == len && memcmp(t->back, data, len) == 0;
	}
	close(fd);
	return same;
}

/* Writes one file of the export unless it is there already with these bytes. Returns 1 when
 * written, 0 when unchanged, or a negative errno. */
static int publish(struct tiles *t, const char *path, const void *data, size_t len)
{
	int rc;

	if (same_file(t, path, data, len)) {
		t->st.files_unchanged++;
		return 0;
	}
	rc = put_file(t, path, data, len);
	if (rc < 0)
		return rc;
	t->st.files_written++;
	t->st.bytes_written += len;
	return 1;
}

/* ------------------------------------------------------------------ hashes */

/* MTH of n hashes, n a power of two <= VAULT_TILE_WIDTH. */
static int perfect_root(struct vault__hasher *h, const uint8_t (*in)[VAULT_HASH_LEN], size_t n,
                        uint8_t out[VAULT_HASH_LEN])
{
	uint8_t buf[VAULT_TILE_WIDTH / 2][VAULT_HASH_LEN];

	INVARIANT(n >= 1 && n <= VAULT_TILE_WIDTH && (n & (n - 1)) == 0);
	if (n == 1) {
		memcpy(out, in[0], VAULT_HASH_LEN);
		return 0;
	}
	for (size_t i = 0; i < n / 2; i++)
		if (vault__hash_children(h, in[2 * i], in[2 * i + 1], buf[i]) < 0)
			return -EIO;
	/* in place: buf[i] is written after buf[2i] and buf[2i + 1] were read */
	for (n /= 2; n > 1; n /= 2)
		for (size_t i = 0; i < n / 2; i++)
			if (vault__hash_children(h, buf[2 * i], buf[2 * i + 1], buf[i]) < 0)
				return -EIO;
	memcpy(out, buf[0], VAULT_HASH_LEN);
	return 0;
}

/* Leaves [start, start + n) into t->hashes and t->bundle, each checked against its seq and
 * its stored hash. */
static int read_leaves(struct tiles *t, MDB_cursor *cur, uint64_t start, unsigned n)
{
	uint8_t key[8], h[VAULT_HASH_LEN];
	MDB_val k, d;
	struct vault_leaf leaf;
	int rc;

	vault__be64(key, start);
	k = (MDB_val){8, key};
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *val;
		uint8_t *e = t->bundle + (size_t)i * ENTRY_LEN;

		rc = vault__cursor_get(t->r->v, cur, &k, &d, i == 0 ? MDB_SET_KEY : MDB_NEXT);
		if (rc == MDB_NOTFOUND)
			return -EBADMSG; /* a hole inside the checkpoint's tree */
		if (rc)
			return vault__err_from_mdb(rc);
		val = d.mv_data;
		if (k.mv_size != 8 || vault__rd64(k.mv_data) != start + i ||
		    d.mv_size != VAULT_LEAF_LEN + VAULT_HASH_LEN ||
		    vault_leaf_decode(val, VAULT_LEAF_LEN, &leaf) < 0)
			return -EBADMSG;
		if (leaf.seq != start + i)
			return -EUCLEAN;
		rc = vault__hash_leaf(&t->h, val, VAULT_LEAF_LEN, h);
		if (rc < 0)
			return rc;
		if (memcmp(h, val + VAULT_LEAF_LEN, VAULT_HASH_LEN) != 0)
			return -EUCLEAN;
		memcpy(t->hashes[i], h, VAULT_HASH_LEN);
		e[0] = (uint8_t)(VAULT_LEAF_LEN >> 8);
		e[1] = (uint8_t)VAULT_LEAF_LEN;
		memcpy(e + 2, val, VAULT_LEAF_LEN);
	}
	return 0;
}

/* Tile n of level (width hashes) into t->hashes (and t->bundle at level 0). */
static int fill(struct tiles *t, MDB_cursor *cur, unsigned level, uint64_t n, unsigned width)
{
	uint64_t first = n * VAULT_TILE_WIDTH;
	int rc;

	if (level == 0)
		return read_leaves(t, cur, first, width);
	for (unsigned i = 0; i < width; i++) {
		rc = vault__subtree(t->r->v, t->r->txn, &t->h, VAULT_TILE_HEIGHT * level, first + i,
		                    t->hashes[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A full tile's hashes must make the stored node of the level above. */
static int check_full(struct tiles *t, unsigned level, uint64_t n)
{
	uint8_t mine[VAULT_HASH_LEN], stored[VAULT_HASH_LEN];
	int rc;

	INVARIANT(level + 1 < LEVELS); /* a full tile of level 7 would need 2^64 entries */
	rc = perfect_root(&t->h, (const uint8_t(*)[VAULT_HASH_LEN])t->hashes, VAULT_TILE_WIDTH,
	                  mine);
	if (rc == 0)
		rc = vault__subtree(t->r->v, t->r->txn, &t->h, VAULT_TILE_HEIGHT * (level + 1), n,
		                    stored);
	if (rc < 0)
		return rc;
	return memcmp(mine, stored, VAULT_HASH_LEN) == 0 ? 0 : -EUCLEAN;
}

/* The tree head recomputed from the right edge's partial tiles: the tree of size s is the
 * perfect subtrees of the bits of s, and the one of height h = 8L + k is 2^k hashes of level
 * L's partial tile. */
static int edge_root(struct tiles *t, uint8_t out[VAULT_HASH_LEN])
{
	uint8_t frontier[64][VAULT_HASH_LEN];
	uint64_t s = t->cp.size;
	int rc;

	for (unsigned h = 0; h < 64; h++) {
		if (!(s >> h & 1))
			continue;
		unsigned level = h / VAULT_TILE_HEIGHT, k = h % VAULT_TILE_HEIGHT;
		uint64_t count = s >> (VAULT_TILE_HEIGHT * level); /* hashes of the level */
		uint64_t edge =
		    count / VAULT_TILE_WIDTH * VAULT_TILE_WIDTH; /* partial tile's first */
		uint64_t start = s & ~(((uint64_t)2 << h) - 1);  /* the subtree's first leaf */
		uint64_t j = (start >> (VAULT_TILE_HEIGHT * level)) - edge;

		INVARIANT(j + (1u << k) <= count - edge);
		rc = perfect_root(&t->h, (const uint8_t(*)[VAULT_HASH_LEN])t->edge[level] + j,
		                  (size_t)1 << k, frontier[h]);
		if (rc < 0)
			return rc;
	}
	return vault__frontier_root(&t->h, frontier, s, out);
}

/* ------------------------------------------------------------------ export */

/* Writes tile n of level (and its bundle at level 0) unless present. */
static int write_tile(struct tiles *t, unsigned level, uint64_t n, unsigned width)
{
	char path[VAULT_TILE_PATH_MAX];
	int rc;

	rc = vault_tile_path((int)level, n, width, path, sizeof(path));
	INVARIANT(rc > 0);
	rc = publish(t, path, t->hashes, (size_t)width * VAULT_HASH_LEN);
	if (rc < 0 || level > 0)
		return rc;
	rc = vault_tile_path(VAULT_TILE_ENTRIES, n, width, path, sizeof(path));
	INVARIANT(rc > 0);
	rc = publish(t, path, t->bundle, (size_t)width * ENTRY_LEN);
	if (rc == 1)
		t->st.entries_written += width;
	return rc;
}

/* Level's tiles from the first one not trusted to the right edge. */
static int export_level(struct tiles *t, MDB_cursor *cur, unsigned level)
{
	unsigned shift = VAULT_TILE_HEIGHT * level, files = level == 0 ? 2 : 1;
	uint64_t count = t->cp.size >> shift, full = count / VAULT_TILE_WIDTH;
	uint64_t first = (t->trusted >> shift) / VAULT_TILE_WIDTH;
	unsigned width = (unsigned)(count % VAULT_TILE_WIDTH);
	int rc;

	INVARIANT(first <= full); /* trusted <= the checkpoint's size */
	t->st.files_unchanged += first * files;
	for (uint64_t n = first; n < full; n++) {
		rc = fill(t, cur, level, n, VAULT_TILE_WIDTH);
		if (rc == 0)
			rc = check_full(t, level, n);
		if (rc == 0)
			rc = write_tile(t, level, n, VAULT_TILE_WIDTH);
		if (rc < 0)
			return rc;
	}
	if (width == 0)
		return 0;
	rc = fill(t, cur, level, full, width);
	if (rc < 0)
		return rc;
	memcpy(t->edge[level], t->hashes, (size_t)width * VAULT_HASH_LEN);
	rc = write_tile(t, level, full, width);
	return rc < 0 ? rc : 0;
}

/* Deletes the partial versions of tile n of level (its folder "N.p"): its full tile exists. */
static void remove_partials(struct tiles *t, int level, uint64_t n)
{
	char p[VAULT_TILE_PATH_MAX + 2];
	struct dirent *e;
	DIR *d;
	int len, fd;

	len = vault_tile_path(level, n, VAULT_TILE_WIDTH, p, VAULT_TILE_PATH_MAX);
	INVARIANT(len > 0);
	memcpy(p + len, ".p", 3);
	fd = tiles_open(t, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(fd, e->d_name, 0) == 0 && e->d_name[0] != '.')
			t->st.partials_removed++;
	closedir(d);
	unlinkat(t->dfd, p, AT_REMOVEDIR);
}

/* After the new checkpoint is in place: the partials of tiles that became full since the
 * trusted size (best effort: a leftover partial is still a correct tile). */
static void remove_superseded(struct tiles *t)
{
	for (unsigned level = 0; level < LEVELS; level++) {
		unsigned shift = VAULT_TILE_HEIGHT * level;
		uint64_t full = (t->cp.size >> shift) / VAULT_TILE_WIDTH;

		for (uint64_t n = (t->trusted >> shift) / VAULT_TILE_WIDTH; n < full; n++) {
			remove_partials(t, (int)level, n);
			if (level == 0)
				remove_partials(t, VAULT_TILE_ENTRIES, n);
		}
	}
}

/* Opens (creating it when missing) and locks the export folder, which must not be the
 * vault's own. */
static int open_dir(struct tiles *t, const char *dir)
{
	struct stat a, b;

	if (mkdir(dir, 0755) == 0) {
		/* make the new folder's name durable */
		char *parent = strdup(dir), *slash;
		int pfd;
		if (!parent)
			return -ENOMEM;
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		pfd = open(slash ? parent : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(parent);
		if (pfd >= 0) {
			fsync(pfd);
			close(pfd);
		}
	} else if (errno != EEXIST) {
		return -errno;
	}
	t->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dfd < 0)
		return -errno;
	if (fstat(t->dfd, &a) == 0 && stat(vault_dir(t->r->v), &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return -EINVAL; /* its "checkpoint" is the vault's */
	if (flock(t->dfd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

/* Reads the folder's checkpoint and decides what it allows: the same log, not larger than
 * ours, and a tree the vault agrees with. */
static int check_prev(struct tiles *t)
{
	struct vault_checkpoint prev;
	uint8_t root[VAULT_HASH_LEN];
	struct stat st;
	size_t off = 0;
	int fd, rc;

	fd = tiles_open(t, "checkpoint", O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > VAULT_NOTE_MAX) {
		close(fd);
		return -EBADMSG;
	}
	t->prev_note = malloc((size_t)st.st_size + 1);
	if (!t->prev_note) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, t->prev_note + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EBADMSG;
			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	close(fd);
	t->prev_len = off;
	rc = vault_checkpoint_parse(t->prev_note, t->prev_len, NULL, &prev);
	if (rc < 0)
		return -EBADMSG;
	if (strcmp(prev.origin, t->cp.origin) != 0)
		return -EEXIST;
	/* Beyond the snapshot it cannot be checked: a newer export, or a fork. */
	if (prev.size > vault_reader_size(t->r))
		return -EALREADY;
	rc = vault_root(t->r, prev.size, root);
	if (rc < 0)
		return rc;
	if (memcmp(root, prev.root, VAULT_HASH_LEN) != 0)
		return -EUCLEAN;
	if (prev.size > t->cp.size)
		return -EALREADY;
	t->st.prev_size = prev.size;
	return 0;
}

static int export(struct tiles *t, const char *note, size_t note_len)
{
	MDB_cursor *cur;
	uint8_t root[VAULT_HASH_LEN];
	int rc;

	rc = mdb_cursor_open(t->r->txn, t->r->v->dbi[DB_LEAVES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	for (unsigned level = 0; level < LEVELS && rc == 0; level++)
		if (t->cp.size >> (VAULT_TILE_HEIGHT * level))
			rc = export_level(t, cur, level);
	mdb_cursor_close(cur);
	if (rc < 0)
		return rc;
	/* What the tiles say must be what the checkpoint signs. */
	rc = edge_root(t, root);
	if (rc < 0)
		return rc;
	if (memcmp(root, t->cp.root, VAULT_HASH_LEN) != 0)
		return -EUCLEAN;
	/* Every tile durable (names included) before the checkpoint names them. */
	rc = dirty_flush(t);
	if (rc < 0)
		return rc;
	if (t->prev_note && t->prev_len == note_len && memcmp(t->prev_note, note, note_len) == 0) {
		t->st.files_unchanged++;
	} else {
		rc = put_file(t, "checkpoint", note, note_len);
		if (rc < 0)
			return rc;
		t->st.files_written++;
		t->st.bytes_written += note_len;
	}
	rc = dirty_flush(t);
	if (rc < 0)
		return rc;
	remove_superseded(t);
	return 0;
}

int vault_tiles_export(struct vault_reader *r, const char *note, size_t note_len, const char *dir,
                       unsigned flags, struct vault_tiles_stats *ret)
{
	struct tiles *t;
	uint8_t root[VAULT_HASH_LEN];
	int rc;

	if (flags & ~(unsigned)VAULT_TILES_RECHECK)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->r = r;
	t->dfd = -1;
	rc = vault_checkpoint_parse(note, note_len, NULL, &t->cp);
	if (rc < 0) {
		rc = -EBADMSG;
		goto out;
	}
	if (t->cp.size > vault_reader_size(r)) {
		rc = -ERANGE;
		goto out;
	}
	rc = vault_root(r, t->cp.size, root);
	if (rc < 0)
		goto out;
	if (memcmp(root, t->cp.root, VAULT_HASH_LEN) != 0) {
		rc = -EUCLEAN;
		goto out;
	}
	rc = open_dir(t, dir);
	if (rc < 0)
		goto out;
	rc = check_prev(t);
	if (rc < 0)
		goto out;
	t->trusted = flags & VAULT_TILES_RECHECK ? 0 : t->st.prev_size;
	t->st.size = t->cp.size;
	if (vault__hasher_init(&t->h, r->v->sha256) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = export(t, note, note_len);
	vault__hasher_deinit(&t->h);
	if (rc == 0 && ret)
		*ret = t->st;
out:
	if (t->dfd >= 0)
		close(t->dfd); /* drops the lock */
	free(t->prev_note);
	free(t);
	return rc;
}
