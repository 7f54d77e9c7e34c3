/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics over libmicrohttpd (metrics.h), and the process metrics.
 *
 * One HTTP thread (MHD_USE_INTERNAL_POLLING_THREAD with epoll: a process with thousands of
 * descriptors is fine) serves every scrape in turn, so a flood of scrapes costs at most that
 * one thread, never the caller's; the connection limit, the idle timeout and the per-connection
 * memory limit bound what a client can hold. The exposition is rendered per request into a
 * buffer of at most max_response bytes, which libmicrohttpd frees once sent. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

#define LISTEN_BACKLOG 64

struct metrics_server {
	struct MHD_Daemon *mhd;
	struct metrics *m;
	size_t max_response;
	char address[INET6_ADDRSTRLEN + 16];
};

static void format_address(const struct sockaddr *sa, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, size, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, size, "%s:%u", a, ntohs(s4->sin_port));
	}
}

/* ------------------------------------------------------------------ requests */

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                  bool allow)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct metrics_server *srv = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t len;
	int rc;

	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = srv; /* headers seen; answer on the next call (after any body) */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is ignored (and refused below) */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                  "only GET and HEAD are served here\n", true);
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
		                  "not found: the metrics are at /metrics\n", false);
	rc = metrics_write(srv->m, srv->max_response, &text, &len);
	if (rc < 0)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  rc == -E2BIG ? "the metrics exceed the response limit\n"
		                               : "out of memory\n",
		                  false);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ------------------------------------------------------------------ start and stop */

int metrics_server_start(struct metrics *m, const char *listen_addr,
                         const struct metrics_server_options *opt, struct metrics_server **ret,
                         char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	unsigned salen = 0, max_conn, timeout;
	struct metrics_server *srv;
	int fd, one = 1, rc;

	rc = metrics_parse_listen(listen_addr, &ss, &salen, err, err_size);
	if (rc < 0)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	srv->m = m;
	srv->max_response = opt && opt->max_response ? opt->max_response : 4u << 20;
	max_conn = opt && opt->max_connections ? opt->max_connections : 16;
	timeout = opt && opt->timeout_s ? opt->timeout_s : 10;
	format_address((struct sockaddr *)&ss, srv->address, sizeof(srv->address));
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_size, "%s: socket: %s", srv->address, strerror(errno));
		free(srv);
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, salen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		snprintf(err, err_size, "%s: %s", srv->address,
		         errno == EADDRINUSE      ? "the port is in use"
		         : errno == EADDRNOTAVAIL ? "not an address of this host"
		                                  : strerror(errno));
		close(fd);
		free(srv);
		return rc;
	}
	srv->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL, on_request,
	    srv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, max_conn,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)16384, MHD_OPTION_END);
	if (!srv->mhd) {
		snprintf(err, err_size, "%s: the HTTP server did not start", srv->address);
		close(fd);
		free(srv);
		return -EIO;
	}
	*ret = srv;
	return 0;
}

const char *metrics_server_address(const struct metrics_server *s)
{
	return s->address;
}

void metrics_server_stop(struct metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd); /* joins the thread, closes the listening socket */
	free(s);
}

/* ------------------------------------------------------------------ process metrics */

static double start_time;

static double process_start(void *data)
{
	(void)data;
	return start_time;
}

static double process_cpu(void *data)
{
	struct rusage ru;

	(void)data;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double process_rss(void *data)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	(void)data;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double process_fds(void *data)
{
	/* open() and fdopendir() rather than opendir(): GCC 12's libtsan does not intercept the
	 * openat() inside opendir(), so under ThreadSanitizer a descriptor number the loop had
	 * closed and this thread got again looked shared between the two threads */
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	double n = 0;

	(void)data;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (readdir(dir))
		n++;
	closedir(dir);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own descriptor */
}

static double process_max_fds(void *data)
{
	struct rlimit rl;

	(void)data;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : 0;
}

int metrics_add_process(struct metrics *m)
{
	static const struct {
		const char *name, *help;
		double (*fn)(void *);
		bool counter;
	} p[] = {
	    {"process_start_time_seconds",
	     "Start time of the process since the Unix epoch in seconds.", process_start, false},
	    {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
	     process_cpu, true},
	    {"process_resident_memory_bytes", "Resident memory size in bytes.", process_rss, false},
	    {"process_open_fds", "Number of open file descriptors.", process_fds, false},
	    {"process_max_fds", "Maximum number of open file descriptors.", process_max_fds, false},
	};
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!start_time)
		start_time = (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		struct metric *s = p[i].counter ? metrics_counter(m, p[i].name, p[i].help)
		                                : metrics_gauge(m, p[i].name, p[i].help);
		if (!s || metric_set_callback(s, p[i].fn, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

int metrics_add_build_info(struct metrics *m, const char *name, const char *version)
{
	struct metric *s = metrics_labelled(
	    m, METRIC_GAUGE, name, "The version, as a label; always 1.", "version", version);

	if (!s)
		return errno == EINVAL ? -EINVAL : -ENOMEM;
	metric_set(s, 1);
	return 0;
}
