/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl: read-only inspection of an evidentd vault. main() parses the global options,
 * picks the verb, runs getopt over the verb's table plus the globals (so globals may follow
 * the verb), prints help texts, and hands positional arguments to the verb. */
#include <ctype.h>
#include <string.h>

#include "ctl.h"
#include "evident_version.h"

static const struct ctl_verb *const verbs[] = {
    &ctl_verb_status,       &ctl_verb_verify,      &ctl_verb_log,        &ctl_verb_tail,
    &ctl_verb_show,         &ctl_verb_export,      &ctl_verb_checkpoint, &ctl_verb_prove,
    &ctl_verb_verify_proof, &ctl_verb_consistency, &ctl_verb_explain,    &ctl_verb_backtest,
    &ctl_verb_incidents,    &ctl_verb_incident,    &ctl_verb_models,     &ctl_verb_lineage,
    &ctl_verb_report,       &ctl_verb_replay,      &ctl_verb_subject,    &ctl_verb_holds,
    &ctl_verb_guards,       &ctl_verb_fleet,
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static const char global_options_help[] =
    "--vault DIR\n"
    "    The vault folder. Default: $EVIDENT_VAULT, else $STATE_DIRECTORY, else\n"
    "    " CTL_DEFAULT_VAULT ".\n"
    "--json\n"
    "    Machine-readable output: one JSON object, or JSON Lines for lists.\n"
    "-h, --help\n"
    "    Show this help and exit.\n"
    "--version\n"
    "    Show the version and exit.\n";

static const char exit_status_help[] = "0  success\n"
                                       "1  the check found a problem (tampering, invalid proof)\n"
                                       "2  usage error\n"
                                       "3  the vault or a file could not be read\n";

/* Prints text with every line indented like a man page section body. */
static void print_body(const char *text)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");
		printf("%s%.*s\n", n ? "       " : "", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

static void print_section(const char *title, const char *text)
{
	if (!text)
		return;
	printf("%s\n", title);
	print_body(text);
	putchar('\n');
}

static void print_verb_help(const struct ctl_verb *verb)
{
	printf("NAME\n       " CTL_PROGRAM " %s - %s\n\n", verb->name, verb->summary);
	printf("SYNOPSIS\n       " CTL_PROGRAM " [--vault DIR] [--json] %s\n\n", verb->synopsis);
	print_section("DESCRIPTION", verb->description);
	printf("OPTIONS\n");
	if (verb->options) {
		print_body(verb->options);
		putchar('\n');
	}
	print_body(global_options_help);
	putchar('\n');
	print_section("EXIT STATUS", verb->exit_status ? verb->exit_status : exit_status_help);
	print_section("EXAMPLES", verb->examples);
}

static void print_main_help(void)
{
	printf("NAME\n       " CTL_PROGRAM
	       " - inspect and verify an evidentd vault (read-only)\n\n");
	printf("SYNOPSIS\n       " CTL_PROGRAM " [--vault DIR] [--json] VERB [OPTIONS] [ARGS]\n\n");
	print_section("DESCRIPTION",
	              "Reads an evidentd evidence vault without ever modifying it: lists and\n"
	              "decodes entries, verifies the hash chain, Merkle tree and signed\n"
	              "checkpoints and their witnesses' cosignatures, exports records, and\n"
	              "builds and checks inclusion and consistency proofs.\n"
	              "Run '" CTL_PROGRAM " VERB --help' for the options of a verb.");
	printf("VERBS\n");
	for (size_t i = 0; i < N_VERBS; i++)
		printf("       %-14s %s\n", verbs[i]->name, verbs[i]->summary);
	putchar('\n');
	print_section("GLOBAL OPTIONS", global_options_help);
	print_section("EXIT STATUS", exit_status_help);
	print_section("EXAMPLES", CTL_PROGRAM " --vault ./vault status\n" CTL_PROGRAM
	                                      " verify --checkpoint saved.checkpoint\n" CTL_PROGRAM
	                                      " log --model credit-risk --since -1h --json\n");
}

static const struct ctl_verb *find_verb(const char *name)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (strcmp(verbs[i]->name, name) == 0)
			return verbs[i];
	return NULL;
}

/* Names the option getopt complained about: "-x" or "--name" (without "=value"). */
static void bad_option_name(char **argv, int optind_after, char *buf, size_t size)
{
	const char *tok = optind_after > 0 ? argv[optind_after - 1] : "";

	if (optopt > 0 && optopt < 0x100 && isprint(optopt) && strncmp(tok, "--", 2) != 0)
		snprintf(buf, size, "-%c", optopt);
	else
		snprintf(buf, size, "%.*s", (int)strcspn(tok, "="), tok);
}

static int option_error(const char *where, int opt, char **argv)
{
	char name[128];

	bad_option_name(argv, optind, name, sizeof(name));
	if (opt == ':')
		return ctl_usage_error("%s%soption %s needs a value", where, *where ? ": " : "",
		                       name);
	if (optopt >= 0x100)
		return ctl_usage_error("%s%soption %s takes no value", where, *where ? ": " : "",
		                       name);
	return ctl_usage_error("%s%sunknown option %s (see " CTL_PROGRAM " %s%s--help)", where,
	                       *where ? ": " : "", name, where, *where ? " " : "");
}

/* Handles a global option; returns true when opt was one. */
static bool global_option(struct ctl *c, int opt, const char *arg)
{
	switch (opt) {
	case CTL_OPT_VAULT:
		c->vault_dir = arg;
		return true;
	case CTL_OPT_JSON:
		c->json = true;
		return true;
	case 'h':
		c->help = true;
		return true;
	case CTL_OPT_VERSION:
		c->version = true;
		return true;
	default:
		return false;
	}
}

/* Global options before the verb. Returns 0 with *ret_verb_index, or an exit status. */
static int parse_globals(struct ctl *c, int argc, char **argv, int *ret_verb_index)
{
	static const struct option options[] = {CTL_GLOBAL_OPTIONS};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1)
		if (!global_option(c, opt, optarg))
			return option_error("", opt, argv);
	*ret_verb_index = optind;
	return 0;
}

/* The verb's options (and global ones) after the verb; argv[0] is the verb. Positional
 * arguments end up at argv[*ret_first_arg..argc). Returns 0 or an exit status. */
static int parse_verb(struct ctl *c, const struct ctl_verb *verb, int argc, char **argv,
                      int *ret_first_arg)
{
	char optstring[64];
	int opt, rc;

	snprintf(optstring, sizeof(optstring), ":h%s",
	         verb->short_options ? verb->short_options : "");
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, optstring, verb->long_options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return option_error(verb->name, opt, argv);
		if (global_option(c, opt, optarg))
			continue;
		rc = verb->option ? verb->option(c, opt, optarg) : CTL_EXIT_USAGE;
		if (rc != 0)
			return rc;
	}
	*ret_first_arg = optind;
	return 0;
}

static int check_arg_count(const struct ctl_verb *verb, int n, char **args)
{
	if (n < verb->min_args)
		return ctl_usage_error("%s: missing %s (see " CTL_PROGRAM " %s --help)", verb->name,
		                       verb->args_name, verb->name);
	if (n > verb->max_args)
		return ctl_usage_error("%s: unexpected argument '%s'", verb->name,
		                       args[verb->max_args]);
	return 0;
}

/* The vault folder when --vault is not given; buf holds a copy when one is needed. */
static const char *default_vault(char *buf, size_t size)
{
	const char *s = getenv("EVIDENT_VAULT");

	if (s && *s)
		return s;
	/* systemd passes several folders separated by ':' when the unit has several; ours is
	 * the first. */
	s = getenv("STATE_DIRECTORY");
	if (s && *s) {
		snprintf(buf, size, "%.*s", (int)strcspn(s, ":"), s);
		return buf;
	}
	return CTL_DEFAULT_VAULT;
}

static int finish_stdout(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_error("standard output: write error");
		return rc ? rc : CTL_EXIT_UNREADABLE;
	}
	return rc;
}

static int run(int argc, char **argv)
{
	struct ctl c = {0};
	char vault_buf[4096];
	const struct ctl_verb *verb;
	int verb_index = 0, first = 0, rc;

	rc = parse_globals(&c, argc, argv, &verb_index);
	if (rc)
		return rc;
	if (verb_index >= argc) {
		if (c.version) {
			printf(CTL_PROGRAM " " EVIDENT_VERSION "\n");
			return 0;
		}
		if (c.help) {
			print_main_help();
			return 0;
		}
		return ctl_usage_error("no verb given (see " CTL_PROGRAM " --help)");
	}
	verb = find_verb(argv[verb_index]);
	if (!verb)
		return ctl_usage_error("unknown verb '%s' (see " CTL_PROGRAM " --help)",
		                       argv[verb_index]);
	rc = parse_verb(&c, verb, argc - verb_index, argv + verb_index, &first);
	if (rc)
		return rc;
	if (c.help) {
		print_verb_help(verb);
		return 0;
	}
	if (c.version) {
		printf(CTL_PROGRAM " " EVIDENT_VERSION "\n");
		return 0;
	}
	argc -= verb_index + first;
	argv += verb_index + first;
	rc = check_arg_count(verb, argc, argv);
	if (rc)
		return rc;
	if (!c.vault_dir)
		c.vault_dir = default_vault(vault_buf, sizeof(vault_buf));
	return verb->run(&c, argc, argv);
}

int main(int argc, char **argv)
{
	return finish_stdout(run(argc, argv));
}
