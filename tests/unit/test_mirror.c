/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for mirror vaults (vault/mirror.c): an origin's entries and checkpoints copied
 * entry by entry give the same leaves, roots, indexes and proofs, every broken link is refused
 * with its error, and a mirror keeps to what only a mirror may do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "vault.h"

#define W (VAULT_OPEN_WRITE | VAULT_OPEN_CREATE)
#define M (VAULT_OPEN_WRITE | VAULT_OPEN_CREATE | VAULT_OPEN_MIRROR)

/* The toy application of these tests: a payload "k:REQUEST..." carries the dedup key
 * ("c", REQUEST up to the first space). */
static int toy_key(void *userdata, uint16_t type, const uint8_t *payload, size_t len, char *client,
                   char *request)
{
	(void)userdata;
	(void)type;
	if (len < 2 || memcmp(payload, "k:", 2) != 0)
		return 0;
	const uint8_t *sp = memchr(payload, ' ', len);
	size_t rl = (sp ? (size_t)(sp - payload) : len) - 2;
	strcpy(client, "c");
	memcpy(request, payload + 2, rl);
	request[rl] = '\0';
	return 1;
}

struct origin {
	char *dir;
	struct vault *v;
	struct vault_pubkey key;
	char origin[VAULT_ORIGIN_MAX + 1];
};

static void origin_open(struct origin *o, const char *tag, unsigned leaf_version)
{
	struct vault_options opts = {.origin = "origin.example/test",
	                             .leaf_version = (uint8_t)leaf_version};
	struct vault_info info;

	if (!o->dir)
		o->dir = test_tmpdir(tag);
	ck_assert_int_eq(vault_open(o->dir, W, &opts, &o->v), 0);
	ck_assert_int_eq(vault_info(o->v, &info), 0);
	o->key = info.key;
	strcpy(o->origin, info.origin);
}

/* Appends a record with a dedup key ("k:ID ...") and a subject when asked. */
static uint64_t origin_record(struct origin *o, const char *text, const char *subject)
{
	struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD,
	                            .payload = text,
	                            .payload_len = strlen(text),
	                            .subject = subject};
	char client[8], request[VAULT_DEDUP_KEY_MAX];
	struct vault_append_result res;

	if (toy_key(NULL, 1, (const uint8_t *)text, strlen(text), client, request) == 1) {
		in.dedup_client = "c";
		in.dedup_request = request;
	}
	ck_assert_int_eq(vault_append(o->v, &in, 1, &res), 0);
	return res.seq;
}

static struct vault *mirror_open(const char *dir, const struct origin *o)
{
	struct vault_options opts = {
	    .origin = o->origin, .mirror_key = &o->key, .mirror_dedup_key = toy_key};
	struct vault *m = NULL;
	int rc = vault_open(dir, M, &opts, &m);
	ck_assert_msg(rc == 0, "mirror open: %s", strerror(-rc));
	return m;
}

/* An origin entry as a forwarder sends it. */
struct sent {
	uint8_t leaf[VAULT_LEAF_LEN];
	uint8_t nonce[VAULT_NONCE_LEN];
	uint8_t *payload;
	struct vault_mirror_in in;
};

static void sent_read(struct vault *v, uint64_t seq, struct sent *s)
{
	struct vault_reader *r;
	struct vault_entry e;

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, seq, &e), 0);
	vault_leaf_encode(&e.leaf, s->leaf);
	s->in.leaf = s->leaf;
	if (e.payload_nonce) {
		memcpy(s->nonce, e.payload_nonce, VAULT_NONCE_LEN);
		s->in.nonce = s->nonce;
	}
	if (e.payload) {
		s->payload = malloc(e.payload_len + 1);
		memcpy(s->payload, e.payload, e.payload_len);
		s->in.payload = s->payload;
		s->in.payload_len = e.payload_len;
	}
	vault_reader_end(r);
}

/* Mirrors origin entries [from, to) one batch at a time (subjects[seq] when given). */
static void mirror_range(struct vault *m, struct vault *v, uint64_t from, uint64_t to,
                         const char *const *subjects)
{
	size_t n = (size_t)(to - from);
	struct sent *s = calloc(n, sizeof(*s));
	struct vault_mirror_in *in = calloc(n, sizeof(*in));
	struct vault_mirror_result res;

	for (size_t i = 0; i < n; i++) {
		sent_read(v, from + i, &s[i]);
		in[i] = s[i].in;
		in[i].subject = subjects ? subjects[from + i] : NULL;
	}
	int rc = vault_mirror_append(m, in, n, &res);
	ck_assert_msg(rc == 0, "mirror append: %s at %zu", strerror(-rc), res.index);
	ck_assert_uint_eq(res.index, n);
	ck_assert_uint_eq(res.size, to);
	for (size_t i = 0; i < n; i++)
		free(s[i].payload);
	free(s);
	free(in);
}

static char *latest_note(struct vault *v)
{
	struct vault_reader *r;
	char *note = NULL;

	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_checkpoint_latest(r, &note, NULL), 0);
	vault_reader_end(r);
	return note;
}

static void assert_same_log(struct vault *a, struct vault *b)
{
	struct vault_info ia, ib;

	ck_assert_int_eq(vault_info(a, &ia), 0);
	ck_assert_int_eq(vault_info(b, &ib), 0);
	ck_assert_uint_eq(ia.size, ib.size);
	ck_assert_mem_eq(ia.root, ib.root, VAULT_HASH_LEN);
	ck_assert_str_eq(ia.origin, ib.origin);
	ck_assert_mem_eq(ia.key.key, ib.key.key, 32);
	for (uint64_t seq = 0; seq < ia.size; seq++) {
		uint8_t la[VAULT_LEAF_LEN], lb[VAULT_LEAF_LEN], ha[32], hb[32];
		ck_assert_int_eq(vault_mirror_leaf(a, seq, la, ha), 0);
		ck_assert_int_eq(vault_mirror_leaf(b, seq, lb, hb), 0);
		ck_assert_mem_eq(la, lb, VAULT_LEAF_LEN);
		ck_assert_mem_eq(ha, hb, VAULT_HASH_LEN);
	}
}

static void assert_verifies(struct vault *v)
{
	struct vault_verify_options vo = {.dedup_key = toy_key, .threads = 1};
	struct vault_verify_report rep;

	ck_assert_int_eq(vault_verify(v, &vo, &rep), 0);
	ck_assert_msg(rep.problem == VAULT_OK, "verify: %s at %llu: %s",
	              vault_problem_name(rep.problem), (unsigned long long)rep.bad_seq, rep.detail);
}

/* ------------------------------------------------------------------ vault_mirror_append */

START_TEST(vault_mirror_append_copies_the_origin)
{
	struct origin o = {0};
	const char *subjects[16] = {0};
	char *mdir = test_tmpdir("mirror");
	struct vault_append_result pr;
	struct vault_prune_in prune;
	struct vault_reader *r;
	struct vault_entry e;
	uint64_t seq;

	/* v1 leaves first (an older vault), then v2, an empty payload, subjects, keys */
	origin_open(&o, "origin", 1);
	origin_record(&o, "k:r0 first", NULL);
	origin_record(&o, "plain v1", NULL);
	vault_close(o.v);
	origin_open(&o, "origin", 0);
	subjects[2] = "alice";
	origin_record(&o, "k:r2 alice's", "alice");
	origin_record(&o, "", NULL);
	subjects[4] = "bob";
	origin_record(&o, "k:r4 bob's", "bob");
	origin_record(&o, "k:r5 kept", NULL);
	ck_assert_int_eq(vault_checkpoint_sign(o.v, NULL), 0);
	struct vault *m = mirror_open(mdir, &o);
	mirror_range(m, o.v, 0, 3, subjects);
	mirror_range(m, o.v, 3, 6, subjects);
	/* an erasure of bob's record: the payload and its key go, the prune entry names it */
	prune = (struct vault_prune_in){
	    .seq = 4, .reason = "erasure", .dedup_client = "c", .dedup_request = "r4"};
	ck_assert_int_eq(vault_prune_batch(o.v, &prune, 1, &pr), 0);
	ck_assert_uint_eq(pr.seq, 6);
	origin_record(&o, "k:r4 again", NULL); /* the key is free again: a new entry */
	ck_assert_int_eq(vault_checkpoint_sign(o.v, NULL), 0);
	mirror_range(m, o.v, 6, 8, subjects);
	char *note = latest_note(o.v);
	ck_assert_int_eq(vault_mirror_checkpoint(m, note, strlen(note)), 0);
	assert_same_log(o.v, m);
	assert_verifies(m);

	/* the prune reached the mirror; keys and subjects are the origin's */
	ck_assert_int_eq(vault_reader_begin(m, &r), 0);
	ck_assert_int_eq(vault_get(r, 4, &e), 0);
	ck_assert_ptr_null(e.payload);
	ck_assert_int_eq(vault_get(r, 3, &e), 0);
	ck_assert_ptr_nonnull(e.payload);
	ck_assert_uint_eq(e.payload_len, 0);
	ck_assert_int_eq(vault_subject_next(r, "bob", 0, &seq), 0);
	ck_assert_uint_eq(seq, 4);
	ck_assert_int_eq(vault_next_of_type(r, VAULT_ENTRY_PRUNE, 0, &seq), 0);
	ck_assert_uint_eq(seq, 6);
	char *mnote = NULL;
	ck_assert_int_eq(vault_checkpoint_latest(r, &mnote, NULL), 0);
	ck_assert_str_eq(mnote, note);
	free(mnote);
	vault_reader_end(r);
	ck_assert_int_eq(vault_dedup_lookup(m, "c", "r4", &seq), 0);
	ck_assert_uint_eq(seq, 7);
	ck_assert_int_eq(vault_dedup_lookup(m, "c", "r0", &seq), 0);
	ck_assert_uint_eq(seq, 0);

	/* DIR/checkpoint is the note */
	char path[4096];
	snprintf(path, sizeof(path), "%s/checkpoint", mdir);
	char *file = test_read_file(path, NULL);
	ck_assert_str_eq(file, note);
	free(file);
	free(note);
	vault_close(m);

	/* reopened (as writer and reader) it is the same mirror */
	m = mirror_open(mdir, &o);
	ck_assert_uint_eq(vault_size(m), 8);
	vault_close(m);
	ck_assert_int_eq(vault_open(mdir, VAULT_OPEN_READ, NULL, &m), 0);
	struct vault_info info;
	ck_assert_int_eq(vault_info(m, &info), 0);
	ck_assert(info.mirror);
	ck_assert_uint_eq(info.checkpoint_size, 8);
	assert_verifies(m);
	vault_close(m);
	ck_assert_int_eq(vault_info(o.v, &info), 0);
	ck_assert(!info.mirror);
	vault_close(o.v);
	test_rmrf(o.dir);
	test_rmrf(mdir);
	free(o.dir);
	free(mdir);
}
END_TEST

START_TEST(vault_mirror_append_refuses_broken_links)
{
	struct origin o = {0}, f = {0};
	char *mdir = test_tmpdir("mirror");
	struct vault_mirror_result res;
	struct sent s[4], x;

	origin_open(&o, "origin", 0);
	for (int i = 0; i < 4; i++) {
		char text[32];
		snprintf(text, sizeof(text), "k:r%d", i);
		origin_record(&o, text, NULL);
	}
	struct vault *m = mirror_open(mdir, &o);
	for (int i = 0; i < 4; i++)
		sent_read(o.v, (uint64_t)i, &s[i]);

	/* a gap, then the batch is all or nothing and names the bad entry */
	ck_assert_int_eq(vault_mirror_append(m, &s[1].in, 1, &res), -EAGAIN);
	ck_assert_uint_eq(res.index, 0);
	struct vault_mirror_in two[2] = {s[0].in, s[2].in};
	ck_assert_int_eq(vault_mirror_append(m, two, 2, &res), -EAGAIN);
	ck_assert_uint_eq(res.index, 1);
	ck_assert_uint_eq(res.size, 0);
	ck_assert_uint_eq(vault_size(m), 0);

	/* payload, nonce, length that do not match the leaf */
	x = s[0];
	x.in.payload_len--;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG);
	x = s[0];
	x.payload[0] ^= 1;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG);
	x.payload[0] ^= 1;
	x.in.nonce = NULL;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG);
	x = s[0];
	x.in.payload = NULL;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG); /* nonce, no payload */
	x.leaf[0] = 7;
	x.in.leaf = x.leaf;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG); /* leaf version */
	x = s[0];
	x.in.subject = "";
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EINVAL);

	ck_assert_int_eq(vault_mirror_append(m, &s[0].in, 1, &res), 0);
	/* already there: -ESTALE, and the stored leaf tells a duplicate from a fork */
	ck_assert_int_eq(vault_mirror_append(m, &s[0].in, 1, &res), -ESTALE);
	uint8_t leaf[VAULT_LEAF_LEN];
	ck_assert_int_eq(vault_mirror_leaf(m, 0, leaf, NULL), 0);
	ck_assert_mem_eq(leaf, s[0].leaf, VAULT_LEAF_LEN);
	ck_assert_int_eq(vault_mirror_leaf(m, 1, leaf, NULL), -ENOENT);

	/* a pruned payload may come without payload and nonce */
	x = s[1];
	x.in.payload = NULL;
	x.in.nonce = NULL;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), 0);

	/* another history at seq 2: its chain does not link */
	origin_open(&f, "fork", 0);
	for (int i = 0; i < 3; i++)
		origin_record(&f, "other", NULL);
	sent_read(f.v, 2, &x);
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG);
	free(x.payload);

	/* time going back */
	x = s[2];
	struct vault_leaf l;
	ck_assert_int_eq(vault_leaf_decode(x.leaf, VAULT_LEAF_LEN, &l), 0);
	l.timestamp_ns = 1;
	vault_leaf_encode(&l, x.leaf);
	x.in.leaf = x.leaf;
	ck_assert_int_eq(vault_mirror_append(m, &x.in, 1, &res), -EBADMSG);

	ck_assert_int_eq(vault_mirror_append(m, &s[2].in, 1, &res), 0);
	ck_assert_uint_eq(res.size, 3);

	/* a mirror appends, prunes and signs nothing of its own; an origin mirrors nothing */
	struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD, .payload = "x", .payload_len = 1};
	struct vault_append_result ar;
	ck_assert_int_eq(vault_append(m, &in, 1, &ar), -EPERM);
	ck_assert_int_eq(vault_prune(m, 0, "no", &ar), -EPERM);
	ck_assert_int_eq(vault_checkpoint_sign(m, NULL), -EPERM);
	ck_assert_int_eq(vault_mirror_append(o.v, &s[3].in, 1, &res), -EPERM);
	ck_assert_int_eq(vault_mirror_checkpoint(o.v, "x", 1), -EPERM);

	for (int i = 0; i < 4; i++)
		free(s[i].payload);
	vault_close(m);
	vault_close(o.v);
	vault_close(f.v);
	test_rmrf(o.dir);
	test_rmrf(f.dir);
	test_rmrf(mdir);
	free(o.dir);
	free(f.dir);
	free(mdir);
}
END_TEST

START_TEST(vault_mirror_append_checks_prunes)
{
	struct origin o = {0};
	char *mdir = test_tmpdir("mirror");
	struct vault_mirror_result res;
	struct vault_append_result pr;
	struct sent s[3], x;

	origin_open(&o, "origin", 0);
	origin_record(&o, "k:a", NULL);
	origin_record(&o, "k:b", NULL);
	ck_assert_int_eq(vault_prune(o.v, 0, "retention", &pr), 0);
	struct vault *m = mirror_open(mdir, &o);
	for (int i = 0; i < 3; i++)
		sent_read(o.v, (uint64_t)i, &s[i]);
	/* seq 0 was pruned before it was sent */
	x = s[0];
	x.in.payload = NULL;
	x.in.nonce = NULL;
	struct vault_mirror_in in[3] = {x.in, s[1].in, s[2].in};
	/* a prune entry without its payload, or naming another commitment, is refused */
	x = s[2];
	x.in.payload = NULL;
	x.in.nonce = NULL;
	in[2] = x.in;
	ck_assert_int_eq(vault_mirror_append(m, in, 3, &res), -EBADMSG);
	ck_assert_uint_eq(res.index, 2);
	in[2] = s[2].in;
	ck_assert_int_eq(vault_mirror_append(m, in, 3, &res), 0);
	ck_assert_uint_eq(res.size, 3);
	ck_assert_int_eq(vault_checkpoint_sign(o.v, NULL), 0);
	char *note = latest_note(o.v);
	ck_assert_int_eq(vault_mirror_checkpoint(m, note, strlen(note)), 0);
	free(note);
	assert_verifies(m);
	for (int i = 0; i < 3; i++)
		free(s[i].payload);
	vault_close(m);
	vault_close(o.v);
	test_rmrf(o.dir);
	test_rmrf(mdir);
	free(o.dir);
	free(mdir);
}
END_TEST

/* ------------------------------------------------------------------ opening a mirror */

START_TEST(vault_open_mirror_keeps_its_origin_and_key)
{
	struct origin o = {0}, other = {0};
	char *mdir = test_tmpdir("mirror"), path[4096];
	struct vault *m;

	origin_open(&o, "origin", 0);
	origin_open(&other, "other", 0); /* same origin name, another key */
	m = mirror_open(mdir, &o);
	vault_close(m);
	snprintf(path, sizeof(path), "%s/signing.key", mdir);
	ck_assert_int_ne(access(path, F_OK), 0);

	struct vault_options opts = {.origin = o.origin, .mirror_key = &other.key};
	ck_assert_int_eq(vault_open(mdir, M, &opts, &m), -EKEYREJECTED);
	struct vault_pubkey renamed = o.key;
	strcpy(renamed.name, "another.example/log");
	opts = (struct vault_options){.origin = renamed.name, .mirror_key = &renamed};
	ck_assert_int_eq(vault_open(mdir, M, &opts, &m), -EKEYREJECTED);
	/* the key must be named after the origin; a mirror is a writer */
	opts = (struct vault_options){.origin = "x.example", .mirror_key = &o.key};
	ck_assert_int_eq(vault_open(mdir, M, &opts, &m), -EINVAL);
	opts = (struct vault_options){.origin = o.origin};
	ck_assert_int_eq(vault_open(mdir, M, &opts, &m), -EINVAL);
	ck_assert_int_eq(vault_open(mdir, VAULT_OPEN_MIRROR, &opts, &m), -EINVAL);
	/* an origin writer never takes a mirror over (and leaves no key behind), nor the reverse */
	ck_assert_int_eq(vault_open(mdir, W, NULL, &m), -EPERM);
	ck_assert_int_ne(access(path, F_OK), 0);
	vault_close(o.v);
	opts = (struct vault_options){.origin = o.origin, .mirror_key = &o.key};
	ck_assert_int_eq(vault_open(o.dir, M, &opts, &m), -EPERM);

	vault_close(other.v);
	test_rmrf(o.dir);
	test_rmrf(other.dir);
	test_rmrf(mdir);
	free(o.dir);
	free(other.dir);
	free(mdir);
}
END_TEST

/* ------------------------------------------------------------------ vault_mirror_checkpoint */

START_TEST(vault_mirror_checkpoint_checks_and_stores)
{
	struct origin o = {0}, f = {0};
	char *mdir = test_tmpdir("mirror"), *wdir = test_tmpdir("witness"), path[4096];
	struct vault_signer *w;
	char *n1, *n2, *forked;

	origin_open(&o, "origin", 0);
	origin_record(&o, "k:a", NULL);
	origin_record(&o, "k:b", NULL);
	ck_assert_int_eq(vault_checkpoint_sign(o.v, &n1), 0);
	origin_record(&o, "k:c", NULL);
	ck_assert_int_eq(vault_checkpoint_sign(o.v, NULL), 0);
	/* a witness cosigns the newest: the note sent carries the cosignature line */
	snprintf(path, sizeof(path), "%s/w.key", wdir);
	ck_assert_int_eq(vault_signer_load(path, true, "w.example", VAULT_KEY_COSIGNATURE_V1, &w),
	                 0);
	char *plain = latest_note(o.v);
	size_t body_len;
	char line[VAULT_SIGLINE_MAX + 1];
	ck_assert_int_eq(vault_note_split(plain, strlen(plain), &body_len), 0);
	int ll = vault_signer_cosign(w, plain, body_len, (uint64_t)time(NULL), line, sizeof(line));
	ck_assert_int_gt(ll, 0);
	ck_assert_int_eq(vault_cosignature_add(o.v, 3, vault_signer_pubkey(w), line, (size_t)ll),
	                 0);
	n2 = latest_note(o.v);
	ck_assert_uint_gt(strlen(n2), strlen(plain));

	struct vault *m = mirror_open(mdir, &o);
	ck_assert_int_eq(vault_mirror_checkpoint(m, n1, strlen(n1)), -ERANGE);
	mirror_range(m, o.v, 0, 2, NULL);
	ck_assert_int_eq(vault_mirror_checkpoint(m, n1, strlen(n1)), 0);
	ck_assert_int_eq(vault_mirror_checkpoint(m, n1, strlen(n1)), -ESTALE);
	mirror_range(m, o.v, 2, 3, NULL);
	ck_assert_int_eq(vault_mirror_checkpoint(m, n2, strlen(n2)), 0);
	/* stored as the origin stores it: the cosignature is not part of it */
	struct vault_reader *r;
	char *stored;
	ck_assert_int_eq(vault_reader_begin(m, &r), 0);
	ck_assert_int_eq(vault_checkpoint_get(r, 3, &stored, NULL), 0);
	ck_assert_str_eq(stored, plain);
	vault_reader_end(r);
	free(stored);
	/* the witness's (or an auditor's) cosignature is stored beside it as on any vault */
	ck_assert_int_eq(vault_cosignature_add(m, 3, vault_signer_pubkey(w), line, (size_t)ll), 0);
	char *mn = latest_note(m);
	ck_assert_str_eq(mn, n2);
	free(mn);
	/* a note of another key, or a mangled one */
	ck_assert_int_eq(vault_mirror_checkpoint(m, "garbage\n", 8), -EBADMSG);
	origin_open(&f, "fork", 0);
	for (int i = 0; i < 4; i++)
		origin_record(&f, "other", NULL);
	ck_assert_int_eq(vault_checkpoint_sign(f.v, &forked), 0);
	ck_assert_int_eq(vault_mirror_checkpoint(m, forked, strlen(forked)), -EBADMSG);
	free(forked);
	vault_close(f.v);

	/* the origin's key signing another history: fork evidence */
	char fdir2[4096];
	snprintf(fdir2, sizeof(fdir2), "%s/key", f.dir);
	vault_close(m);
	struct vault_options fo = {.origin = o.origin};
	char kp[4096];
	snprintf(kp, sizeof(kp), "%s/signing.key", o.dir);
	fo.key_path = kp;
	struct vault *fork;
	ck_assert_int_eq(vault_open(fdir2, W, &fo, &fork), 0);
	struct vault_entry_in in = {
	    .type = VAULT_ENTRY_RECORD, .payload = "rewritten", .payload_len = 9};
	struct vault_append_result ar;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(vault_append(fork, &in, 1, &ar), 0);
	ck_assert_int_eq(vault_checkpoint_sign(fork, &forked), 0);
	vault_close(fork);
	m = mirror_open(mdir, &o);
	ck_assert_int_eq(vault_mirror_checkpoint(m, forked, strlen(forked)), -EXDEV);
	free(forked);
	/* an older checkpoint of the true history, once a newer is held: stale */
	ck_assert_int_eq(vault_mirror_checkpoint(m, n1, strlen(n1)), -ESTALE);
	vault_close(m);

	vault_signer_free(w);
	free(n1);
	free(n2);
	free(plain);
	vault_close(o.v);
	test_rmrf(o.dir);
	test_rmrf(f.dir);
	test_rmrf(mdir);
	test_rmrf(wdir);
	free(o.dir);
	free(f.dir);
	free(mdir);
	free(wdir);
}
END_TEST

START_TEST(vault_mirror_holds_blobs)
{
	struct origin o = {0};
	char *mdir = test_tmpdir("mirror");
	struct vault_blob_writer *bw;
	uint8_t hash[32], expect[32];
	static const char data[] = "a model artifact";

	origin_open(&o, "origin", 0);
	struct vault *m = mirror_open(mdir, &o);
	ck_assert_int_eq(vault_sha256(data, sizeof(data), expect), 0);
	ck_assert_int_eq(vault_blob_begin(m, &bw), 0);
	ck_assert_int_eq(vault_blob_write(bw, data, sizeof(data)), 0);
	ck_assert_int_eq(vault_blob_finish(bw, expect, sizeof(data), hash), 0);
	ck_assert_mem_eq(hash, expect, 32);
	vault_close(m);
	vault_close(o.v);
	test_rmrf(o.dir);
	test_rmrf(mdir);
	free(o.dir);
	free(mdir);
}
END_TEST

static Suite *mirror_suite(void)
{
	Suite *s = suite_create("mirror");
	TCase *tc;

	tc = tcase_create("vault_mirror_append");
	tcase_add_test(tc, vault_mirror_append_copies_the_origin);
	tcase_add_test(tc, vault_mirror_append_refuses_broken_links);
	tcase_add_test(tc, vault_mirror_append_checks_prunes);
	tcase_add_test(tc, vault_mirror_holds_blobs);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_open_mirror");
	tcase_add_test(tc, vault_open_mirror_keeps_its_origin_and_key);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_mirror_checkpoint");
	tcase_add_test(tc, vault_mirror_checkpoint_checks_and_stores);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(mirror_suite());
}
