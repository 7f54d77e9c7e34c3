/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line helpers of evident-witness and evident-auditor (cli.h). */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evident_version.h"
#include "log.h"
#include "metrics.h"
#include "vault.h"

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return 2;
}

int cli_log_level(const char *prog, const char *name)
{
	int level = log_level_from_name(name);

	if (level < 0)
		return cli_usage_error(prog,
		                       "--log-level: \"%s\": err, warning, notice, info or debug "
		                       "expected",
		                       name);
	log_set_level(level);
	return 0;
}

int cli_getopt_error(const char *prog, int opt, const char *opt_text)
{
	if (opt == ':')
		return cli_usage_error(prog, "option %s needs a value", opt_text);
	return cli_usage_error(prog, "unknown option %s", opt_text);
}

int cli_common_option(const char *prog, int opt, const char *arg, const char *opt_text,
                      const char *help_text)
{
	switch (opt) {
	case CLI_OPT_LOG_LEVEL:
		return cli_log_level(prog, arg);
	case 'h':
		fputs(help_text, stdout);
		return -1;
	case CLI_OPT_VERSION:
		printf("%s %s\n", prog, EVIDENT_VERSION);
		return -1;
	default:
		return cli_getopt_error(prog, opt, opt_text);
	}
}

void cli_block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_parse_unsigned(const char *prog, const char *opt, const char *s, unsigned min, unsigned max,
                       unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v < min || v > max)
		return cli_usage_error(prog, "%s: \"%s\": an integer from %u to %u expected", opt,
		                       s, min, max);
	*ret = (unsigned)v;
	return 0;
}

int cli_parse_duration(const char *prog, const char *opt, const char *s, uint64_t *ret_ns)
{
	char *end;
	unsigned long long v;
	uint64_t unit = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end[0] && !end[1])
		unit = end[0] == 's'   ? 1
		       : end[0] == 'm' ? 60
		       : end[0] == 'h' ? 3600
		       : end[0] == 'd' ? 86400
		                       : 0;
	else if (end[0])
		unit = 0;
	if (errno || end == s || s[0] == '-' || !unit || v == 0 || v > 365ull * 86400 / unit)
		return cli_usage_error(
		    prog, "%s: \"%s\": a duration such as 90s, 5m or 1h expected", opt, s);
	*ret_ns = v * unit * 1000000000ull;
	return 0;
}

int cli_make_dir(const char *prog, const char *opt, const char *dir)
{
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s %s: cannot create the folder: %s\n", prog, opt, dir,
		        strerror(errno));
		return 1;
	}
	return 0;
}

int cli_load_signer(const char *prog, const char *state_dir, const char *key_file, const char *name,
                    bool create, struct vault_signer **ret)
{
	char path[4096];
	int rc;

	if (create && cli_make_dir(prog, "--state", state_dir))
		return 1;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, key_file) >= (int)sizeof(path)) {
		fprintf(stderr, "%s: --state %s: path too long\n", prog, state_dir);
		return 1;
	}
	rc = vault_signer_load(path, create, name, VAULT_KEY_COSIGNATURE_V1, ret);
	if (rc == -EINVAL)
		fprintf(stderr,
		        "%s: --name \"%s\": a key name is 1 to %d bytes without spaces, control "
		        "characters or '+'\n",
		        prog, name, VAULT_ORIGIN_MAX);
	else if (rc == -EPERM)
		fprintf(stderr, "%s: %s: readable by group or others; chmod 600 it\n", prog, path);
	else if (rc == -EBADMSG)
		fprintf(stderr, "%s: %s: not an Ed25519 private key (PEM PKCS#8)\n", prog, path);
	else if (rc < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(-rc));
	return rc < 0 ? 1 : 0;
}

int cli_serve_metrics(const char *prog, struct metrics *m, const char *build_info_name,
                      const char *listen_addr, struct metrics_server **ret_srv)
{
	char err[400];

	if (!m || metrics_add_build_info(m, build_info_name, EVIDENT_VERSION) < 0 ||
	    metrics_add_process(m) < 0) {
		fprintf(stderr, "%s: --metrics: out of memory\n", prog);
		metrics_free(m);
		return -1;
	}
	if (metrics_server_start(m, listen_addr, NULL, ret_srv, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: --metrics %s: %s\n", prog, listen_addr, err);
		metrics_free(m);
		return -1;
	}
	log_info("metrics served at http://%s/metrics", metrics_server_address(*ret_srv));
	return 0;
}
