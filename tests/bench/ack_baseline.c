/* SPDX-License-Identifier: Apache-2.0 */
/* ack-baseline: the least a durable ingest server must do for each record, as the floor that
 * evidentd's ack latency and throughput are compared with (latency-bench.sh). One process,
 * one thread, no event library: poll() on a Unix socket, read, the project's framing
 * (proto/frame.h) and protobuf decoding with its string checks (dispatch_decode), the record
 * entry evidentd stores (dispatch_record_payload), then vault_append: chained, hashed, put
 * into LMDB with the (client, request id) dedup key and committed with the vault's own sync
 * flags (a full fsync per commit, the same durable work evidentd does, which is why the vault
 * library is used rather than raw LMDB calls), then the Ack (dispatch_reply_ack) written
 * straight back. It speaks enough of proto/PROTOCOL.md for evident-load: Hello is answered
 * HelloOk, RegisterModel an Ack "ID@VERSION" with duplicate set (the client then sends no
 * artifact), chunks are ignored, and nothing is validated against a model.
 *
 * Whatever the connections delivered in one poll() goes into one commit: with one record in
 * flight that is one record a commit, with more it is the group commit any single-threaded
 * server gets for free. It does not sign checkpoints, run triggers or keep statistics.
 *
 *   ack-baseline --socket PATH --vault DIR */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "frame.h"
#include "vault.h"

#define MAX_CONNS 64
#define READ_SIZE (64 * 1024)
#define E(x)      EVIDENT__V1__ERROR__CODE__##x

struct conn {
	int fd;
	bool hello_done;
	char name[129];
	struct peer peer;
	struct frame_reader reader;
	uint8_t *out;
	size_t out_len, out_cap;
};

/* The records of one commit. */
struct batch {
	size_t n, cap;
	struct vault_entry_in *in;
	struct vault_append_result *res;
	struct conn **owner;
	char (*rid)[DISPATCH_REQUEST_MAX + 1];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int batch_grow(struct batch *b)
{
	size_t cap = b->cap ? b->cap * 2 : 256;
	void *p;

	if (!(p = realloc(b->in, cap * sizeof(*b->in))))
		return -ENOMEM;
	b->in = p;
	if (!(p = realloc(b->res, cap * sizeof(*b->res))))
		return -ENOMEM;
	b->res = p;
	if (!(p = realloc(b->owner, cap * sizeof(*b->owner))))
		return -ENOMEM;
	b->owner = p;
	if (!(p = realloc(b->rid, cap * sizeof(*b->rid))))
		return -ENOMEM;
	b->rid = p;
	b->cap = cap;
	return 0;
}

static void reply_frame(struct conn *c, Evident__V1__Frame *f)
{
	if (dispatch_reply_frame(&c->out, &c->out_len, &c->out_cap, f) < 0)
		fprintf(stderr, "ack-baseline: out of memory\n");
}

static void hello(struct conn *c, const Evident__V1__Hello *h)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__HelloOk ok = EVIDENT__V1__HELLO_OK__INIT;
	char err[200];

	if (dispatch_check_hello(h, err, sizeof(err))) {
		dispatch_reply_error(&c->out, &c->out_len, &c->out_cap, E(BAD_MESSAGE), err, NULL);
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s", h->client_name);
	c->hello_done = true;
	c->reader.max = FRAME_MAX_DEFAULT;
	ok.has_protocol_version = ok.has_max_frame = ok.has_max_unacked = true;
	ok.protocol_version = 1;
	ok.daemon_version = (char *)"ack-baseline";
	ok.vault_origin = (char *)"ack-baseline";
	ok.max_frame = FRAME_MAX_DEFAULT;
	ok.max_unacked = 4u << 20;
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO_OK;
	f.hello_ok = &ok;
	reply_frame(c, &f);
}

/* A registration is answered as one already stored: the client sends no artifact. */
static void register_model(struct conn *c, const Evident__V1__RegisterModel *r)
{
	static const uint8_t zero[32];
	char rid[300];

	if (!r->manifest || !r->manifest->model_id || !r->manifest->version)
		return;
	snprintf(rid, sizeof(rid), "%s@%s", r->manifest->model_id, r->manifest->version);
	dispatch_reply_ack(&c->out, &c->out_len, &c->out_cap, rid, 0, zero, true);
}

static void record(struct conn *c, struct batch *b, const uint8_t *body, size_t len,
                   const Evident__V1__Record *rec)
{
	uint8_t *payload;
	size_t plen;

	if (!rec->request_id || !*rec->request_id ||
	    strlen(rec->request_id) > DISPATCH_REQUEST_MAX) {
		dispatch_reply_error(&c->out, &c->out_len, &c->out_cap, E(BAD_MESSAGE),
		                     "request_id: 1 to 256 bytes", rec->request_id);
		return;
	}
	if ((b->n == b->cap && batch_grow(b) < 0) ||
	    dispatch_record_payload(body, len, rec, c->name, &c->peer, realtime_ns(), &payload,
	                            &plen) < 0) {
		dispatch_reply_error(&c->out, &c->out_len, &c->out_cap, E(INTERNAL),
		                     "out of memory", rec->request_id);
		return;
	}
	strcpy(b->rid[b->n], rec->request_id);
	b->owner[b->n] = c;
	b->in[b->n] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
	                                      .payload = payload,
	                                      .payload_len = plen,
	                                      .dedup_client = c->name};
	b->n++;
}

static void frame(struct conn *c, struct batch *b, struct dispatch_arena *arena,
                  const uint8_t *body, size_t len)
{
	struct dispatch_msg m;
	char err[200];

	if (dispatch_decode(body, len, arena, &m, err, sizeof(err))) {
		dispatch_reply_error(&c->out, &c->out_len, &c->out_cap, E(BAD_MESSAGE), err, NULL);
		return;
	}
	const Evident__V1__Frame *f = m.frame;
	if (!c->hello_done) {
		if (f->body_case == EVIDENT__V1__FRAME__BODY_HELLO)
			hello(c, f->hello);
	} else if (f->body_case == EVIDENT__V1__FRAME__BODY_RECORD) {
		record(c, b, body, len, f->record);
	} else if (f->body_case == EVIDENT__V1__FRAME__BODY_REGISTER_MODEL) {
		register_model(c, f->register_model);
	}
	dispatch_msg_free(&m);
}

/* Appends the batch in one synced commit and queues each record's Ack. */
static void commit(struct vault *v, struct batch *b)
{
	int rc;

	if (b->n == 0)
		return;
	for (size_t i = 0; i < b->n; i++) /* the ids moved when the batch grew */
		b->in[i].dedup_request = b->rid[i];
	rc = vault_append(v, b->in, b->n, b->res);
	for (size_t i = 0; i < b->n; i++) {
		struct conn *c = b->owner[i];
		if (c->fd >= 0 && rc == 0)
			dispatch_reply_ack(&c->out, &c->out_len, &c->out_cap, b->rid[i],
			                   b->res[i].seq, b->res[i].leaf_hash, b->res[i].duplicate);
		else if (c->fd >= 0)
			dispatch_reply_error(&c->out, &c->out_len, &c->out_cap, E(INTERNAL),
			                     strerror(-rc), b->rid[i]);
		free((void *)b->in[i].payload);
	}
	b->n = 0;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	frame_reader_deinit(&c->reader);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
}

/* Writes the queued replies (waits for room: replies are small and the client reads). */
static void flush(struct conn *c)
{
	size_t off = 0;

	while (c->fd >= 0 && off < c->out_len) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};
			poll(&p, 1, 1000);
		} else if (w < 0 && errno != EINTR) {
			conn_close(c);
		}
	}
	c->out_len = 0;
}

/* Reads once from c; the complete frames it finished go into the batch. */
static void read_conn(struct conn *c, struct batch *b, struct dispatch_arena *arena, uint8_t *buf)
{
	const uint8_t *body;
	size_t len;
	ssize_t n = read(c->fd, buf, READ_SIZE);
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || frame_reader_feed(&c->reader, buf, (size_t)n) < 0) {
		conn_close(c);
		return;
	}
	while ((rc = frame_reader_next(&c->reader, &body, &len)) == 1)
		frame(c, b, arena, body, len);
	if (rc < 0)
		conn_close(c);
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void accept_conn(int lfd, struct conn *conns, size_t *n_conns)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t i = 0;

	if (fd < 0)
		return;
	while (i < *n_conns && conns[i].fd >= 0)
		i++;
	if (i == MAX_CONNS || frame_reader_init(&conns[i].reader, 4096) < 0) {
		close(fd);
		return;
	}
	if (i == *n_conns)
		(*n_conns)++;
	conns[i] = (struct conn){.fd = fd, .reader = conns[i].reader};
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		conns[i].peer = (struct peer){
		    .uid = cred.uid, .gid = cred.gid, .pid = (uint32_t)cred.pid, .known = true};
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"vault", required_argument, NULL, 'v'}, {0}};
	static struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS + 1];
	struct dispatch_arena arena = {.cap = 256 * 1024};
	struct batch b = {0};
	const char *sock = NULL, *dir = NULL;
	struct vault *v;
	size_t n_conns = 0;
	uint8_t *buf;
	int opt, lfd, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 's')
			sock = optarg;
		else if (opt == 'v')
			dir = optarg;
		else
			return 2;
	}
	if (!sock || !dir) {
		fprintf(stderr, "usage: ack-baseline --socket PATH --vault DIR\n");
		return 2;
	}
	rc = vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &v);
	if (rc < 0) {
		fprintf(stderr, "ack-baseline: vault %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	lfd = listen_on(sock);
	arena.buf = malloc(arena.cap);
	buf = malloc(READ_SIZE);
	if (lfd < 0 || !arena.buf || !buf || batch_grow(&b) < 0) {
		fprintf(stderr, "ack-baseline: %s: %s\n", sock, strerror(lfd < 0 ? -lfd : ENOMEM));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (size_t i = 0; i < n_conns; i++)
			pfd[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		if (poll(pfd, n_conns + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (size_t i = 0; i < n_conns; i++)
			if (conns[i].fd >= 0 && pfd[i + 1].revents)
				read_conn(&conns[i], &b, &arena, buf);
		commit(v, &b);
		for (size_t i = 0; i < n_conns; i++)
			if (conns[i].out_len)
				flush(&conns[i]);
		if (pfd[0].revents & POLLIN)
			accept_conn(lfd, conns, &n_conns);
	}
	for (size_t i = 0; i < n_conns; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	close(lfd);
	unlink(sock);
	vault_close(v);
	free(arena.buf);
	free(buf);
	free(b.in);
	free(b.res);
	free(b.owner);
	free(b.rid);
	return 0;
}
