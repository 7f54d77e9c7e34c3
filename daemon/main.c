/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd: arguments, then daemon_run(). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "evident_version.h"
#include "log.h"

static void help(void)
{
	printf("NAME\n"
	       "       evidentd - durable evidence vault for automated decisions\n"
	       "\n"
	       "SYNOPSIS\n"
	       "       evidentd [--config FILE] [--vault DIR] [--socket PATH] [--log-level L]\n"
	       "       evidentd --check-config [--config FILE]\n"
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
	       "       evidentd --check-config --config /etc/evidentd/evidentd.conf\n",
	       CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"vault", required_argument, NULL, 'v'},
	    {"socket", required_argument, NULL, 's'}, {"log-level", required_argument, NULL, 'l'},
	    {"check-config", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {0},
	};
	struct daemon d = {0};
	bool check = false;
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
			if (level < 0) {
				fprintf(stderr, "evidentd: --log-level: unknown level \"%s\"\n",
				        optarg);
				return 2;
			}
			break;
		case 'C':
			check = true;
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
