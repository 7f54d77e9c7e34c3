/* SPDX-License-Identifier: Apache-2.0 */
/* Loop tests of the connection layer (daemon/session.c) on a real uv_loop_t, a temporary Unix
 * socket and, where a commit is involved, a temporary vault; and of a whole daemon's drain
 * (daemon_start, daemon_drain). The test is its own client: a non-blocking socket written
 * and read between loop iterations. Callbacks are counted the way libuv's own tests count
 * them (frames handed up, connections closing and closed, jobs done) and the loop is driven
 * until the counted event with a bounded number of iterations (tests/common/looptest.h): no
 * sleeps. The session layer hands frames after Hello to struct session_ops, so the tests
 * install their own. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "entry.pb-c.h"
#include "frame.h"
#include "looptest.h"
#include "session.h"
#include "testutil.h"

#define E(x)        EVIDENT__V1__ERROR__CODE__##x
#define N_PENDING   16
#define NOTE_LEN    60
#define MAX_UNACKED 100

static uv_loop_t loop;
static struct daemon d;
static uv_pipe_t listener;
static char *dir;
static char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct vault *vault; /* the commit test's */

/* counted callbacks */
static unsigned connection_cb_called;
static unsigned frame_cb_called;
static unsigned closing_cb_called;
static unsigned closed_cb_called;
static unsigned job_done_cb_called;

/* ------------------------------------------------------------------ the client */

static int client = -1;
static uint8_t in_buf[1 << 16];
static size_t in_len;
static unsigned hello_ok_received, acks_received, errors_received, eof_received;
static dispatch_code last_error;
static uint64_t last_ack_seq;

static void client_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(client, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	ck_assert_int_eq(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void client_write(const void *buf, size_t len)
{
	ck_assert_int_eq(write(client, buf, len), (ssize_t)len);
}

static void client_send(const Evident__V1__Frame *f)
{
	uint8_t buf[1024], hdr[FRAME_HEADER_MAX];
	size_t len = evident__v1__frame__get_packed_size(f);

	ck_assert_uint_le(len, sizeof(buf));
	evident__v1__frame__pack(f, buf);
	size_t h = frame_header_encode(len, hdr);
	client_write(hdr, h);
	client_write(buf, len);
}

static void client_hello(void)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Hello h = EVIDENT__V1__HELLO__INIT;

	h.has_protocol_version = true;
	h.protocol_version = 1;
	h.client_name = "loop-test";
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO;
	f.hello = &h;
	client_send(&f);
}

/* A Review with request id "rv-i" and a note of NOTE_LEN bytes. */
static void client_review(unsigned i)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Review r = EVIDENT__V1__REVIEW__INIT;
	char rid[32], note[NOTE_LEN + 1];

	snprintf(rid, sizeof(rid), "rv-%u", i);
	memset(note, 'n', NOTE_LEN);
	note[NOTE_LEN] = '\0';
	r.has_incident_id = true;
	r.incident_id = 1;
	r.reviewer = "ada";
	r.outcome = "upheld";
	r.note = note;
	r.request_id = rid;
	f.body_case = EVIDENT__V1__FRAME__BODY_REVIEW;
	f.review = &r;
	client_send(&f);
}

/* Reads what the daemon sent and counts the replies. */
static void client_poll(void)
{
	const uint8_t *p;
	uint64_t body;
	ssize_t n;
	int h;

	if (client < 0)
		return;
	while ((n = read(client, in_buf + in_len, sizeof(in_buf) - in_len)) > 0)
		in_len += (size_t)n;
	if (n == 0)
		eof_received++;
	p = in_buf;
	while ((h = frame_header_decode(p, in_len - (size_t)(p - in_buf), sizeof(in_buf), &body)) >
	           0 &&
	       (size_t)h + body <= in_len - (size_t)(p - in_buf)) {
		Evident__V1__Frame *f = evident__v1__frame__unpack(NULL, body, p + h);
		ck_assert_ptr_nonnull(f);
		if (f->body_case == EVIDENT__V1__FRAME__BODY_HELLO_OK)
			hello_ok_received++;
		else if (f->body_case == EVIDENT__V1__FRAME__BODY_ACK) {
			acks_received++;
			last_ack_seq = f->ack->seq;
		} else if (f->body_case == EVIDENT__V1__FRAME__BODY_ERROR) {
			errors_received++;
			last_error = f->error->code;
		}
		evident__v1__frame__free_unpacked(f, NULL);
		p += (size_t)h + body;
	}
	memmove(in_buf, p, in_len - (size_t)(p - in_buf));
	in_len -= (size_t)(p - in_buf);
}

static void client_close(void)
{
	close(client);
	client = -1;
}

static bool run_until(const unsigned *count, unsigned want)
{
	return looptest_run_until(&loop, UV_RUN_NOWAIT, count, want, client_poll);
}

/* ------------------------------------------------------------------ what the frames do */

/* A frame after Hello is charged to its session until the test "acknowledges" it. */
static struct pending {
	struct session *s;
	uint64_t cost;
	char rid[32];
} pending[N_PENDING];
static size_t n_pending;

static enum { FRAMES_COUNT, FRAMES_CHARGE, FRAMES_COMMIT } frames_do;

/* The commit test's job: one notice entry, charged to its session like a record. */
struct commit_job {
	struct job job;
	uint8_t payload[8];
	bool saw_closing;
};
static struct commit_job *committed;

static void commit_done(struct job *j)
{
	struct commit_job *cj = (struct commit_job *)j;
	struct session *s = j->owner;

	job_done_cb_called++;
	session_discharge(s, j->cost);
	cj->saw_closing = s->closing;
	if (!s->closing)
		session_reply_ack(s, "commit", &j->res1);
	session_unref(s);
}

static void on_frame(struct session *s, const uint8_t *body, size_t len,
                     const Evident__V1__Frame *f)
{
	(void)body;
	frame_cb_called++;
	if (frames_do == FRAMES_CHARGE) {
		ck_assert_uint_lt(n_pending, N_PENDING);
		struct pending *p = &pending[n_pending++];
		p->s = s;
		p->cost = len;
		snprintf(p->rid, sizeof(p->rid), "%s",
		         f->body_case == EVIDENT__V1__FRAME__BODY_REVIEW ? f->review->request_id
		                                                         : "");
		session_charge(s, len);
	} else if (frames_do == FRAMES_COMMIT) {
		struct commit_job *cj = calloc(1, sizeof(*cj));
		ck_assert_ptr_nonnull(cj);
		cj->job.n = 1;
		cj->job.in = &cj->job.in1;
		cj->job.res = &cj->job.res1;
		cj->job.in1 = (struct vault_entry_in){.type = VAULT_ENTRY_NOTICE,
		                                      .payload = cj->payload,
		                                      .payload_len = sizeof(cj->payload)};
		cj->job.done = commit_done;
		cj->job.owner = s;
		cj->job.cost = len;
		committed = cj;
		session_charge(s, len);
		writer_submit(&d.writer, &cj->job);
	}
}

/* The test "acknowledges" what it was charged: as a record's commit would. */
static void ack_pending(void)
{
	struct vault_append_result r = {0};

	for (size_t i = 0; i < n_pending; i++) {
		struct session *s = pending[i].s;
		session_discharge(s, pending[i].cost);
		r.seq = i;
		if (!s->closing)
			session_reply_ack(s, pending[i].rid, &r);
		session_unref(s);
	}
	n_pending = 0;
	session_flush_dirty(&d);
}

static void on_closing(struct session *s)
{
	(void)s;
	closing_cb_called++;
}

static void on_closed(struct daemon *dd)
{
	ck_assert_ptr_eq(dd, &d);
	closed_cb_called++;
}

static const struct session_ops test_ops = {
    .frame = on_frame, .closing = on_closing, .closed = on_closed};

/* ------------------------------------------------------------------ fixtures */

static void on_connection(uv_stream_t *l, int status)
{
	ck_assert_int_eq(status, 0);
	connection_cb_called++;
	session_accept(&d, l);
}

static void reset_counts(void)
{
	connection_cb_called = frame_cb_called = closing_cb_called = closed_cb_called = 0;
	job_done_cb_called = 0;
	hello_ok_received = acks_received = errors_received = eof_received = 0;
	in_len = 0;
	n_pending = 0;
	frames_do = FRAMES_COUNT;
	committed = NULL;
	vault = NULL;
}

/* A daemon's connection layer alone: configuration defaults, a listener on a temporary
 * socket, the test's session_ops. */
static void setup(void)
{
	reset_counts();
	memset(&d, 0, sizeof(d));
	looptest_init(&loop);
	ck_assert_int_eq(config_defaults(&d.cfg), 0);
	d.cfg.max_unacked = MAX_UNACKED;
	d.loop = &loop;
	d.session_ops = &test_ops;
	d.read_buf = malloc(SESSION_READ_SIZE);
	d.decode_arena.cap = 64 * 1024;
	d.decode_arena.buf = malloc(d.decode_arena.cap);
	ck_assert(d.read_buf && d.decode_arena.buf);
	session_limits_start(&d);
	dir = test_tmpdir("session");
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	ck_assert_int_eq(uv_pipe_init(&loop, &listener, 0), 0);
	listener.data = &d;
	ck_assert_int_eq(uv_pipe_bind(&listener, sock), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&listener, 16, on_connection), 0);
}

/* ... with a writer on a temporary vault. */
static void setup_writer(void)
{
	struct writer_policy p = {.sign_after_entries = UINT32_MAX, .sign_after_ms = UINT32_MAX};
	char path[300];

	setup();
	snprintf(path, sizeof(path), "%s/vault", dir);
	ck_assert_int_eq(vault_open(path, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &vault), 0);
	ck_assert_int_eq(writer_start(&d.writer, &loop, vault, 0, &p, NULL, NULL), 0);
}

static unsigned closing_done;

static void poll_closing(void)
{
	client_poll();
	closing_done = !d.sessions && !d.closing;
}

static void teardown(void)
{
	if (client >= 0)
		client_close();
	while (d.sessions)
		session_close(d.sessions);
	ck_assert(looptest_run_until(&loop, UV_RUN_NOWAIT, &closing_done, 1, poll_closing));
	session_limits_stop(&d);
	uv_close((uv_handle_t *)&listener, NULL);
	writer_stop(&d.writer);
	looptest_close(&loop);
	vault_close(vault);
	config_deinit(&d.cfg);
	free(d.read_buf);
	free(d.decode_arena.buf);
	free(committed);
	test_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------------ session_accept */

/* A connection is accepted, counted, and its Hello answered with HelloOk. */
START_TEST(session_accept_answers_hello)
{
	client_connect();
	client_hello();
	ck_assert(run_until(&hello_ok_received, 1));
	ck_assert_uint_eq(connection_cb_called, 1);
	ck_assert_uint_eq(d.n_sessions, 1);
	ck_assert(d.sessions->hello_done);
	ck_assert_str_eq(d.sessions->client_name, "loop-test");
	ck_assert_uint_eq(frame_cb_called, 0); /* the Hello is the session's own */
	ck_assert_uint_eq(errors_received, 0);
}
END_TEST

/* A peer outside allow_uids gets UNAUTHORIZED and is closed; nothing is handed up. */
START_TEST(session_accept_refuses_an_unlisted_peer)
{
	d.cfg.allow_uids = malloc(sizeof(uid_t));
	ck_assert_ptr_nonnull(d.cfg.allow_uids);
	d.cfg.allow_uids[0] = getuid() + 1;
	d.cfg.n_allow_uids = 1;
	client_connect();
	ck_assert(run_until(&closed_cb_called, 1));
	ck_assert(run_until(&eof_received, 1));
	ck_assert_uint_eq(errors_received, 1);
	ck_assert_int_eq(last_error, E(UNAUTHORIZED));
	ck_assert_uint_eq(d.stats.rejected_connections, 1);
	ck_assert_ptr_null(d.dirty); /* nothing holds the refused session any more */
	ck_assert_uint_eq(closing_cb_called, 1);
	ck_assert_uint_eq(d.n_sessions, 0);
	ck_assert_uint_eq(frame_cb_called, 0);
}
END_TEST

/* ------------------------------------------------------------------ session_charge */

/* Backpressure on and off: past max_unacked the connection is not read (frames the client
 * sent wait in the socket), and once its jobs are done and the replies flushed it is read
 * again. */
START_TEST(session_charge_stops_and_resumes_reading)
{
	frames_do = FRAMES_CHARGE;
	client_connect();
	client_hello();
	ck_assert(run_until(&hello_ok_received, 1));
	for (unsigned i = 0; i < 3; i++)
		client_review(i);
	ck_assert(run_until(&frame_cb_called, 3));
	struct session *s = d.sessions;
	ck_assert_uint_gt(s->unacked_bytes, MAX_UNACKED);
	ck_assert(!s->reading); /* on */
	for (unsigned i = 3; i < 6; i++)
		client_review(i);
	/* every iteration would read them if the connection were read */
	ck_assert(!run_until(&frame_cb_called, 4));
	ck_assert_uint_eq(frame_cb_called, 3);
	ack_pending();
	ck_assert(s->reading); /* off */
	ck_assert_uint_eq(s->unacked_bytes, 0);
	ck_assert(run_until(&frame_cb_called, 6));
	ck_assert(run_until(&acks_received, 3));
	ack_pending();
	ck_assert(run_until(&acks_received, 6));
	ck_assert_uint_eq(d.queued_bytes, s->buffered);
	ck_assert_uint_eq(errors_received, 0);
}
END_TEST

/* ------------------------------------------------------------------ on_read */

static unsigned partial_seen;

static void poll_partial(void)
{
	client_poll();
	partial_seen = d.partial.head != NULL;
}

/* A peer that closes in the middle of a frame: the connection closes, the partial frame is
 * never handed up, and its buffer no longer counts against max_queue. */
START_TEST(on_read_peer_closes_mid_frame)
{
	uint8_t hdr[FRAME_HEADER_MAX], part[100];

	client_connect();
	client_hello();
	ck_assert(run_until(&hello_ok_received, 1));
	memset(part, 0x0a, sizeof(part));
	client_write(hdr, frame_header_encode(1000, hdr));
	client_write(part, sizeof(part));
	ck_assert(looptest_run_until(&loop, UV_RUN_NOWAIT, &partial_seen, 1, poll_partial));
	ck_assert_uint_gt(d.queued_bytes, 0);
	client_close();
	ck_assert(run_until(&closed_cb_called, 1));
	ck_assert_uint_eq(closing_cb_called, 1);
	ck_assert_uint_eq(frame_cb_called, 0);
	ck_assert_uint_eq(d.n_sessions, 0);
	ck_assert_ptr_null(d.partial.head);
	ck_assert_uint_eq(d.queued_bytes, 0);
}
END_TEST

/* ------------------------------------------------------------------ session_close */

/* The peer closes while its frame's commit is pending: the connection closes at once, the
 * session lives on until the job is done (its bytes still count), the entry is committed, no
 * reply is attempted, and then everything is given back. */
START_TEST(session_close_during_a_pending_commit)
{
	frames_do = FRAMES_COMMIT;
	client_connect();
	client_hello();
	ck_assert(run_until(&hello_ok_received, 1));
	uint64_t size0 = vault_size(vault);
	looptest_gate_close(&d.writer, NULL);
	client_review(0);
	ck_assert(run_until(&frame_cb_called, 1));
	client_close();
	ck_assert(run_until(&closed_cb_called, 1));
	ck_assert_uint_eq(job_done_cb_called, 0);
	ck_assert_uint_eq(d.n_sessions, 0);
	ck_assert_ptr_null(d.closing);
	ck_assert_uint_eq(d.queued_bytes, committed->job.cost);
	looptest_gate_open();
	ck_assert(looptest_run_until(&loop, UV_RUN_ONCE, &job_done_cb_called, 1, NULL));
	ck_assert_int_eq(committed->job.rc, 0);
	ck_assert(committed->saw_closing);
	ck_assert_uint_eq(vault_size(vault), size0 + 1);
	ck_assert_uint_eq(d.queued_bytes, 0);
}
END_TEST

/* ------------------------------------------------------------------ daemon_drain */

static unsigned reviews_read, loop_done;

static void poll_daemon(void)
{
	client_poll();
	reviews_read = (unsigned)d.stats.reviews;
}

/* A whole daemon on a temporary vault and socket: reviews are read, then a drain (SIGTERM's
 * work) commits and acknowledges every one of them, writes the stop entry and ends the loop;
 * the client reads every Ack, then the end of the stream. */
START_TEST(daemon_drain_acknowledges_what_was_read)
{
	const unsigned n = 20;
	char conf[300], vdir[300];
	struct vault_reader *r;
	struct vault_entry e;

	reset_counts();
	memset(&d, 0, sizeof(d));
	dir = test_tmpdir("drain");
	snprintf(conf, sizeof(conf), "%s/evidentd.conf", dir);
	snprintf(vdir, sizeof(vdir), "%s/vault", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[daemon]\nworkers = 0\nlog_level = warning\n", f);
	fclose(f);
	d.config_arg = conf;
	d.vault_arg = vdir;
	d.socket_arg = sock;
	looptest_init(&loop);
	ck_assert_int_eq(daemon_start(&d, &loop), 0);
	client_connect();
	client_hello();
	for (unsigned i = 0; i < n; i++)
		client_review(i);
	ck_assert(looptest_run_until(&loop, UV_RUN_NOWAIT, &reviews_read, n, poll_daemon));
	daemon_drain(&d, "the test");
	for (int i = 0; i < LOOPTEST_MAX_ITER && !loop_done; i++) {
		loop_done = !uv_run(&loop, UV_RUN_ONCE);
		client_poll();
	}
	ck_assert(loop_done);
	ck_assert(run_until(&eof_received, 1));
	ck_assert_uint_eq(hello_ok_received, 1);
	ck_assert_uint_eq(acks_received, n);
	ck_assert_uint_eq(errors_received, 0);
	ck_assert_int_eq(daemon_finish(&d), 0);
	client_close();
	looptest_close(&loop);

	/* the vault: the reviews, then the stop entry last */
	ck_assert_int_eq(vault_open(vdir, VAULT_OPEN_READ, NULL, &vault), 0);
	ck_assert_int_eq(vault_reader_begin(vault, &r), 0);
	uint64_t size = vault_reader_size(r), reviews = 0;
	for (uint64_t seq = 0; seq < size; seq++) {
		ck_assert_int_eq(vault_get(r, seq, &e), 0);
		reviews += e.leaf.type == VAULT_ENTRY_REVIEW;
	}
	ck_assert_uint_eq(reviews, n);
	ck_assert_uint_lt(last_ack_seq, size - 1);
	ck_assert_int_eq(vault_get(r, size - 1, &e), 0);
	ck_assert_int_eq(e.leaf.type, VAULT_ENTRY_LIFECYCLE);
	Evident__Entry__V1__LifecycleEntry *le =
	    evident__entry__v1__lifecycle_entry__unpack(NULL, e.payload_len, e.payload);
	ck_assert_ptr_nonnull(le);
	ck_assert_int_eq(le->event, EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__STOP);
	evident__entry__v1__lifecycle_entry__free_unpacked(le, NULL);
	vault_reader_end(r);
	vault_close(vault);
	test_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session_accept");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, session_accept_answers_hello);
	tcase_add_test(tc, session_accept_refuses_an_unlisted_peer);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_charge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, session_charge_stops_and_resumes_reading);
	suite_add_tcase(s, tc);
	tc = tcase_create("on_read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, on_read_peer_closes_mid_frame);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_close");
	tcase_add_checked_fixture(tc, setup_writer, teardown);
	tcase_add_test(tc, session_close_during_a_pending_commit);
	suite_add_tcase(s, tc);
	tc = tcase_create("daemon_drain");
	tcase_add_test(tc, daemon_drain_acknowledges_what_was_read);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(session_suite());
}
