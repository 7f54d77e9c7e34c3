/* SPDX-License-Identifier: Apache-2.0 */
/* The command-line helpers evident-witness and evident-auditor share: option parsing, the
 * cosigner key, the --metrics server. These are PROGRAM helpers, not a library: they print
 * their errors to stderr as "PROG: ..." (prog is the program's name, used as given) and
 * log_info the metrics address; none exits. Nothing here keeps state. */
#ifndef EVIDENT_TOOLS_CLI_H
#define EVIDENT_TOOLS_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct metrics;
struct metrics_server;
struct vault_signer;

/* Prints "PROG: MESSAGE\nTry 'PROG --help'.\n" to stderr. Returns 2, the usage exit code. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long values of the options both programs take (above their own, which start at
 * 0x100), and their entries, the end of the table included: put last in a program's table. */
enum { CLI_OPT_LOG_LEVEL = 0x1000, CLI_OPT_VERSION };
/* clang-format off */
#define CLI_COMMON_OPTIONS                                        \
	{"log-level", required_argument, NULL, CLI_OPT_LOG_LEVEL}, \
	{"help", no_argument, NULL, 'h'},                          \
	{"version", no_argument, NULL, CLI_OPT_VERSION},           \
	{NULL, 0, NULL, 0}
/* clang-format on */

/* Handles what getopt_long returned that the program's own options are not: --log-level arg
 * (cli_log_level), -h/--help (help_text to stdout), --version ("PROG VERSION" to stdout),
 * ':' and unknown options (cli_getopt_error; opt_text is argv[optind - 1]). Returns 0 (level
 * set), -1 (help or version printed) or 2 (usage error printed). */
int cli_common_option(const char *prog, int opt, const char *arg, const char *opt_text,
                      const char *help_text);

/* Blocks SIGTERM, SIGINT and SIGHUP in this thread (and so in every thread it starts after)
 * into *sigs, for sigwait, and ignores SIGPIPE. */
void cli_block_signals(sigset_t *sigs);

/* --log-level NAME: sets the log library's level (log_set_level). Returns 0, or 2 after a
 * usage error naming the levels. */
int cli_log_level(const char *prog, const char *name);

/* getopt_long's answer ':' (opt_text, the option, lacks its value) or anything else it
 * returned that the program does not handle (an unknown option). Returns 2 after the usage
 * error. */
int cli_getopt_error(const char *prog, int opt, const char *opt_text);

/* Parses the value s of option opt as a decimal integer from min to max (no sign) into *ret.
 * Returns 0, or 2 after a usage error naming opt and s. */
int cli_parse_unsigned(const char *prog, const char *opt, const char *s, unsigned min, unsigned max,
                       unsigned *ret);

/* Parses "90s", "5m", "1h", "2d" or seconds alone (1 s to 365 days) into *ret_ns.
 * Returns 0, or 2 after a usage error naming opt and s. */
int cli_parse_duration(const char *prog, const char *opt, const char *s, uint64_t *ret_ns);

/* Creates the folder dir (0750) given by option opt unless it exists. Returns 0, or 1 after
 * "PROG: OPT DIR: cannot create the folder: ERROR". */
int cli_make_dir(const char *prog, const char *opt, const char *dir);

/* Loads the cosigner key state_dir/key_file named name (c2sp.org/tlog-cosignature/v1), creating
 * the folder (--state) and the key when create. On success *ret is the caller's (vault_signer
 * free). Returns 0, or 1 after an error naming the file or the option. */
int cli_load_signer(const char *prog, const char *state_dir, const char *key_file, const char *name,
                    bool create, struct vault_signer **ret);

/* --metrics ADDR:PORT: adds build_info (series build_info_name) and the process series to m
 * (NULL: the caller's metrics_new failed) and serves it at listen_addr. On success *ret_srv is
 * the caller's (metrics_server_stop before metrics_free m). Returns 0, or -1 after an error,
 * m freed. */
int cli_serve_metrics(const char *prog, struct metrics *m, const char *build_info_name,
                      const char *listen_addr, struct metrics_server **ret_srv);

#endif
