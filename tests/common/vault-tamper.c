/* SPDX-License-Identifier: Apache-2.0 */
/* vault-tamper: command-line front end of tamper.c for integration tests (never installed).
 *   vault-tamper DIR payload SEQ [OFFSET] | leaf SEQ OFFSET | forge SEQ | delete SEQ |
 *                    unpayload SEQ | swap SEQ | move SEQ TO | truncate N | node LEVEL INDEX |
 *                    blob OFFSET |
 *                    uncheckpoint - | rewrite SEQ | resign SEQ |
 *                    dedup-put CLIENT REQUEST SEQ |
 *                    dedup-del CLIENT REQUEST | format1 - */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tamper.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vault-tamper DIR ACTION ARGS...\n");
		return 2;
	}
	const char *dir = argv[1], *act = argv[2];
	uint64_t a = strtoull(argv[3], NULL, 0), b = argc > 4 ? strtoull(argv[4], NULL, 0) : 0;
	int rc;

	if (!strcmp(act, "payload"))
		rc = tamper_payload_byte(dir, a, (uint32_t)b);
	else if (!strcmp(act, "leaf"))
		rc = tamper_leaf_byte(dir, a, (uint32_t)b);
	else if (!strcmp(act, "forge"))
		rc = tamper_forge_leaf(dir, a);
	else if (!strcmp(act, "delete"))
		rc = tamper_delete_entry(dir, a);
	else if (!strcmp(act, "unpayload"))
		rc = tamper_delete_payload(dir, a);
	else if (!strcmp(act, "swap"))
		rc = tamper_swap_entries(dir, a);
	else if (!strcmp(act, "move") && argc > 4)
		rc = tamper_move_entry(dir, a, b);
	else if (!strcmp(act, "truncate"))
		rc = tamper_truncate(dir, a);
	else if (!strcmp(act, "node"))
		rc = tamper_node_byte(dir, (unsigned)a, b);
	else if (!strcmp(act, "unindex"))
		rc = tamper_unindex(dir, a);
	else if (!strcmp(act, "blob"))
		rc = tamper_blob_byte(dir, a);
	else if (!strcmp(act, "uncheckpoint"))
		rc = tamper_uncheckpoint(dir);
	else if (!strcmp(act, "rewrite"))
		rc = tamper_rewrite(dir, a);
	else if (!strcmp(act, "resign"))
		rc = tamper_rewrite_resign(dir, a);
	else if (!strcmp(act, "dedup-put") && argc > 5)
		rc = tamper_dedup_put(dir, argv[3], argv[4], strtoull(argv[5], NULL, 0));
	else if (!strcmp(act, "format1"))
		rc = tamper_format1(dir);
	else if (!strcmp(act, "dedup-del") && argc > 4)
		rc = tamper_dedup_del(dir, argv[3], argv[4]);
	else {
		fprintf(stderr, "vault-tamper: unknown action %s\n", act);
		return 2;
	}
	if (rc) {
		fprintf(stderr, "vault-tamper: %s failed: %s\n", act, strerror(-rc));
		return 1;
	}
	return 0;
}
