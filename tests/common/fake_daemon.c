/* SPDX-License-Identifier: Apache-2.0 */
/* A fake evidentd speaking proto/PROTOCOL.md for client tests (see fake_daemon.h). Built with
 * -DFAKE_DAEMON_MAIN it is also the `fake-evidentd` program for trying clients by hand. */
#include "fake_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "evident.pb-c.h"
#include "frame.h"

#define MAX_CONNS 256
#define RBUF_SIZE (64u << 10)

struct model {
	struct model *next;
	char *key; /* ID@VERSION */
	uint8_t *manifest;
	size_t manifest_len;
	size_t n_features;
	char sha[2][65];
	uint64_t size[2];
	bool has_ref;
	bool complete;
	uint64_t seq;
};

struct buf {
	uint8_t *p;
	size_t len, off, cap;
};

struct conn {
	int fd;
	bool hello;
	char *name;
	struct frame_reader rd;
	struct buf out;
	struct buf held;
	struct model *up;
	int up_kind;
	uint64_t up_expect;
	EVP_MD_CTX *md;
};

struct dd_entry {
	char *key; /* client_name '\0' request_id */
	size_t key_len;
	uint64_t seq;
	uint64_t content; /* hash of the record's bytes: a retry must carry the same */
};

struct fake_daemon {
	pthread_mutex_t mu;
	pthread_t thread;
	int lfd, efd;
	char *path;
	struct fake_config cfg;
	struct fake_stats st;
	bool stop, kick;
	struct conn *conns[MAX_CONNS];
	size_t n_conns;
	struct model *models;
	struct dd_entry *dd;
	size_t dd_cap, dd_n;
	uint64_t drop_countdown;
	uint64_t overloaded_left, vault_full_left;
	uint8_t *rbuf;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort(); /* tests only */
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_frame(struct buf *b, const Evident__V1__Frame *f)
{
	size_t n = protobuf_c_message_get_packed_size(&f->base);
	uint8_t hdr[FRAME_HEADER_MAX];
	uint8_t *tmp = malloc(n ? n : 1);

	if (!tmp)
		abort();
	buf_put(b, hdr, frame_header_encode(n, hdr));
	protobuf_c_message_pack(&f->base, tmp);
	buf_put(b, tmp, n);
	free(tmp);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static struct dd_entry *dd_find(struct fake_daemon *f, const char *key, size_t len)
{
	if (!f->dd_cap)
		return NULL;
	for (size_t i = hash_bytes(key, len) & (f->dd_cap - 1);; i = (i + 1) & (f->dd_cap - 1)) {
		struct dd_entry *e = &f->dd[i];
		if (!e->key)
			return NULL;
		if (e->key_len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
}

static void dd_insert_raw(struct fake_daemon *f, char *key, size_t len, uint64_t seq,
                          uint64_t content)
{
	size_t i = hash_bytes(key, len) & (f->dd_cap - 1);

	while (f->dd[i].key)
		i = (i + 1) & (f->dd_cap - 1);
	f->dd[i] = (struct dd_entry){key, len, seq, content};
}

static void dd_insert(struct fake_daemon *f, const char *key, size_t len, uint64_t seq,
                      uint64_t content)
{
	char *k;

	if ((f->dd_n + 1) * 2 > f->dd_cap) {
		struct dd_entry *old = f->dd;
		size_t old_cap = f->dd_cap;
		f->dd_cap = old_cap ? old_cap * 2 : 1024;
		f->dd = calloc(f->dd_cap, sizeof(*f->dd));
		if (!f->dd)
			abort();
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				dd_insert_raw(f, old[i].key, old[i].key_len, old[i].seq,
				              old[i].content);
		free(old);
	}
	k = malloc(len);
	if (!k)
		abort();
	memcpy(k, key, len);
	dd_insert_raw(f, k, len, seq, content);
	f->dd_n++;
}

/* "client\0request_id" into a malloc'd key. */
static char *dd_key(const char *client, const char *id, size_t *ret_len)
{
	size_t a = strlen(client), b = strlen(id);
	char *k = malloc(a + 1 + b);

	if (!k)
		abort();
	memcpy(k, client, a + 1);
	memcpy(k + a + 1, id, b);
	*ret_len = a + 1 + b;
	return k;
}

static void send_error(struct buf *b, int code, const char *msg, const char *request_id)
{
	Evident__V1__Error e = EVIDENT__V1__ERROR__INIT;
	Evident__V1__Frame fr = EVIDENT__V1__FRAME__INIT;

	e.has_code = 1;
	e.code = code;
	e.message = (char *)msg;
	e.request_id = (char *)request_id;
	fr.body_case = EVIDENT__V1__FRAME__BODY_ERROR;
	fr.error = &e;
	buf_frame(b, &fr);
}

static void send_ack(struct buf *b, const char *request_id, uint64_t seq, bool dup)
{
	Evident__V1__Ack a = EVIDENT__V1__ACK__INIT;
	Evident__V1__Frame fr = EVIDENT__V1__FRAME__INIT;
	uint8_t leaf[32] = {0};

	memcpy(leaf, &seq, sizeof(seq));
	a.request_id = (char *)request_id;
	a.has_seq = 1;
	a.seq = seq;
	a.has_leaf_hash = 1;
	a.leaf_hash.len = sizeof(leaf);
	a.leaf_hash.data = leaf;
	if (dup) {
		a.has_duplicate = 1;
		a.duplicate = 1;
	}
	fr.body_case = EVIDENT__V1__FRAME__BODY_ACK;
	fr.ack = &a;
	buf_frame(b, &fr);
}

static void send_artifact_request(struct buf *b, const struct model *m, int kind)
{
	Evident__V1__ArtifactRequest q = EVIDENT__V1__ARTIFACT_REQUEST__INIT;
	Evident__V1__Frame fr = EVIDENT__V1__FRAME__INIT;
	char *at = strrchr(m->key, '@');
	char *id = strndup(m->key, (size_t)(at - m->key));

	q.model_id = id;
	q.version = at + 1;
	q.has_kind = 1;
	q.kind = kind ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA
	              : EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL;
	q.has_offset = 1;
	q.offset = 0;
	fr.body_case = EVIDENT__V1__FRAME__BODY_ARTIFACT_REQUEST;
	fr.artifact_request = &q;
	buf_frame(b, &fr);
	free(id);
}

static struct model *model_find(struct fake_daemon *f, const char *key)
{
	for (struct model *m = f->models; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

static void model_remove(struct fake_daemon *f, struct model *m)
{
	for (struct model **p = &f->models; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	for (size_t i = 0; i < f->n_conns; i++)
		if (f->conns[i]->up == m)
			f->conns[i]->up = NULL;
	free(m->key);
	free(m->manifest);
	free(m);
}

/* Where acks go: held back or out. */
static struct buf *ack_buf(struct fake_daemon *f, struct conn *c)
{
	return f->cfg.hold_acks ? &c->held : &c->out;
}

static void on_register(struct fake_daemon *f, struct conn *c, const Evident__V1__RegisterModel *r)
{
	const Evident__V1__ModelManifest *mf = r->manifest;
	struct model *m;
	uint8_t *bytes;
	size_t len;
	char *key;

	if (!mf || !mf->model_id || !mf->version) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "no manifest", NULL);
		return;
	}
	if (c->up) {
		/* as the daemon: one registration at a time per connection */
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE,
		           "a registration is already in progress on this connection", NULL);
		f->st.refused++;
		return;
	}
	f->st.registrations++;
	if (asprintf(&key, "%s@%s", mf->model_id, mf->version) < 0)
		abort();
	len = protobuf_c_message_get_packed_size(&mf->base);
	bytes = malloc(len ? len : 1);
	protobuf_c_message_pack(&mf->base, bytes);
	m = model_find(f, key);
	if (m && (m->manifest_len != len || memcmp(m->manifest, bytes, len) != 0)) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__CONFLICT,
		           "another manifest is registered under this ID@VERSION", key);
		goto out;
	}
	if (m && m->complete) {
		send_ack(&c->out, key, m->seq, true);
		goto out;
	}
	if (!m) {
		m = calloc(1, sizeof(*m));
		m->key = key;
		key = NULL;
		m->manifest = bytes;
		m->manifest_len = len;
		bytes = NULL;
		m->n_features = mf->n_features;
		snprintf(m->sha[0], sizeof(m->sha[0]), "%s",
		         mf->artifact_sha256 ? mf->artifact_sha256 : "");
		m->size[0] = mf->artifact_size;
		m->has_ref = mf->reference_data_sha256 != NULL;
		snprintf(m->sha[1], sizeof(m->sha[1]), "%s",
		         mf->reference_data_sha256 ? mf->reference_data_sha256 : "");
		m->size[1] = mf->reference_data_size;
		m->next = f->models;
		f->models = m;
	}
	c->up = m;
	c->up_kind = 0;
	c->up_expect = 0;
	EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
	send_artifact_request(&c->out, m, 0);
out:
	free(key);
	free(bytes);
}

static void on_chunk(struct fake_daemon *f, struct conn *c, const Evident__V1__ArtifactChunk *ch)
{
	static const char hexd[] = "0123456789abcdef";
	struct model *m = c->up;
	unsigned char md[32];
	unsigned int md_len;
	char hex[65];
	int kind = ch->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA;
	char *key;

	if (!m || !ch->model_id || !ch->version) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "unexpected chunk",
		           NULL);
		return;
	}
	if (asprintf(&key, "%s@%s", ch->model_id, ch->version) < 0)
		abort();
	if (strcmp(key, m->key) != 0 || kind != c->up_kind) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE,
		           "chunk for another upload", key);
		free(key);
		return;
	}
	free(key);
	f->st.chunks++;
	f->st.chunk_bytes += ch->data.len;
	if (!ch->has_offset || ch->offset != c->up_expect)
		f->st.chunk_offset_errors++;
	EVP_DigestUpdate(c->md, ch->data.data, ch->data.len);
	c->up_expect += ch->data.len;
	if (!ch->last)
		return;
	EVP_DigestFinal_ex(c->md, md, &md_len);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = hexd[md[i] >> 4];
		hex[2 * i + 1] = hexd[md[i] & 15];
	}
	hex[64] = '\0';
	memcpy(f->st.last_artifact_sha256, hex, sizeof(hex));
	if (strcmp(hex, m->sha[kind]) != 0 || c->up_expect != m->size[kind]) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__SCHEMA_MISMATCH,
		           "artifact size or SHA-256 differs from the manifest", m->key);
		model_remove(f, m);
		return;
	}
	f->st.uploads_verified++;
	if (kind == 0 && m->has_ref) {
		c->up_kind = 1;
		c->up_expect = 0;
		EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
		send_artifact_request(&c->out, m, 1);
		return;
	}
	m->complete = true;
	m->seq = f->st.next_seq++;
	c->up = NULL;
	send_ack(ack_buf(f, c), m->key, m->seq, false);
}

/* Returns false when the connection must close now (drop_after). */
static bool on_record(struct fake_daemon *f, struct conn *c, const Evident__V1__Record *r,
                      const uint8_t *body, size_t len)
{
	const char *id = r->request_id;
	struct dd_entry *e;
	uint64_t content;
	size_t klen;
	char *key;

	f->st.records++;
	if (!id || !id[0] || !r->model_id || !r->model_version) {
		f->st.refused++;
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "missing field", id);
		return true;
	}
	content = hash_bytes((const char *)body, len); /* clients resend the same frame */
	key = dd_key(c->name, id, &klen);
	e = dd_find(f, key, klen);
	if (e && e->content != content) {
		/* as the daemon: the first record stands, the different retry is refused */
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "request_id was stored with other content (seq %llu); the first record "
		         "stands",
		         (unsigned long long)e->seq);
		f->st.conflicts++;
		f->st.refused++;
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__CONFLICT, msg, id);
		free(key);
		return true;
	}
	if (e) {
		f->st.duplicates++;
		send_ack(ack_buf(f, c), id, e->seq, true);
		free(key);
		return true;
	}
	free(key);
	if (f->overloaded_left) {
		f->overloaded_left--;
		f->st.refused++;
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__OVERLOADED, "queue over its limit",
		           id);
		return true;
	}
	if (f->vault_full_left) {
		f->vault_full_left--;
		f->st.refused++;
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__VAULT_FULL, "disk full", id);
		return true;
	}
	if (f->cfg.require_model) {
		char *mk;
		struct model *m;
		if (asprintf(&mk, "%s@%s", r->model_id, r->model_version) < 0)
			abort();
		m = model_find(f, mk);
		free(mk);
		if (!m || !m->complete) {
			f->st.refused++;
			send_error(&c->out, EVIDENT__V1__ERROR__CODE__UNKNOWN_MODEL,
			           "model not registered", id);
			return true;
		}
		if (r->n_features != m->n_features) {
			f->st.refused++;
			send_error(&c->out, EVIDENT__V1__ERROR__CODE__SCHEMA_MISMATCH,
			           "feature count differs from the manifest", id);
			return true;
		}
	}
	for (size_t i = 0; i < r->n_features; i++)
		if (isinf(r->features[i])) {
			f->st.refused++;
			send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE,
			           "infinite feature", id);
			return true;
		}
	key = dd_key(c->name, id, &klen);
	dd_insert(f, key, klen, f->st.next_seq, content);
	free(key);
	f->st.stored++;
	if (f->drop_countdown && --f->drop_countdown == 0) {
		f->st.drops++;
		f->st.next_seq++;
		return false; /* stored, never acknowledged */
	}
	send_ack(ack_buf(f, c), id, f->st.next_seq++, false);
	return true;
}

/* Returns false when the connection must close. */
static bool on_frame(struct fake_daemon *f, struct conn *c, const uint8_t *body, size_t len)
{
	Evident__V1__Frame *fr = evident__v1__frame__unpack(NULL, len, body);
	bool keep = true;

	if (!fr) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "undecodable frame",
		           NULL);
		return c->hello;
	}
	if (!c->hello) {
		if (fr->body_case != EVIDENT__V1__FRAME__BODY_HELLO || !fr->hello->client_name) {
			send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "Hello first",
			           NULL);
			keep = false;
		} else if (fr->hello->protocol_version != 1) {
			send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_PROTOCOL_VERSION,
			           "version 1 only", NULL);
			keep = false;
		} else {
			Evident__V1__HelloOk ok = EVIDENT__V1__HELLO_OK__INIT;
			Evident__V1__Frame out = EVIDENT__V1__FRAME__INIT;
			c->hello = true;
			c->name = strdup(fr->hello->client_name);
			f->st.hellos++;
			ok.has_protocol_version = 1;
			ok.protocol_version = 1;
			ok.daemon_version = "fake";
			ok.vault_origin = "fake.invalid/vault";
			ok.has_max_frame = 1;
			ok.max_frame = f->cfg.max_frame;
			out.body_case = EVIDENT__V1__FRAME__BODY_HELLO_OK;
			out.hello_ok = &ok;
			buf_frame(&c->out, &out);
		}
		evident__v1__frame__free_unpacked(fr, NULL);
		return keep;
	}
	switch (fr->body_case) {
	case EVIDENT__V1__FRAME__BODY_RECORD:
		keep = on_record(f, c, fr->record, body, len);
		break;
	case EVIDENT__V1__FRAME__BODY_REGISTER_MODEL:
		on_register(f, c, fr->register_model);
		break;
	case EVIDENT__V1__FRAME__BODY_ARTIFACT_CHUNK:
		on_chunk(f, c, fr->artifact_chunk);
		break;
	default:
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_MESSAGE, "unexpected frame",
		           NULL);
	}
	evident__v1__frame__free_unpacked(fr, NULL);
	return keep;
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	frame_reader_deinit(&c->rd);
	free(c->out.p);
	free(c->held.p);
	free(c->name);
	EVP_MD_CTX_free(c->md);
	free(c);
}

static void conn_drop(struct fake_daemon *f, size_t i)
{
	conn_free(f->conns[i]);
	f->conns[i] = f->conns[--f->n_conns];
}

/* Returns false on a write error. */
static bool conn_flush(struct conn *c)
{
	while (c->out.off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->out.off += (size_t)n;
	}
	c->out.off = c->out.len = 0;
	return true;
}

/* Reads, handles and answers. Returns false when the connection is to be closed. */
static bool conn_read(struct fake_daemon *f, struct conn *c)
{
	ssize_t n = recv(c->fd, f->rbuf, RBUF_SIZE, MSG_DONTWAIT);
	const uint8_t *body;
	size_t len;
	int r;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	if (frame_reader_feed(&c->rd, f->rbuf, (size_t)n) < 0)
		return false;
	while ((r = frame_reader_next(&c->rd, &body, &len)) == 1)
		if (!on_frame(f, c, body, len))
			return false;
	if (r == -EMSGSIZE) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__TOO_LARGE, "frame over max_frame",
		           NULL);
		conn_flush(c);
		return false;
	}
	if (r < 0) {
		send_error(&c->out, EVIDENT__V1__ERROR__CODE__BAD_FRAME, "bad length prefix", NULL);
		conn_flush(c);
		return false;
	}
	if (f->cfg.ack_delay_us && c->out.len) {
		pthread_mutex_unlock(&f->mu);
		usleep(f->cfg.ack_delay_us);
		pthread_mutex_lock(&f->mu);
	}
	return conn_flush(c);
}

static void *fake_main(void *arg)
{
	struct fake_daemon *f = arg;
	struct pollfd pfd[MAX_CONNS + 2];

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		size_t n = 2;
		int r;

		if (f->kick) {
			f->kick = false;
			while (f->n_conns)
				conn_drop(f, 0);
		}
		if (!f->cfg.hold_acks)
			for (size_t i = 0; i < f->n_conns; i++) {
				struct conn *c = f->conns[i];
				if (c->held.len) {
					buf_put(&c->out, c->held.p, c->held.len);
					c->held.len = 0;
					conn_flush(c);
				}
			}
		pfd[0] = (struct pollfd){.fd = f->efd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
		for (size_t i = 0; i < f->n_conns; i++)
			pfd[n++] = (struct pollfd){.fd = f->conns[i]->fd,
			                           .events = POLLIN |
			                                     (f->conns[i]->out.len ? POLLOUT : 0)};
		pthread_mutex_unlock(&f->mu);
		r = poll(pfd, n, -1);
		pthread_mutex_lock(&f->mu);
		if (r < 0)
			continue;
		if (pfd[0].revents) {
			uint64_t v;
			ssize_t k = read(f->efd, &v, sizeof(v));
			(void)k;
		}
		/* connections in reverse so that dropping one keeps earlier indexes valid */
		for (size_t i = n - 2; i-- > 0;) {
			struct conn *c = f->conns[i];
			bool ok = true;
			if (!pfd[i + 2].revents)
				continue;
			if (pfd[i + 2].revents & POLLOUT)
				ok = conn_flush(c);
			if (ok && (pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				ok = conn_read(f, c);
			if (!ok)
				conn_drop(f, i);
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0 && f->n_conns == MAX_CONNS) {
				close(fd);
			} else if (fd >= 0) {
				struct conn *c = calloc(1, sizeof(*c));
				if (!c)
					abort();
				c->fd = fd;
				c->md = EVP_MD_CTX_new();
				frame_reader_init(&c->rd, f->cfg.max_frame);
				f->conns[f->n_conns++] = c;
				f->st.connections++;
			}
		}
	}
	while (f->n_conns)
		conn_drop(f, 0);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void poke(struct fake_daemon *f)
{
	uint64_t one = 1;
	ssize_t n = write(f->efd, &one, sizeof(one));

	(void)n;
}

int fake_daemon_start(const char *socket_path, const struct fake_config *cfg,
                      struct fake_daemon **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct fake_daemon *f;
	int r;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (cfg)
		f->cfg = *cfg;
	if (!f->cfg.max_frame)
		f->cfg.max_frame = FRAME_MAX_DEFAULT;
	f->drop_countdown = f->cfg.drop_after;
	f->overloaded_left = f->cfg.overloaded_first;
	f->vault_full_left = f->cfg.vault_full_first;
	pthread_mutex_init(&f->mu, NULL);
	f->path = strdup(socket_path);
	f->rbuf = malloc(RBUF_SIZE);
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, socket_path);
	unlink(socket_path);
	if (f->efd < 0 || f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 64) < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&f->thread, NULL, fake_main, f);
	if (r < 0)
		goto fail;
	*ret = f;
	return 0;
fail:
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->efd >= 0)
		close(f->efd);
	free(f->rbuf);
	free(f->path);
	free(f);
	return r;
}

void fake_daemon_stop(struct fake_daemon *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	poke(f);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	close(f->efd);
	unlink(f->path);
	while (f->models)
		model_remove(f, f->models);
	for (size_t i = 0; i < f->dd_cap; i++)
		free(f->dd[i].key);
	free(f->dd);
	free(f->rbuf);
	free(f->path);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void fake_daemon_stats(struct fake_daemon *f, struct fake_stats *ret)
{
	pthread_mutex_lock(&f->mu);
	*ret = f->st;
	pthread_mutex_unlock(&f->mu);
}

void fake_daemon_hold_acks(struct fake_daemon *f, bool hold)
{
	pthread_mutex_lock(&f->mu);
	f->cfg.hold_acks = hold;
	pthread_mutex_unlock(&f->mu);
	poke(f);
}

void fake_daemon_drop_after(struct fake_daemon *f, uint64_t n)
{
	pthread_mutex_lock(&f->mu);
	f->drop_countdown = n;
	pthread_mutex_unlock(&f->mu);
}

void fake_daemon_kick(struct fake_daemon *f)
{
	pthread_mutex_lock(&f->mu);
	f->kick = true;
	pthread_mutex_unlock(&f->mu);
	poke(f);
}

int64_t fake_daemon_seq_of(struct fake_daemon *f, const char *client_name, const char *request_id)
{
	size_t len;
	char *key = dd_key(client_name, request_id, &len);
	struct dd_entry *e;
	int64_t seq;

	pthread_mutex_lock(&f->mu);
	e = dd_find(f, key, len);
	seq = e ? (int64_t)e->seq : -1;
	pthread_mutex_unlock(&f->mu);
	free(key);
	return seq;
}

#ifdef FAKE_DAEMON_MAIN
#include <getopt.h>
#include <signal.h>

/* fake-evidentd --socket PATH [--require-model] [--overloaded-first K] [--drop-after N]
 * [--ack-delay-us U]: serves until SIGINT/SIGTERM, then prints its counters. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"require-model", no_argument, NULL, 'm'},
	    {"overloaded-first", required_argument, NULL, 'o'},
	    {"drop-after", required_argument, NULL, 'd'},
	    {"ack-delay-us", required_argument, NULL, 'a'},
	    {0},
	};
	struct fake_config cfg = {0};
	struct fake_daemon *f;
	struct fake_stats st;
	const char *path = NULL;
	sigset_t set;
	int opt, sig, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'm':
			cfg.require_model = true;
			break;
		case 'o':
			cfg.overloaded_first = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			cfg.drop_after = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			cfg.ack_delay_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: fake-evidentd --socket PATH [--require-model] "
		                "[--overloaded-first K] [--drop-after N] [--ack-delay-us U]\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = fake_daemon_start(path, &cfg, &f);
	if (r < 0) {
		fprintf(stderr, "fake-evidentd: \"%s\": %s\n", path, strerror(-r));
		return 1;
	}
	fprintf(stderr, "fake-evidentd: serving on \"%s\" (pid %d)\n", path, (int)getpid());
	sigwait(&set, &sig);
	fake_daemon_stats(f, &st);
	fake_daemon_stop(f);
	fprintf(stderr,
	        "fake-evidentd: connections %llu, records %llu, stored %llu, duplicates %llu, "
	        "refused %llu, registrations %llu, chunks %llu\n",
	        (unsigned long long)st.connections, (unsigned long long)st.records,
	        (unsigned long long)st.stored, (unsigned long long)st.duplicates,
	        (unsigned long long)st.refused, (unsigned long long)st.registrations,
	        (unsigned long long)st.chunks);
	return 0;
}
#endif
