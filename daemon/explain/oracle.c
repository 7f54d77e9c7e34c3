/* SPDX-License-Identifier: Apache-2.0 */
/* The oracle protocol's client (proto/PROTOCOL.md "Oracle protocol"): a pool of processes that
 * evaluate a model the library cannot, spoken to in delimited PredictRequest / PredictResponse
 * messages over a socketpair.
 *
 * A call splits its rows into jobs of at most batch_rows rows, checks out idle processes
 * (mutex + condvar; a call that holds a process never waits for more, so calls cannot
 * deadlock), and drives every held process from one poll() loop: writing the request, reading
 * the answer, draining stderr. A job's answer goes to its own slice of out, so the result does
 * not depend on which process answered. After the first failure no new jobs start; jobs in
 * flight finish (or fail) so that no process is left with an unread answer, and the error of
 * the lowest failing job is reported. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evident.pb-c.h"
#include "frame.h"
#include "model.h"
#include "wirecheck.h"

extern char **environ;

#define TAIL_MAX           512 /* bytes of a process's stderr kept for messages */
#define CMD_SHOWN          60  /* characters of the command quoted in messages */
#define RESTARTS_PER_CALL  4
#define REQUEST_VALUES_MAX ((32u << 20) / sizeof(double))
#define PROCS_MAX          256
#define EXIT_WAIT_MS       500 /* how long a process that closed its output may take to exit */
#define READ_CHUNK         (256u << 10)

struct proc {
	pid_t pid;  /* 0: not running (started on its next use) */
	int fd;     /* our end of the socketpair (the child's stdin and stdout) */
	int err_fd; /* read end of the child's stderr; -1 after EOF */
	bool busy;  /* checked out by a call */
	char tail[TAIL_MAX];
	size_t tail_len;
	uint8_t *rbuf; /* bytes read and not yet consumed */
	size_t rlen, rcap;
};

struct ex_oracle {
	char *command, shown[CMD_SHOWN + 8];
	char **envp;
	size_t n_features, n_outputs, batch_rows, max_response;
	unsigned n_procs, timeout_ms;
	double *probe_row;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next_id;
	struct ex_oracle_stats st;
	struct proc *procs;
};

/* ------------------------------------------------------------------ small helpers */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies s into out (size >= 2) with non-printable bytes as '?', truncated with "...". */
static void sanitize(const char *s, size_t n, char *out, size_t size)
{
	size_t j = 0;

	for (size_t i = 0; i < n && s[i]; i++) {
		if (j + 4 >= size) {
			memcpy(out + j, "...", 3);
			j += 3;
			break;
		}
		unsigned char c = (unsigned char)s[i];
		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[j] = '\0';
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGHUP:
		return "SIGHUP";
	case SIGINT:
		return "SIGINT";
	case SIGQUIT:
		return "SIGQUIT";
	case SIGILL:
		return "SIGILL";
	case SIGTRAP:
		return "SIGTRAP";
	case SIGABRT:
		return "SIGABRT";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGKILL:
		return "SIGKILL";
	case SIGSEGV:
		return "SIGSEGV";
	case SIGPIPE:
		return "SIGPIPE";
	case SIGALRM:
		return "SIGALRM";
	case SIGTERM:
		return "SIGTERM";
	case SIGXCPU:
		return "SIGXCPU";
	case SIGXFSZ:
		return "SIGXFSZ";
	case SIGSYS:
		return "SIGSYS";
	default:
		return "a signal";
	}
}

/* "; stderr: LINE | LAST LINE" (the last two lines: a shell adds its own "Aborted" after the
 * oracle's last words), or "" when the process wrote nothing. */
static void stderr_line(const struct proc *p, char *out, size_t size)
{
	size_t end = p->tail_len, start, lines = 0;
	char text[240];

	while (end > 0 && (p->tail[end - 1] == '\n' || p->tail[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && !(p->tail[start - 1] == '\n' && ++lines == 2))
		start--;
	if (start == end) {
		out[0] = '\0';
		return;
	}
	char joined[TAIL_MAX];
	size_t n = 0;
	for (size_t i = start; i < end; i++) {
		if (p->tail[i] == '\n') {
			memcpy(joined + n, " | ", 3);
			n += 3;
		} else if (n < sizeof(joined) - 4)
			joined[n++] = p->tail[i];
		if (n >= sizeof(joined) - 4)
			break;
	}
	sanitize(joined, n, text, sizeof(text));
	snprintf(out, size, "; stderr: %s", text);
}

/* Reads what the child's stderr has (non-blocking) into the tail; closes it at EOF. */
static void drain_stderr(struct proc *p)
{
	char buf[4096];

	/* bounded, so that a process that writes without pause cannot keep us here */
	for (int reads = 0; p->err_fd >= 0 && reads < 64; reads++) {
		ssize_t n = read(p->err_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(p->err_fd);
			p->err_fd = -1;
			return;
		}
		size_t k = (size_t)n;
		if (k >= TAIL_MAX) {
			memcpy(p->tail, buf + k - TAIL_MAX, TAIL_MAX);
			p->tail_len = TAIL_MAX;
		} else {
			if (p->tail_len + k > TAIL_MAX) {
				size_t drop = p->tail_len + k - TAIL_MAX;
				memmove(p->tail, p->tail + drop, p->tail_len - drop);
				p->tail_len -= drop;
			}
			memcpy(p->tail + p->tail_len, buf, k);
			p->tail_len += k;
		}
	}
}

/* ------------------------------------------------------------------ the response parser */

int ex_oracle_parse_response(const uint8_t *buf, size_t len, size_t max_bytes, uint64_t request_id,
                             size_t n_rows, size_t expected_outputs, double *out,
                             size_t *ret_outputs, size_t *ret_consumed, char *err, size_t err_size)
{
	Evident__V1__PredictResponse *r;
	uint64_t body_len = 0;
	int h = frame_header_decode(buf, len, max_bytes, &body_len), rc = -EPROTO;
	char text[200];

	*ret_consumed = 0;
	if (h == 0)
		return -EAGAIN;
	if (h == -EMSGSIZE)
		return ex__fail(err, err_size, -EPROTO,
		                "length prefix announces %" PRIu64
		                " bytes, over the limit of %zu (garbage or an oversized response)",
		                body_len, max_bytes);
	if (h < 0)
		return ex__fail(err, err_size, -EPROTO,
		                "malformed length prefix (a varint over 10 bytes): not a "
		                "delimited PredictResponse");
	if (len - (size_t)h < body_len)
		return -EAGAIN;
	r = evident__v1__predict_response__unpack(NULL, (size_t)body_len, buf + h);
	if (!r)
		return ex__fail(err, err_size, -EPROTO,
		                "the %" PRIu64 "-byte message does not decode as a PredictResponse",
		                body_len);
	/* protobuf-c cut `error` at a NUL and checked no UTF-8: a malformed answer, as on the
	 * ingest socket (PROTOCOL.md, Strings) */
	if (wire_check_strings(&evident__v1__predict_response__descriptor, buf + h,
	                       (size_t)body_len, text, sizeof(text)) < 0) {
		evident__v1__predict_response__free_unpacked(r, NULL);
		return ex__fail(err, err_size, -EPROTO,
		                "response field %s (strings must be UTF-8 without NUL)", text);
	}
	uint64_t want = (uint64_t)n_rows * (r->has_n_outputs ? r->n_outputs : 0);
	/* A process has one request outstanding at a time, so an answer without request_id is
	 * the answer to that request (the protocol's minimal form); one that carries an id must
	 * carry this request's. */
	bool in_step = !r->has_request_id || r->request_id == request_id;
	if (r->error) {
		sanitize(r->error, strlen(r->error), text, sizeof(text));
		ex__fail(err, err_size, rc, "the oracle answered with error \"%s\"", text);
		if (in_step)
			*ret_consumed = (size_t)h + (size_t)body_len; /* still in step */
	} else if (!in_step) {
		ex__fail(err, err_size, rc,
		         "response carries request_id %" PRIu64 ", expected %" PRIu64
		         " (answers out of order?)",
		         r->request_id, request_id);
	} else if (!r->has_n_outputs || r->n_outputs == 0) {
		ex__fail(err, err_size, rc, "response has n_outputs %s",
		         r->has_n_outputs ? "0" : "missing");
	} else if (expected_outputs && r->n_outputs != expected_outputs) {
		ex__fail(err, err_size, rc,
		         "response has n_outputs %" PRIu32 ", expected %zu (learned by the probe)",
		         r->n_outputs, expected_outputs);
	} else if (!expected_outputs && r->n_outputs > EX_ORACLE_MAX_OUTPUTS) {
		ex__fail(err, err_size, rc,
		         "response has n_outputs %" PRIu32 ", over the limit of %d", r->n_outputs,
		         EX_ORACLE_MAX_OUTPUTS);
	} else if ((uint64_t)r->n_values != want) {
		ex__fail(err, err_size, rc,
		         "response has %zu values for %zu rows x %" PRIu32
		         " outputs (expected %" PRIu64 ")",
		         r->n_values, n_rows, r->n_outputs, want);
	} else {
		rc = 0;
		for (size_t i = 0; i < r->n_values; i++)
			if (!isfinite(r->values[i])) {
				rc = ex__fail(err, err_size, -EPROTO,
				              "response value %zu (row %zu, output %zu) is %s", i,
				              i / r->n_outputs, i % r->n_outputs,
				              isnan(r->values[i]) ? "NaN" : "infinite");
				break;
			}
		if (rc == 0) {
			if (r->n_values)
				memcpy(out, r->values, r->n_values * sizeof(double));
			*ret_outputs = r->n_outputs;
			*ret_consumed = (size_t)h + (size_t)body_len;
		}
	}
	evident__v1__predict_response__free_unpacked(r, NULL);
	return rc;
}

/* ------------------------------------------------------------------ processes */

/* Starts p. Returns 0 or a negative errno with a reason in err. */
static int proc_start(struct ex_oracle *o, struct proc *p, char *err, size_t err_size)
{
	int sv[2], ep[2];
	char *argv[] = {"sh", "-c", o->command, NULL};
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ex__fail(err, err_size, -errno, "oracle '%s': socketpair: %s", o->shown,
		                strerror(errno));
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return ex__fail(err, err_size, -e, "oracle '%s': pipe: %s", o->shown, strerror(e));
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		return ex__fail(err, err_size, -e, "oracle '%s': fork: %s", o->shown, strerror(e));
	}
	if (pid == 0) {
		/* async-signal-safe calls only from here on */
		sigset_t none;
		struct sigaction dfl;
		int a = fcntl(sv[1], F_DUPFD, 10), b = fcntl(ep[1], F_DUPFD, 10);

		if (a < 0 || b < 0 || dup2(a, 0) < 0 || dup2(a, 1) < 0 || dup2(b, 2) < 0)
			_exit(126);
		if (close_range(3, ~0u, 0) < 0)
			for (int fd = 3; fd < 4096; fd++)
				close(fd);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &dfl, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		execve("/bin/sh", argv, o->envp);
		static const char msg[] = "evident oracle: cannot execute /bin/sh\n";
		ssize_t ignored = write(2, msg, sizeof(msg) - 1);
		(void)ignored;
		_exit(127);
	}
	setpgid(pid, pid); /* also done by the child: whichever runs first */
	close(sv[1]);
	close(ep[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(ep[0], F_SETFL, fcntl(ep[0], F_GETFL) | O_NONBLOCK);
	p->pid = pid;
	p->fd = sv[0];
	p->err_fd = ep[0];
	p->tail_len = 0;
	p->rlen = 0;
	return 0;
}

/* Stops p: when graceful, gives a process that closed its output EXIT_WAIT_MS to exit by
 * itself (so its own status is reported); then SIGKILL to its process group, reap, close.
 * *ret_status is the wait status; *ret_killed whether we killed it. */
static void proc_stop(struct proc *p, bool graceful, int *ret_status, bool *ret_killed)
{
	int status = 0;
	bool exited = false;

	if (p->pid > 0) {
		if (graceful) {
			int64_t deadline = now_ms() + EXIT_WAIT_MS;
			for (;;) {
				siginfo_t si;
				memset(&si, 0, sizeof(si));
				if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
				        0 &&
				    si.si_pid == p->pid) {
					exited = true;
					break;
				}
				int64_t left = deadline - now_ms();
				if (left <= 0)
					break;
				struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
				/* wait a little for stderr (its EOF is the usual sign of exit) */
				if (poll(&pfd, p->err_fd >= 0 ? 1 : 0, left < 10 ? (int)left : 10) >
				    0)
					drain_stderr(p);
			}
		}
		kill(-p->pid, SIGKILL); /* the group: a shell's children too */
		if (!exited)
			kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
	drain_stderr(p);
	if (p->err_fd >= 0)
		close(p->err_fd);
	if (p->fd >= 0)
		close(p->fd);
	p->err_fd = p->fd = -1;
	p->rlen = 0;
	if (ret_status)
		*ret_status = status;
	if (ret_killed)
		*ret_killed = !exited;
}

/* ------------------------------------------------------------------ jobs */

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
	const double *rows;
	size_t n_rows;
	double *out;
	size_t outputs; /* learned (probe) */
	uint64_t id;
	enum job_state state;
	unsigned tries;
};

struct slot {
	struct proc *p;
	size_t idx; /* index in o->procs */
	struct job *j;
	uint8_t *wbuf;
	size_t wlen, woff;
	int64_t deadline;
};

struct run {
	struct ex_oracle *o;
	struct job *jobs;
	size_t n_jobs, pending, hint, expected_outputs;
	bool pinned; /* the probe: job k goes to process k */
	bool failed;
	size_t fail_idx;
	int fail_rc;
	unsigned restarts;
	char last_crash[400]; /* what the last crash looked like, for "gave up" */
	char *err;
	size_t err_size;
};

/* Records job j's failure; the message of the lowest failing job wins. */
static void job_fail(struct run *r, struct job *j, int rc, const char *msg)
{
	size_t idx = (size_t)(j - r->jobs);

	j->state = JOB_FAILED;
	if (!r->failed || idx < r->fail_idx) {
		r->failed = true;
		r->fail_idx = idx;
		r->fail_rc = rc;
		if (r->err && r->err_size)
			snprintf(r->err, r->err_size, "%s", msg);
	}
}

static void count(struct ex_oracle *o, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&o->mu);
	*field += n;
	pthread_mutex_unlock(&o->mu);
}

/* Encodes job j's request into s->wbuf. */
static int encode_request(struct run *r, struct slot *s, struct job *j)
{
	Evident__V1__PredictRequest q = EVIDENT__V1__PREDICT_REQUEST__INIT;
	uint8_t hdr[FRAME_HEADER_MAX];

	q.has_n_rows = q.has_n_features = q.has_request_id = 1;
	q.n_rows = (uint32_t)j->n_rows;
	q.n_features = (uint32_t)r->o->n_features;
	q.request_id = j->id;
	q.n_values = j->n_rows * r->o->n_features;
	q.values = (double *)j->rows;
	size_t body = evident__v1__predict_request__get_packed_size(&q);
	size_t hl = frame_header_encode(body, hdr);
	free(s->wbuf);
	s->wbuf = malloc(hl + body);
	if (!s->wbuf)
		return -ENOMEM;
	memcpy(s->wbuf, hdr, hl);
	evident__v1__predict_request__pack(&q, s->wbuf + hl);
	s->wlen = hl + body;
	s->woff = 0;
	return 0;
}

/* The job slot s should take next, or NULL. */
static struct job *next_job(struct run *r, struct slot *s)
{
	if (r->failed || r->pending == 0)
		return NULL;
	if (r->pinned)
		return s->idx < r->n_jobs && r->jobs[s->idx].state == JOB_PENDING ? &r->jobs[s->idx]
		                                                                  : NULL;
	while (r->hint < r->n_jobs && r->jobs[r->hint].state != JOB_PENDING)
		r->hint++;
	return r->hint < r->n_jobs ? &r->jobs[r->hint] : NULL;
}

/* Gives s the job j: (re)starts the process if needed, encodes, sets the deadline. */
static void slot_assign(struct run *r, struct slot *s, struct job *j)
{
	struct ex_oracle *o = r->o;
	char msg[EX_ERR_MAX + 200];
	int rc;

	r->pending--;
	j->state = JOB_RUNNING;
	if (j->id == 0) { /* a retry keeps its id: the messages name one request */
		pthread_mutex_lock(&o->mu);
		j->id = o->next_id++;
		pthread_mutex_unlock(&o->mu);
	}
	if (s->p->pid == 0) {
		if (r->restarts >= RESTARTS_PER_CALL) {
			snprintf(msg, sizeof(msg),
			         "oracle '%s': request %" PRIu64
			         " (%zu rows): gave up after %u restarts in one call (the last "
			         "process %s)",
			         o->shown, j->id, j->n_rows, r->restarts, r->last_crash);
			job_fail(r, j, -EPIPE, msg);
			return;
		}
		r->restarts++;
		count(o, &o->st.restarts, 1);
		rc = proc_start(o, s->p, msg, sizeof(msg));
		if (rc < 0) {
			job_fail(r, j, rc, msg);
			return;
		}
	}
	if (encode_request(r, s, j) < 0) {
		job_fail(r, j, -ENOMEM, "oracle: out of memory encoding a request");
		return;
	}
	pthread_mutex_lock(&o->mu);
	o->st.requests++;
	o->st.rows += j->n_rows;
	pthread_mutex_unlock(&o->mu);
	s->j = j;
	s->deadline = now_ms() + o->timeout_ms;
}

/* The process of s exited or closed its output during its job: reap it (giving it time to
 * exit by itself), then retry the job once or fail it. */
static void slot_crashed(struct run *r, struct slot *s, const char *how)
{
	struct ex_oracle *o = r->o;
	struct job *j = s->j;
	char line[256], msg[EX_ERR_MAX + 200], what[96];
	int status, rc = -EPIPE;
	bool killed;

	proc_stop(s->p, true, &status, &killed);
	stderr_line(s->p, line, sizeof(line));
	count(o, &o->st.crashes, 1);
	if (killed)
		snprintf(what, sizeof(what), "%s and did not exit (killed)", how);
	else if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		if (code > 128 && code < 128 + 65)
			snprintf(what, sizeof(what), "exited with status %d (signal %d, %s)", code,
			         code - 128, signal_name(code - 128));
		else
			snprintf(what, sizeof(what), "exited with status %d%s", code,
			         code == 127   ? " (command not found?)"
			         : code == 126 ? " (command not executable?)"
			                       : "");
		rc = code == 127 ? -ENOENT : code == 126 ? -EACCES : -EPIPE;
	} else if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "was killed by signal %d (%s)", WTERMSIG(status),
		         signal_name(WTERMSIG(status)));
	else
		snprintf(what, sizeof(what), "%s", how);
	s->j = NULL;
	snprintf(r->last_crash, sizeof(r->last_crash), "%s%s", what, line);
	if (j->tries == 0 && !r->pinned && rc == -EPIPE) {
		j->tries++;
		j->state = JOB_PENDING;
		r->pending++;
		size_t idx = (size_t)(j - r->jobs);
		if (idx < r->hint)
			r->hint = idx;
		return;
	}
	snprintf(msg, sizeof(msg), "oracle '%s' %s during request %" PRIu64 " (%zu rows)%s%s",
	         o->shown, what, j->id, j->n_rows, j->tries ? " and again on a fresh process" : "",
	         line);
	job_fail(r, j, rc, msg);
}

static void slot_timed_out(struct run *r, struct slot *s)
{
	struct ex_oracle *o = r->o;
	char line[256], msg[EX_ERR_MAX + 200];

	drain_stderr(s->p);
	proc_stop(s->p, false, NULL, NULL);
	stderr_line(s->p, line, sizeof(line));
	count(o, &o->st.timeouts, 1);
	snprintf(msg, sizeof(msg),
	         "oracle '%s' did not answer request %" PRIu64 " (%zu rows) within %u ms%s",
	         o->shown, s->j->id, s->j->n_rows, o->timeout_ms, line);
	job_fail(r, s->j, -ETIMEDOUT, msg);
	s->j = NULL;
}

static void slot_bad(struct run *r, struct slot *s, const char *why)
{
	struct ex_oracle *o = r->o;
	char msg[EX_ERR_MAX + 400];

	proc_stop(s->p, false, NULL, NULL);
	count(o, &o->st.bad_responses, 1);
	snprintf(msg, sizeof(msg), "oracle '%s': request %" PRIu64 " (%zu rows): %s", o->shown,
	         s->j->id, s->j->n_rows, why);
	job_fail(r, s->j, -EPROTO, msg);
	s->j = NULL;
}

/* Writes what the socket takes. */
static void slot_write(struct run *r, struct slot *s)
{
	while (s->woff < s->wlen) {
		ssize_t n = send(s->p->fd, s->wbuf + s->woff, s->wlen - s->woff,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			slot_crashed(r, s, "closed its input");
			return;
		}
		s->woff += (size_t)n;
	}
}

/* Reads what the socket has and parses the answer when it is complete. */
static void slot_read(struct run *r, struct slot *s)
{
	struct proc *p = s->p;
	struct ex_oracle *o = r->o;
	char why[EX_ERR_MAX];

	/* bounded, so that the caller's loop checks the deadline between bursts */
	for (int reads = 0; reads < 64; reads++) {
		if (p->rcap - p->rlen < 4096) {
			size_t limit = o->max_response + FRAME_HEADER_MAX + READ_CHUNK;
			size_t cap = p->rcap ? p->rcap * 2 : READ_CHUNK;
			if (cap > limit)
				cap = limit;
			if (cap <= p->rcap) {
				slot_bad(r, s, "response larger than the limit");
				return;
			}
			uint8_t *nb = realloc(p->rbuf, cap);
			if (!nb) {
				proc_stop(p, false, NULL, NULL);
				job_fail(r, s->j, -ENOMEM,
				         "oracle: out of memory reading a response");
				s->j = NULL;
				return;
			}
			p->rbuf = nb;
			p->rcap = cap;
		}
		ssize_t n = recv(p->fd, p->rbuf + p->rlen, p->rcap - p->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			slot_crashed(r, s, "closed its output");
			return;
		}
		p->rlen += (size_t)n;
		size_t outputs = 0, used = 0;
		int rc = ex_oracle_parse_response(p->rbuf, p->rlen, o->max_response, s->j->id,
		                                  s->j->n_rows, r->expected_outputs, s->j->out,
		                                  &outputs, &used, why, sizeof(why));
		if (rc == -EAGAIN)
			continue;
		if (rc < 0 && used > 0) {
			/* a refusal in step with the stream: the process stays */
			char msg[EX_ERR_MAX + 400];
			memmove(p->rbuf, p->rbuf + used, p->rlen - used);
			p->rlen -= used;
			snprintf(msg, sizeof(msg),
			         "oracle '%s': request %" PRIu64 " (%zu rows): %s", o->shown,
			         s->j->id, s->j->n_rows, why);
			job_fail(r, s->j, -EPROTO, msg);
			s->j = NULL;
			return;
		}
		if (rc < 0) {
			slot_bad(r, s, why);
			return;
		}
		memmove(p->rbuf, p->rbuf + used, p->rlen - used);
		p->rlen -= used;
		if (s->woff < s->wlen) {
			slot_bad(r, s, "answered before reading the whole request");
			return;
		}
		s->j->outputs = outputs;
		s->j->state = JOB_DONE;
		s->j = NULL;
		return;
	}
}

static void release(struct ex_oracle *o, struct slot *s)
{
	pthread_mutex_lock(&o->mu);
	s->p->busy = false;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	free(s->wbuf);
	s->wbuf = NULL;
}

/* Runs every job of r. held/n_held: slots already checked out (the probe); otherwise slots
 * are checked out from the pool as they become idle. Returns 0 or the first job's error. */
static int run_jobs(struct run *r, struct slot *held, size_t n_held, bool acquire)
{
	struct ex_oracle *o = r->o;
	struct pollfd *pfd = calloc(2 * (size_t)o->n_procs, sizeof(*pfd));

	if (!pfd) {
		for (size_t k = 0; k < n_held; k++)
			release(o, &held[k]);
		return ex__fail(r->err, r->err_size, -ENOMEM, "oracle: out of memory");
	}
	r->pending = r->n_jobs;
	for (;;) {
		/* check out idle processes for pending jobs (wait only when holding none) */
		if (acquire && !r->failed && r->pending > 0) {
			size_t want = r->pending, idle_held = 0;
			for (size_t k = 0; k < n_held; k++)
				idle_held += held[k].j == NULL;
			pthread_mutex_lock(&o->mu);
			for (;;) {
				for (unsigned i = 0; i < o->n_procs && idle_held < want; i++)
					if (!o->procs[i].busy) {
						o->procs[i].busy = true;
						held[n_held++] =
						    (struct slot){.p = &o->procs[i], .idx = i};
						idle_held++;
					}
				if (n_held > 0)
					break;
				pthread_cond_wait(&o->cv, &o->mu);
			}
			pthread_mutex_unlock(&o->mu);
		}
		/* give jobs to idle slots; hand back the slots that have none */
		for (size_t k = 0; k < n_held; k++) {
			struct slot *s = &held[k];
			struct job *j;
			while (!s->j && (j = next_job(r, s)))
				slot_assign(r, s, j);
			if (s->j && s->woff < s->wlen)
				slot_write(r, s);
			if (!s->j) {
				release(o, s);
				held[k--] = held[--n_held];
			}
		}
		if (n_held == 0)
			break;
		/* wait for any of them */
		int64_t now = now_ms(), first = INT64_MAX;
		size_t n = 0;
		for (size_t k = 0; k < n_held; k++) {
			struct slot *s = &held[k];
			if (!s->j)
				continue;
			if (s->deadline < first)
				first = s->deadline;
			pfd[n++] = (struct pollfd){
			    .fd = s->p->fd,
			    .events = (short)(POLLIN | (s->woff < s->wlen ? POLLOUT : 0))};
			pfd[n++] = (struct pollfd){.fd = s->p->err_fd, .events = POLLIN};
		}
		if (n == 0)
			continue;
		int64_t wait = first - now;
		if (wait < 0)
			wait = 0;
		if (wait > 60000)
			wait = 60000;
		int nr = poll(pfd, n, (int)wait);
		if (nr < 0 && errno != EINTR) {
			free(pfd);
			/* cannot happen with valid descriptors; fail every job in flight */
			for (size_t k = 0; k < n_held; k++) {
				if (held[k].j)
					slot_bad(r, &held[k], "poll failed");
				release(o, &held[k]);
			}
			return r->fail_rc;
		}
		now = now_ms();
		n = 0;
		for (size_t k = 0; k < n_held; k++) {
			struct slot *s = &held[k];
			if (!s->j)
				continue;
			struct pollfd *io = &pfd[n++], *ep = &pfd[n++];
			if (ep->revents)
				drain_stderr(s->p);
			if (io->revents & POLLOUT)
				slot_write(r, s);
			if (s->j && (io->revents & (POLLIN | POLLHUP | POLLERR)))
				slot_read(r, s);
			if (s->j && now >= s->deadline)
				slot_timed_out(r, s);
		}
	}
	free(pfd);
	return r->failed ? r->fail_rc : 0;
}

/* ------------------------------------------------------------------ the pool */

static char **build_env(const struct ex_oracle_config *c)
{
	size_t n = 0, k = 0;
	char **env;
	static const char *const ours[] = {
	    "EVIDENT_ARTIFACT=", "EVIDENT_N_FEATURES=", "EVIDENT_ORACLE_PROTOCOL="};

	while (environ && environ[n])
		n++;
	env = calloc(n + 4, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (size_t m = 0; m < 3; m++)
			skip |= strncmp(environ[i], ours[m], strlen(ours[m])) == 0;
		if (!skip && !(env[k++] = strdup(environ[i])))
			goto fail;
	}
	if (c->artifact_path && asprintf(&env[k++], "EVIDENT_ARTIFACT=%s", c->artifact_path) < 0)
		goto fail;
	if (asprintf(&env[k++], "EVIDENT_N_FEATURES=%zu", c->n_features) < 0)
		goto fail;
	if (!(env[k++] = strdup("EVIDENT_ORACLE_PROTOCOL=1")))
		goto fail;
	return env;
fail:
	for (size_t i = 0; i < n + 4; i++)
		free(env[i]);
	free(env);
	return NULL;
}

void ex_oracle_close(struct ex_oracle *o)
{
	if (!o)
		return;
	for (unsigned i = 0; o->procs && i < o->n_procs; i++) {
		proc_stop(&o->procs[i], false, NULL, NULL);
		free(o->procs[i].rbuf);
	}
	if (o->envp)
		for (char **e = o->envp; *e; e++)
			free(*e);
	free(o->envp);
	free(o->procs);
	free(o->probe_row);
	free(o->command);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o);
}

int ex_oracle_open(const struct ex_oracle_config *c, struct ex_oracle **ret, char *err,
                   size_t err_size)
{
	struct ex_oracle *o;
	int rc;

	if (!c || !ret || !c->command || !c->command[0])
		return ex__fail(err, err_size, -EINVAL, "oracle: no command given");
	if (c->n_features == 0 || c->n_features > UINT32_MAX)
		return ex__fail(err, err_size, -EINVAL,
		                "oracle '%.60s': n_features %zu out of range", c->command,
		                c->n_features);
	if (c->n_procs > PROCS_MAX)
		return ex__fail(err, err_size, -EINVAL, "oracle '%.60s': %u processes, at most %d",
		                c->command, c->n_procs, PROCS_MAX);
	if (c->timeout_ms > 24u * 3600 * 1000)
		return ex__fail(err, err_size, -EINVAL, "oracle '%.60s': timeout %u ms over a day",
		                c->command, c->timeout_ms);
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	o->n_features = c->n_features;
	o->n_procs = c->n_procs ? c->n_procs : 1;
	o->timeout_ms = c->timeout_ms ? c->timeout_ms : 10000;
	o->max_response = c->max_response_bytes ? c->max_response_bytes : (256u << 20);
	o->batch_rows = c->max_batch_rows ? c->max_batch_rows : 4096;
	if (o->batch_rows > UINT32_MAX)
		o->batch_rows = UINT32_MAX;
	if (o->batch_rows > REQUEST_VALUES_MAX / o->n_features)
		o->batch_rows = REQUEST_VALUES_MAX / o->n_features;
	if (o->batch_rows == 0)
		o->batch_rows = 1;
	o->next_id = 1;
	o->command = strdup(c->command);
	o->probe_row = calloc(o->n_features, sizeof(double));
	o->procs = calloc(o->n_procs, sizeof(*o->procs));
	o->envp = build_env(c);
	if (!o->command || !o->probe_row || !o->procs || !o->envp) {
		ex_oracle_close(o);
		return ex__fail(err, err_size, -ENOMEM, "oracle: out of memory");
	}
	sanitize(o->command, strlen(o->command), o->shown, CMD_SHOWN);
	if (c->probe_row)
		memcpy(o->probe_row, c->probe_row, o->n_features * sizeof(double));
	for (unsigned i = 0; i < o->n_procs; i++)
		o->procs[i].fd = o->procs[i].err_fd = -1;

	/* start every process, then probe them all at once, each with its own request */
	struct job *jobs = calloc(o->n_procs, sizeof(*jobs));
	struct slot *held = calloc(o->n_procs, sizeof(*held));
	double *outs = malloc((size_t)o->n_procs * EX_ORACLE_MAX_OUTPUTS * sizeof(double));
	if (!jobs || !held || !outs) {
		rc = ex__fail(err, err_size, -ENOMEM, "oracle: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < o->n_procs; i++) {
		rc = proc_start(o, &o->procs[i], err, err_size);
		if (rc < 0)
			goto out;
		o->procs[i].busy = true;
		held[i] = (struct slot){.p = &o->procs[i], .idx = i};
		jobs[i] = (struct job){.rows = o->probe_row,
		                       .n_rows = 1,
		                       .out = outs + (size_t)i * EX_ORACLE_MAX_OUTPUTS};
	}
	struct run r = {.o = o,
	                .jobs = jobs,
	                .n_jobs = o->n_procs,
	                .pinned = true,
	                .restarts = RESTARTS_PER_CALL, /* never restart during the probe */
	                .err = err,
	                .err_size = err_size};
	rc = run_jobs(&r, held, o->n_procs, false);
	if (rc < 0)
		goto out;
	for (unsigned i = 1; i < o->n_procs; i++)
		if (jobs[i].outputs != jobs[0].outputs) {
			rc = ex__fail(
			    err, err_size, -EPROTO,
			    "oracle '%s': the probe gave %zu outputs from process 0 but %zu "
			    "from process %u",
			    o->shown, jobs[0].outputs, jobs[i].outputs, i);
			goto out;
		}
	o->n_outputs = jobs[0].outputs;
	rc = 0;
out:
	free(jobs);
	free(held);
	free(outs);
	if (rc < 0) {
		ex_oracle_close(o);
		return rc;
	}
	*ret = o;
	return 0;
}

size_t ex_oracle_n_outputs(const struct ex_oracle *o)
{
	return o->n_outputs;
}

int ex_oracle_predict(struct ex_oracle *o, const double *rows, size_t n_rows, double *out,
                      char *err, size_t err_size)
{
	if (!o || (n_rows && (!rows || !out)))
		return ex__fail(err, err_size, -EINVAL, "oracle: bad arguments");
	if (n_rows == 0)
		return 0;
	size_t n_jobs = (n_rows + o->batch_rows - 1) / o->batch_rows;
	struct job *jobs = calloc(n_jobs, sizeof(*jobs));
	struct slot *held = calloc(o->n_procs, sizeof(*held));
	int rc;

	if (!jobs || !held) {
		free(jobs);
		free(held);
		return ex__fail(err, err_size, -ENOMEM, "oracle: out of memory");
	}
	for (size_t k = 0; k < n_jobs; k++) {
		size_t first = k * o->batch_rows;
		jobs[k] = (struct job){.rows = rows + first * o->n_features,
		                       .n_rows = n_rows - first < o->batch_rows ? n_rows - first
		                                                                : o->batch_rows,
		                       .out = out + first * o->n_outputs};
	}
	struct run r = {.o = o,
	                .jobs = jobs,
	                .n_jobs = n_jobs,
	                .expected_outputs = o->n_outputs,
	                .err = err,
	                .err_size = err_size};
	rc = run_jobs(&r, held, 0, true);
	free(jobs);
	free(held);
	return rc;
}

static int oracle_fn_predict(void *userdata, const double *rows, size_t n_rows, double *out,
                             char *err, size_t err_size)
{
	return ex_oracle_predict(userdata, rows, n_rows, out, err, err_size);
}

void ex_oracle_fn(struct ex_oracle *o, struct ex_fn *ret)
{
	*ret = (struct ex_fn){.predict = oracle_fn_predict,
	                      .userdata = o,
	                      .n_features = o->n_features,
	                      .n_outputs = o->n_outputs};
}

void ex_oracle_get_stats(const struct ex_oracle *o, struct ex_oracle_stats *s)
{
	struct ex_oracle *m = (struct ex_oracle *)o;

	pthread_mutex_lock(&m->mu);
	*s = m->st;
	pthread_mutex_unlock(&m->mu);
}
