/* SPDX-License-Identifier: Apache-2.0 */
/* evident-oracle: the reference oracle (proto/PROTOCOL.md "Oracle protocol"). Serves one model
 * file through the explain library's own evaluators: delimited PredictRequest on stdin, one
 * delimited PredictResponse per request on stdout, in order. A malformed request gets a
 * response with `error` set and the oracle keeps serving; only a broken length prefix (after
 * which the stream cannot be resynchronised) ends it, with status 1. EOF on stdin: exit 0. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evident.pb-c.h"
#include "explain.h"
#include "frame.h"

static const char help_text[] =
    "NAME\n"
    "    evident-oracle - answer evidentd's oracle protocol from a model file\n"
    "\n"
    "SYNOPSIS\n"
    "    evident-oracle [--output margin|probability] [MODEL_FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "    Loads MODEL_FILE (default: $EVIDENT_ARTIFACT), an XGBoost JSON model, a LightGBM\n"
    "    text model or a linear-json model (detected from the content), and evaluates it\n"
    "    with the explain library for every request: it reads length-delimited\n"
    "    evident.v1.PredictRequest messages on standard input and writes one delimited\n"
    "    evident.v1.PredictResponse per request on standard output, in order (see\n"
    "    proto/PROTOCOL.md, \"Oracle protocol\"). NaN in a request means missing.\n"
    "\n"
    "    A request with the wrong number of features or values, or a row the model cannot\n"
    "    evaluate (a missing value for a linear model), is answered with `error` set; the\n"
    "    oracle keeps serving. Requests are limited to 64 MiB.\n"
    "\n"
    "OPTIONS\n"
    "    --output margin|probability\n"
    "        margin (default): the raw margin (sum of trees plus base score, or the linear\n"
    "        predictor), one value per model output; this is what evidentd explains.\n"
    "        probability: the margin through the model's link (logistic, softmax, exp).\n"
    "    -h, --help\n"
    "        Show this help and exit.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  standard input ended\n"
    "    1  the model cannot be loaded, a broken length prefix, or a write error\n"
    "    2  usage error\n"
    "\n"
    "EXAMPLES\n"
    "    evident-oracle model.json\n"
    "    EVIDENT_ARTIFACT=model.txt evident-oracle --output probability\n"
    "    evidentctl explain --oracle 'evident-oracle --output margin' ...\n";

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(STDOUT_FILENO, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_response(const Evident__V1__PredictResponse *r)
{
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t body = evident__v1__predict_response__get_packed_size(r);
	size_t hl = frame_header_encode(body, hdr);
	uint8_t *buf = malloc(hl + body);
	int rc;

	if (!buf)
		return -1;
	memcpy(buf, hdr, hl);
	evident__v1__predict_response__pack(r, buf + hl);
	rc = write_all(buf, hl + body);
	free(buf);
	return rc;
}

static int send_error(bool has_id, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int send_error(bool has_id, uint64_t id, const char *fmt, ...)
{
	Evident__V1__PredictResponse r = EVIDENT__V1__PREDICT_RESPONSE__INIT;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r.error = msg;
	r.has_request_id = has_id;
	r.request_id = id;
	return send_response(&r);
}

/* Answers one request body. Returns 0, or -1 when stdout is gone. */
static int serve(const struct ex_model *m, bool probability, const uint8_t *body, size_t len)
{
	Evident__V1__PredictRequest *q = evident__v1__predict_request__unpack(NULL, len, body);
	size_t M = ex_model_n_features(m), K = ex_model_n_outputs(m);
	int rc;

	if (!q)
		return send_error(false, 0,
		                  "request: %zu bytes that do not decode as a PredictRequest", len);
	if (!q->has_n_rows || !q->has_n_features) {
		rc = send_error(q->has_request_id, q->request_id,
		                "request: n_rows or n_features missing");
	} else if (q->n_features != M) {
		rc = send_error(q->has_request_id, q->request_id,
		                "request: n_features %u, the model has %zu features", q->n_features,
		                M);
	} else if (q->n_values != (size_t)q->n_rows * M) {
		rc = send_error(q->has_request_id, q->request_id,
		                "request: %zu values for %u rows x %zu features", q->n_values,
		                q->n_rows, M);
	} else {
		Evident__V1__PredictResponse r = EVIDENT__V1__PREDICT_RESPONSE__INIT;
		double *out = malloc(((size_t)q->n_rows * K + 1) * sizeof(double));
		size_t bad = SIZE_MAX;
		if (!out) {
			rc = send_error(q->has_request_id, q->request_id, "out of memory");
			goto done;
		}
		for (size_t i = 0; i < q->n_rows && bad == SIZE_MAX; i++) {
			if (ex_predict_margin(m, q->values + i * M, NULL, out + i * K) < 0)
				bad = i;
			else if (probability)
				ex_link_apply(m, out + i * K);
		}
		if (bad != SIZE_MAX) {
			rc = send_error(
			    q->has_request_id, q->request_id,
			    "row %zu: the model cannot evaluate it (a missing value for a "
			    "linear model?)",
			    bad);
		} else {
			r.has_n_outputs = 1;
			r.n_outputs = (uint32_t)K;
			r.n_values = (size_t)q->n_rows * K;
			r.values = out;
			r.has_request_id = q->has_request_id;
			r.request_id = q->request_id;
			rc = send_response(&r);
		}
		free(out);
	}
done:
	evident__v1__predict_request__free_unpacked(q, NULL);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	bool probability = false;
	const char *path;
	struct ex_model *m;
	struct frame_reader fr;
	char err[EX_ERR_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!strcmp(optarg, "probability"))
				probability = true;
			else if (strcmp(optarg, "margin")) {
				fprintf(
				    stderr,
				    "evident-oracle: --output: \"%s\": use margin or probability\n",
				    optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(help_text, stdout);
			return 0;
		default:
			fputs("Try 'evident-oracle --help'.\n", stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fputs("evident-oracle: at most one MODEL_FILE\n", stderr);
		return 2;
	}
	path = optind < argc ? argv[optind] : getenv("EVIDENT_ARTIFACT");
	if (!path || !*path) {
		fputs("evident-oracle: no MODEL_FILE and EVIDENT_ARTIFACT is not set\n", stderr);
		return 2;
	}
	if (ex_model_load(path, EX_FORMAT_AUTO, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "evident-oracle: %s\n", err);
		return 1;
	}
	frame_reader_init(&fr, FRAME_MAX_LIMIT);
	uint8_t *buf = malloc(1u << 16);
	int status = 0;
	for (bool eof = false; buf && !eof;) {
		ssize_t n = read(STDIN_FILENO, buf, 1u << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
			if (frame_reader_pending(&fr)) {
				fprintf(stderr, "evident-oracle: input ended inside a request\n");
				status = 1;
			}
			break;
		}
		if (frame_reader_feed(&fr, buf, (size_t)n) < 0) {
			fprintf(stderr, "evident-oracle: out of memory\n");
			status = 1;
			break;
		}
		for (;;) {
			const uint8_t *body;
			size_t len;
			int rc = frame_reader_next(&fr, &body, &len);
			if (rc == 0)
				break;
			if (rc < 0) {
				const char *why = rc == -EMSGSIZE ? "request length over 64 MiB"
				                                  : "malformed length prefix";
				send_error(false, 0, "%s: cannot continue", why);
				fprintf(stderr, "evident-oracle: %s; exiting\n", why);
				status = 1;
				eof = true;
				break;
			}
			if (serve(m, probability, body, len) < 0) {
				fprintf(stderr, "evident-oracle: cannot write a response: %s\n",
				        strerror(errno));
				status = 1;
				eof = true;
				break;
			}
		}
	}
	free(buf);
	frame_reader_deinit(&fr);
	ex_model_free(m);
	return status;
}
