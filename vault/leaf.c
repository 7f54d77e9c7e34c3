/* SPDX-License-Identifier: Apache-2.0 */
/* Leaf and prune-payload encodings (FORMAT.md §3, §4) and entry type names. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char *const type_names[_VAULT_ENTRY_TYPE_MAX] = {
    [VAULT_ENTRY_RECORD] = "record",       [VAULT_ENTRY_MODEL] = "model",
    [VAULT_ENTRY_ARTIFACT] = "artifact",   [VAULT_ENTRY_INCIDENT] = "incident",
    [VAULT_ENTRY_AUDIT] = "audit",         [VAULT_ENTRY_REVIEW] = "review",
    [VAULT_ENTRY_LIFECYCLE] = "lifecycle", [VAULT_ENTRY_CONFIG] = "config",
    [VAULT_ENTRY_PRUNE] = "prune",         [VAULT_ENTRY_VERDICT] = "verdict",
    [VAULT_ENTRY_NOTICE] = "notice",       [VAULT_ENTRY_HOLD] = "hold",
    [VAULT_ENTRY_RELEASE] = "release",     [VAULT_ENTRY_ERASURE] = "erasure",
};

const char *vault_entry_type_name(int type)
{
	if (type <= 0 || type >= _VAULT_ENTRY_TYPE_MAX)
		return NULL;
	return type_names[type];
}

int vault_entry_type_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int t = 1; t < _VAULT_ENTRY_TYPE_MAX; t++)
		if (type_names[t] && strcmp(type_names[t], name) == 0)
			return t;
	return -EINVAL;
}

void vault_leaf_encode(const struct vault_leaf *leaf, uint8_t out[VAULT_LEAF_LEN])
{
	out[0] = leaf->version;
	vault__be64(out + 1, leaf->seq);
	out[9] = (uint8_t)(leaf->type >> 8);
	out[10] = (uint8_t)leaf->type;
	vault__be64(out + 11, leaf->timestamp_ns);
	vault__be64(out + 19, leaf->payload_len);
	memcpy(out + 27, leaf->payload_hash, 32);
	memcpy(out + 59, leaf->prev_hash, 32);
}

int vault_leaf_decode(const uint8_t *buf, size_t len, struct vault_leaf *ret)
{
	if (!buf || len != VAULT_LEAF_LEN || (buf[0] != 1 && buf[0] != 2))
		return -EBADMSG;
	ret->version = buf[0];
	ret->seq = vault__rd64(buf + 1);
	ret->type = (uint16_t)(buf[9] << 8 | buf[10]);
	ret->timestamp_ns = vault__rd64(buf + 11);
	ret->payload_len = vault__rd64(buf + 19);
	memcpy(ret->payload_hash, buf + 27, 32);
	memcpy(ret->prev_hash, buf + 59, 32);
	return 0;
}

int vault_payload_commitment(uint8_t version, const uint8_t *nonce, const void *payload, size_t len,
                             uint8_t ret[VAULT_HASH_LEN])
{
	struct vault__hasher h;
	int rc;

	if ((version != 1 && version != 2) || (version == 2 && !nonce) || (len && !payload))
		return -EINVAL;
	if (vault__hasher_init(&h, NULL) < 0)
		return -ENOMEM;
	rc = version == 1 ? vault__sha256(&h, payload, len, ret)
	                  : vault__sha256_2(&h, nonce, VAULT_NONCE_LEN, payload, len, ret);
	vault__hasher_deinit(&h);
	return rc;
}

#define PRUNE_VERSION    1
#define PRUNE_FIXED_LEN  (1 + 8 + 32 + 8 + 2)
#define PRUNE_REASON_MAX 1024

size_t vault__prune_encode(uint64_t target, const uint8_t hash[32], uint64_t len,
                           const char *reason, uint8_t *out)
{
	size_t rlen = reason ? strlen(reason) : 0;

	out[0] = PRUNE_VERSION;
	vault__be64(out + 1, target);
	memcpy(out + 9, hash, 32);
	vault__be64(out + 41, len);
	out[49] = (uint8_t)(rlen >> 8);
	out[50] = (uint8_t)rlen;
	if (rlen)
		memcpy(out + PRUNE_FIXED_LEN, reason, rlen);
	return PRUNE_FIXED_LEN + rlen;
}

int vault_prune_decode(const uint8_t *buf, size_t len, struct vault_prune_info *ret)
{
	size_t rlen;

	if (!buf || len < PRUNE_FIXED_LEN || buf[0] != PRUNE_VERSION)
		return -EBADMSG;
	rlen = (size_t)buf[49] << 8 | buf[50];
	if (rlen > PRUNE_REASON_MAX || len != PRUNE_FIXED_LEN + rlen)
		return -EBADMSG;
	if (memchr(buf + PRUNE_FIXED_LEN, '\0', rlen))
		return -EBADMSG;
	ret->target_seq = vault__rd64(buf + 1);
	memcpy(ret->payload_hash, buf + 9, 32);
	ret->payload_len = vault__rd64(buf + 41);
	memcpy(ret->reason, buf + PRUNE_FIXED_LEN, rlen);
	ret->reason[rlen] = '\0';
	return 0;
}
