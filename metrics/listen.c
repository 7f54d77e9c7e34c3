/* SPDX-License-Identifier: Apache-2.0 */
/* metrics_parse_listen (metrics.h): an object of its own, so that a config parser links it
 * without the HTTP server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"

int metrics_parse_listen(const char *text, void *sa, unsigned *salen, char *err, size_t err_size)
{
	char host[256];
	const char *colon, *port_s;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV},
	                *res = NULL;
	char *end;
	long port;
	int rc;

	if (!text || !*text) {
		snprintf(err, err_size, "empty address (ADDR:PORT, [IPv6]:PORT or HOST:PORT)");
		return -EINVAL;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':') {
			snprintf(err, err_size, "\"%s\": an IPv6 address is written [ADDR]:PORT",
			         text);
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		port_s = close + 2;
		hints.ai_flags |= AI_NUMERICHOST;
		hints.ai_family = AF_INET6;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			snprintf(err, err_size, "\"%s\" has no port (ADDR:PORT)", text);
			return -EINVAL;
		}
		if (memchr(text, ':', (size_t)(colon - text))) {
			snprintf(err, err_size, "\"%s\": an IPv6 address is written [ADDR]:PORT",
			         text);
			return -EINVAL;
		}
		if ((size_t)(colon - text) >= sizeof(host)) {
			snprintf(err, err_size, "\"%s\": the host name is too long", text);
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		port_s = colon + 1;
	}
	if (!host[0]) {
		snprintf(err, err_size, "\"%s\" has no address (use 0.0.0.0 or [::] for all)",
		         text);
		return -EINVAL;
	}
	errno = 0;
	port = strtol(port_s, &end, 10);
	if (!*port_s || *end || errno || port < 1 || port > 65535) {
		snprintf(err, err_size, "\"%s\": the port \"%s\" is not a number in 1..65535", text,
		         port_s);
		return -EINVAL;
	}
	if (!sa) {
		/* the syntax only: a bracketed address must be IPv6, a host name or IPv4 address
		 * is made of letters, digits, '-', '.' and '_' (resolved when served) */
		struct in6_addr a6;
		bool ok = hints.ai_family == AF_INET6
		              ? inet_pton(AF_INET6, host, &a6) == 1
		              : strspn(host, "abcdefghijklmnopqrstuvwxyz"
		                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                             "0123456789-._") == strlen(host);
		if (!ok)
			snprintf(err, err_size, "\"%s\": \"%s\" is not %s", text, host,
			         hints.ai_family == AF_INET6 ? "an IPv6 address"
			                                     : "a host name or an IPv4 address");
		return ok ? 0 : -EINVAL;
	}
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, err_size, "\"%s\": %s does not resolve: %s", text, host,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = (unsigned)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
