/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd: arguments, then daemon_run(). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "evident_version.h"
#include "log.h"
#include "vault.h"

static void human(uint64_t bytes, char *buf, size_t size)
{
	if (bytes >= (1ull << 30))
		snprintf(buf, size, "%.1f GiB", (double)bytes / (1ull << 30));
	else if (bytes >= (1ull << 20))
		snprintf(buf, size, "%.1f MiB", (double)bytes / (1ull << 20));
	else
		snprintf(buf, size, "%.1f KiB", (double)bytes / 1024);
}

/* --compact: vault_compact on the vault of --vault, else of the configuration. */
static int compact(const char *config_arg, const char *vault_arg)
{
	struct config cfg;
	char err[600], a[32], b[32];
	uint64_t before, after;
	int rc;

	if (config_load(config_arg, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "evidentd: %s\n", err);
		return 1;
	}
	const char *dir = vault_arg ? vault_arg : cfg.vault_dir;
	rc = vault_compact(dir, &before, &after);
	if (rc < 0) {
		fprintf(stderr, "evidentd: --compact: vault \"%s\": %s\n", dir,
		        rc == -EBUSY    ? "an evidentd is writing to it (stop it first: compaction "
		                          "runs offline)"
		        : rc == -ENOENT ? "there is no vault there"
		        : rc == -ENOSPC ? "no room for the compacted copy of data.mdb beside it"
		                        : strerror(-rc));
		config_deinit(&cfg);
		return 1;
	}
	human(before, a, sizeof(a));
	human(after, b, sizeof(b));
	printf("%s/data.mdb: %" PRIu64 " bytes (%s) before, %" PRIu64
	       " bytes (%s) after compaction; entries, leaves, checkpoints and proofs unchanged\n",
	       dir, before, a, after, b);
	config_deinit(&cfg);
	return 0;
}

static void help(void)
{
	printf("NAME\n"
	       "       evidentd - durable evidence vault for automated decisions\n"
	       "\n"
	       "SYNOPSIS\n"
	       "       evidentd [--config FILE] [--vault DIR] [--socket PATH] [--log-level L]\n"
	       "       evidentd --check-config [--config FILE]\n"
	       "       evidentd --compact [--vault DIR] [--config FILE]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "       Receives every decision of production models over a Unix socket and\n"
	       "       appends it, durably and before acknowledging it, to an append-only,\n"
	       "       hash-chained Merkle-tree vault with signed checkpoints (see\n"
	       "       proto/PROTOCOL.md and vault/FORMAT.md). Runs in the foreground; under\n"
	       "       systemd it is a Type=notify service and accepts socket activation.\n"
	       "\n"
	       "OPTIONS\n"
	       "       --config FILE\n"
	       "           INI configuration. Default %s (optional: without it the\n"
	       "           defaults apply).\n"
	       "       --vault DIR\n"
	       "           The vault folder, created if missing. Overrides [daemon] vault.\n"
	       "           Default $STATE_DIRECTORY, else /var/lib/evidentd.\n"
	       "       --socket PATH\n"
	       "           The ingest socket. Overrides [daemon] socket. Default\n"
	       "           $RUNTIME_DIRECTORY/ingest.sock, else /run/evidentd/ingest.sock.\n"
	       "           Ignored when systemd passes a listening socket (LISTEN_FDS).\n"
	       "       --log-level LEVEL\n"
	       "           err, warning, notice, info (default) or debug.\n"
	       "       --check-config\n"
	       "           Parse the configuration, print the problem if any, and exit.\n"
	       "       --compact\n"
	       "           Rewrite the vault's data.mdb without the pages LMDB freed, so that\n"
	       "           the bytes of pruned payloads (retention, erasure) are gone from the\n"
	       "           file; entries, leaves, checkpoints and every proof are unchanged.\n"
	       "           Offline: refused while an evidentd writes to the vault. Needs room\n"
	       "           for a second copy of data.mdb; crash-safe. Prints both sizes.\n"
	       "       -h, --help, --version\n"
	       "\n"
	       "SIGNALS\n"
	       "       SIGTERM, SIGINT  stop accepting, commit and acknowledge everything\n"
	       "                        received, record the stop, sign a checkpoint, exit 0.\n"
	       "       SIGHUP           reload the configuration; a bad file is rejected\n"
	       "                        (logged with file:line:column) and the old one stays.\n"
	       "\n"
	       "EXIT STATUS\n"
	       "       0 after a clean drain; 1 on a startup or final-commit failure; 2 on a\n"
	       "       usage error.\n"
	       "\n"
	       "EXAMPLES\n"
	       "       evidentd --vault ./vault --socket ./ingest.sock\n"
	       "       evidentd --check-config --config /etc/evidentd/evidentd.conf\n"
	       "       systemctl stop evidentd && evidentd --compact && systemctl start evidentd\n"
	       "\n"
	       "ENVIRONMENT\n"
	       "       EVIDENTD_TEST_NOW_OFFSET_S\n"
	       "           Tests only: retention's clock runs this many seconds ahead of the\n"
	       "           wall clock (read at start, logged, recorded in a notice entry).\n",
	       CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"vault", required_argument, NULL, 'v'},
	    {"socket", required_argument, NULL, 's'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"compact", no_argument, NULL, 'K'},
	    {0},
	};
	struct daemon d = {0};
	bool check = false, compact_only = false;
	int c, level = -1;

	while ((c = getopt_long(argc, argv, "c:v:s:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_arg = optarg;
			break;
		case 'v':
			d.vault_arg = optarg;
			break;
		case 's':
			d.socket_arg = optarg;
			break;
		case 'l':
			level = log_level_from_name(optarg);
			d.log_level_arg = optarg;
			if (level < 0) {
				fprintf(stderr, "evidentd: --log-level: unknown level \"%s\"\n",
				        optarg);
				return 2;
			}
			break;
		case 'C':
			check = true;
			break;
		case 'K':
			compact_only = true;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("evidentd %s\n", EVIDENT_VERSION);
			return 0;
		default:
			fprintf(stderr, "evidentd: see evidentd --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evidentd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (compact_only)
		return compact(d.config_arg, d.vault_arg);
	if (check) {
		struct config cfg;
		char err[600];
		if (config_load(d.config_arg, &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "evidentd: %s\n", err);
			return 1;
		}
		printf("%s: OK\n", cfg.path ? cfg.path : "defaults (no config file)");
		config_deinit(&cfg);
		return 0;
	}
	if (level >= 0)
		log_set_level(level);
	/* a client that hangs up must cost an EPIPE, not the daemon */
	signal(SIGPIPE, SIG_IGN);
	int rc = daemon_run(&d);
	return rc;
}
