/* SPDX-License-Identifier: Apache-2.0 */
/* Test-only tampering with a closed vault, straight through LMDB and vault/FORMAT.md: what an
 * attacker with write access to the files could do. Each returns 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

int tamper_payload_byte(const char *dir, uint64_t seq, uint32_t offset);
/* offset 0..90 flips a byte of the leaf encoding, 91..122 one of the stored leaf hash. */
int tamper_leaf_byte(const char *dir, uint64_t seq, uint32_t offset);
/* Rewrites leaf seq with new timestamp/payload hash fields AND recomputes its stored hash:
 * a careful forger who also fixes the cache (the chain and tree still betray it). */
int tamper_forge_leaf(const char *dir, uint64_t seq);
int tamper_delete_entry(const char *dir, uint64_t seq);
int tamper_delete_payload(const char *dir, uint64_t seq);
int tamper_swap_entries(const char *dir, uint64_t seq); /* swaps seq and seq+1 */
/* Stores entry seq (leaf and payload) under the key to instead: a damaged key. */
int tamper_move_entry(const char *dir, uint64_t seq, uint64_t to);
/* Clean rollback to n entries: leaves, payloads, nodes and stored checkpoints beyond are
 * deleted, as if the log had never grown. Only a checkpoint kept elsewhere reveals it. */
int tamper_truncate(const char *dir, uint64_t n);
/* Like tamper_truncate but leaves the stored checkpoints: a careless rollback. */
int tamper_truncate_entries(const char *dir, uint64_t n);
/* Removes entry seq from the type index. */
int tamper_unindex(const char *dir, uint64_t seq);
int tamper_node_byte(const char *dir, unsigned level, uint64_t index);
int tamper_blob_byte(const char *dir, uint64_t offset);
/* Deletes every stored checkpoint and DIR/checkpoint: a vault that was never signed. */
int tamper_uncheckpoint(const char *dir);
/* The attacker without the key: changes entry seq's payload (a bit of its middle byte), recomputes
 * every later leaf, chain link and Merkle node, and deletes the checkpoints that would betray it.
 */
int tamper_rewrite(const char *dir, uint64_t seq);
/* The attacker with the key (root reads DIR/signing.key): tamper_rewrite, which also deletes
 * the witnesses' cosignatures of the old checkpoints, then a checkpoint of the forged tree at
 * the same size signed with the vault's own key (vault_checkpoint_sign), so that the vault
 * verifies by itself. Only a checkpoint kept elsewhere, or a witness, shows the fork. */
int tamper_rewrite_resign(const char *dir, uint64_t seq);
/* Adds (or points elsewhere) the dedup key client ‖ 0 ‖ request -> seq. */
int tamper_dedup_put(const char *dir, const char *client, const char *request, uint64_t seq);
/* Adds (add) or removes (-ENOENT when absent) the model index key MODEL || 0 || seq. */
int tamper_model_index(const char *dir, const char *model, uint64_t seq, bool add);
/* Removes a dedup key (-ENOENT when absent). */
int tamper_dedup_del(const char *dir, const char *client, const char *request);
/* Makes a vault what format 1 wrote: no models database, no model_index, format
 * "evidentd-vault 1" (for the model index's migration). */
int tamper_format1(const char *dir);
