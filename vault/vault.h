/* SPDX-License-Identifier: Apache-2.0 */
/* The evidence vault: an append-only, hash-chained, RFC 6962 Merkle-tree log of entries in one
 * LMDB environment, with Ed25519-signed C2SP checkpoints and content-addressed blobs.
 *
 * This header is the whole public API. The on-disk format is described in vault/FORMAT.md.
 *
 * Conventions (as LMDB, libuv, systemd):
 *  - int functions return >= 0 on success and a negative errno on failure. The errors each
 *    function can return are listed with it; in addition any function touching storage may
 *    return -EIO (LMDB reports corruption or an I/O error) and -ENOMEM.
 *  - Out-parameters are named ret_* and written only on success.
 *  - The library never logs, never exits and never aborts; it has no global state except
 *    OpenSSL's own.
 *  - Threads: one struct vault may be shared by threads. Write functions (vault_append,
 *    vault_prune, vault_checkpoint_sign, vault_blob_*, vault_maintain) must be called by one
 *    thread at a time. Readers (struct vault_reader) may be used from any thread, one thread
 *    per reader at a time, concurrently with the writer.
 *  - Never open the same vault twice in one process, and never use a vault across fork().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VAULT_HASH_LEN      32 /* SHA-256 */
/* Leaf: version(1) seq(8) type(2) timestamp_ns(8) payload_len(8) payload_commitment(32)
 * prev_leaf_hash(32), big-endian integers (FORMAT.md §3). Version 1 commits to
 * SHA-256(payload); version 2, what appends write, to SHA-256(nonce || payload) with a fresh
 * random VAULT_NONCE_LEN-byte nonce stored with the payload and removed with it, so that a
 * pruned entry's leaf no longer lets anyone confirm a guessed payload. */
#define VAULT_LEAF_VERSION  2
#define VAULT_LEAF_LEN      91
#define VAULT_NONCE_LEN     16
#define VAULT_SUBJECT_MAX   128 /* bytes of a data subject id (vault_entry_in.subject) */
#define VAULT_PROOF_MAX     64  /* hashes in any inclusion or consistency proof of a 2^64 tree */
#define VAULT_ORIGIN_MAX    255
#define VAULT_PAYLOAD_MAX   (256u << 20)
#define VAULT_DEDUP_KEY_MAX 500  /* client name + request id + 1 separator (LMDB key limit) */
#define VAULT_NOTE_MAX      8192 /* largest signed note accepted by parsers */

/* Entry types. The numbers are part of the leaf format and never change. */
enum vault_entry_type {
	VAULT_ENTRY_RECORD = 1,    /* a production decision (entry.proto RecordEntry) */
	VAULT_ENTRY_MODEL = 2,     /* a model registration (ModelEntry) */
	VAULT_ENTRY_ARTIFACT = 3,  /* a stored blob's description (ArtifactEntry) */
	VAULT_ENTRY_INCIDENT = 4,  /* a trigger fired */
	VAULT_ENTRY_AUDIT = 5,     /* results of an audit */
	VAULT_ENTRY_REVIEW = 6,    /* a human's review outcome (ReviewEntry) */
	VAULT_ENTRY_LIFECYCLE = 7, /* daemon start/stop/reload (LifecycleEntry) */
	VAULT_ENTRY_CONFIG = 8,    /* the daemon's configuration text (ConfigEntry) */
	VAULT_ENTRY_PRUNE = 9,     /* a payload was removed (FORMAT.md, vault's own encoding) */
	VAULT_ENTRY_VERDICT = 10,  /* a verdict sent to a client */
	VAULT_ENTRY_NOTICE = 11,   /* an operational fact worth keeping (skipped audits, ...) */
	VAULT_ENTRY_HOLD = 12,     /* a legal hold placed on entries (HoldEntry) */
	VAULT_ENTRY_RELEASE = 13,  /* a legal hold released (HoldEntry) */
	VAULT_ENTRY_ERASURE = 14,  /* a data subject's payloads erased (ErasureEntry) */
	_VAULT_ENTRY_TYPE_MAX,
	_VAULT_ENTRY_TYPE_INVALID = -22,
};

/* Returns the lowercase name of a type ("record", ...) or NULL for an unknown number. The
 * string is static. */
const char *vault_entry_type_name(int type);
/* Returns the type for a name, or -EINVAL. */
int vault_entry_type_from_name(const char *name);

/* ------------------------------------------------------------------ hashing (pure) */

/* SHA-256 of data[0..len). Returns 0 or -ENOMEM/-EIO (OpenSSL failure). */
int vault_sha256(const void *data, size_t len, uint8_t ret[VAULT_HASH_LEN]);
/* RFC 6962 leaf hash SHA-256(0x00 || data). */
int vault_hash_leaf(const void *data, size_t len, uint8_t ret[VAULT_HASH_LEN]);
/* RFC 6962 interior node SHA-256(0x01 || left || right). */
int vault_hash_children(const uint8_t left[VAULT_HASH_LEN], const uint8_t right[VAULT_HASH_LEN],
                        uint8_t ret[VAULT_HASH_LEN]);
/* Root of the empty tree: SHA-256(""). */
void vault_hash_empty(uint8_t ret[VAULT_HASH_LEN]);

/* Lowercase hex of a hash into out (65 bytes incl. NUL). Returns out. */
char *vault_hex(const uint8_t h[VAULT_HASH_LEN], char out[2 * VAULT_HASH_LEN + 1]);
/* Parses exactly 64 hex digits (either case). Returns 0 or -EINVAL. */
int vault_unhex(const char *s, size_t len, uint8_t ret[VAULT_HASH_LEN]);

/* ------------------------------------------------------------------ leaves (pure) */

struct vault_leaf {
	uint8_t version; /* 1 or 2 (VAULT_LEAF_VERSION) */
	uint64_t seq;
	uint16_t type;
	uint64_t timestamp_ns; /* daemon clock, ns since the Unix epoch; non-decreasing in seq */
	uint64_t payload_len;
	uint8_t
	    payload_hash[VAULT_HASH_LEN];  /* the commitment: v1 SHA-256(payload), v2 with nonce */
	uint8_t prev_hash[VAULT_HASH_LEN]; /* leaf hash of seq-1; zeros for seq 0 */
};

void vault_leaf_encode(const struct vault_leaf *leaf, uint8_t out[VAULT_LEAF_LEN]);
/* Decodes a v1 or v2 leaf. Returns 0, or -EBADMSG for a wrong length or version. */
int vault_leaf_decode(const uint8_t *buf, size_t len, struct vault_leaf *ret);
/* The payload commitment a leaf of this version holds for payload[0..len): v1
 * SHA-256(payload) (nonce ignored, may be NULL), v2 SHA-256(nonce || payload) (nonce:
 * VAULT_NONCE_LEN bytes, required). Returns 0; -EINVAL (v2 without nonce, unknown version);
 * -ENOMEM/-EIO. Pure: an auditor checks show --json's bytes with it, or with sha256sum. */
int vault_payload_commitment(uint8_t version, const uint8_t *nonce, const void *payload, size_t len,
                             uint8_t ret[VAULT_HASH_LEN]);

/* ------------------------------------------------------------------ Merkle proofs (pure) */

/* Verifies an RFC 9162 §2.1.3.2 inclusion proof of leaf_hash at index in a tree of tree_size
 * with the given root. Returns 0 when valid, -EBADMSG when not (wrong length, index out of
 * range, mismatching root), -EINVAL for NULL arguments with a nonzero count. */
int vault_merkle_verify_inclusion(uint64_t index, uint64_t tree_size,
                                  const uint8_t leaf_hash[VAULT_HASH_LEN],
                                  const uint8_t (*proof)[VAULT_HASH_LEN], size_t proof_len,
                                  const uint8_t root[VAULT_HASH_LEN]);

/* Verifies an RFC 9162 §2.1.4.2 consistency proof between (size1, root1) and (size2, root2).
 * size1 == 0 is refused (-EBADMSG): an empty tree is consistent with everything, so such a
 * "proof" proves nothing (the bug transparency-dev/merkle once had). size1 == size2 requires
 * an empty proof and equal roots. Returns 0 when valid, -EBADMSG otherwise. */
int vault_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                    const uint8_t root1[VAULT_HASH_LEN],
                                    const uint8_t root2[VAULT_HASH_LEN],
                                    const uint8_t (*proof)[VAULT_HASH_LEN], size_t proof_len);

/* ------------------------------------------------------------------ keys and notes (pure) */

/* Signature types of C2SP signed-note verifier keys (the byte before the public key). */
#define VAULT_KEY_ED25519        0x01 /* a log's checkpoint key (plain Ed25519 note signature) */
#define VAULT_KEY_COSIGNATURE_V1 0x04 /* a witness's key (C2SP tlog-cosignature/v1, Ed25519) */

/* An Ed25519 note verifier key (C2SP signed-note): name, 4-byte key id, 32-byte public key and
 * its signature type. type 0 (a zero-initialised key) means VAULT_KEY_ED25519. */
struct vault_pubkey {
	char name[VAULT_ORIGIN_MAX + 1];
	uint8_t id[4];
	uint8_t key[32];
	uint8_t type;
};

/* Parses a verifier key: either the C2SP/sumdb form "NAME+HEXID+BASE64(TYPE||key)" (one line,
 * TYPE VAULT_KEY_ED25519 or VAULT_KEY_COSIGNATURE_V1, kept in ret->type;
 * trailing whitespace allowed) or a PEM "PUBLIC KEY" block holding an Ed25519 key, in which
 * case name is set from default_name (may be NULL: name "" and any note name matches).
 * Returns 0; -EBADMSG when the text is neither form, the algorithm byte is not Ed25519 or the
 * key id does not match name and key. */
int vault_pubkey_parse(const char *text, size_t len, const char *default_name,
                       struct vault_pubkey *ret);
/* Formats the C2SP verifier key string into buf. Returns its length or -ENOBUFS. */
int vault_pubkey_format(const struct vault_pubkey *key, char *buf, size_t size);
/* Writes the PEM SubjectPublicKeyInfo of the key into buf (NUL-terminated). Returns its
 * length, -ENOBUFS or -EIO. */
int vault_pubkey_pem(const struct vault_pubkey *key, char *buf, size_t size);

struct vault_checkpoint {
	char origin[VAULT_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[VAULT_HASH_LEN];
};

/* Formats a C2SP tlog-checkpoint body ("origin\nsize\nbase64(root)\n"). Returns the length
 * or -ENOBUFS. */
int vault_checkpoint_body(const struct vault_checkpoint *cp, char *buf, size_t size);

/* Parses a signed note whose body is a tlog-checkpoint and verifies its signature by key.
 * note[0..len) is the whole note: body, blank line, signature lines. key may be NULL to parse
 * without verifying (never do that for trust decisions).
 * Returns 0 with *ret filled; -EBADMSG for a malformed note or body (bad lines, sizes,
 * base64, over VAULT_NOTE_MAX); -ENOKEY when no signature line is by key (name and id);
 * -EKEYREJECTED when a signature by key is present but does not verify. */
int vault_checkpoint_parse(const char *note, size_t len, const struct vault_pubkey *key,
                           struct vault_checkpoint *ret);

/* An inclusion proof bundle (C2SP tlog-proof@v1 plus the entry's leaf, FORMAT.md §5):
 * everything an auditor needs to check that one entry is in the signed log. */
struct vault_proof_bundle {
	uint64_t index;
	uint8_t leaf[VAULT_LEAF_LEN]; /* the entry's leaf encoding */
	uint8_t proof[VAULT_PROOF_MAX][VAULT_HASH_LEN];
	size_t proof_len;
	char *note; /* owned: the signed checkpoint note, NUL-terminated */
	size_t note_len;
};

/* Formats a bundle as text into a newly allocated NUL-terminated string (*ret, caller frees).
 * Returns the length, or -ENOMEM. */
int vault_proof_bundle_format(const struct vault_proof_bundle *b, char **ret);
/* Parses the text form. On success *ret owns a copy of the note (free with
 * vault_proof_bundle_deinit). Returns 0 or -EBADMSG (names of the failing part are not
 * returned; use vault_proof_bundle_parse_detail for a message). */
int vault_proof_bundle_parse(const char *text, size_t len, struct vault_proof_bundle *ret);
/* As vault_proof_bundle_parse, and on -EBADMSG writes a one-line reason with its line number
 * into err (NUL-terminated, truncated to err_size). err may be NULL. */
int vault_proof_bundle_parse_detail(const char *text, size_t len, struct vault_proof_bundle *ret,
                                    char *err, size_t err_size);
void vault_proof_bundle_deinit(struct vault_proof_bundle *b);

/* Checks a bundle completely: the note parses and is signed by key, the leaf decodes and its
 * index equals the bundle's, and the inclusion proof leads to the checkpoint's root.
 * On success fills *ret_cp and *ret_leaf. Returns 0, or the vault_checkpoint_parse errors,
 * or -EBADMSG (leaf or proof invalid). */
int vault_proof_bundle_verify(const struct vault_proof_bundle *b, const struct vault_pubkey *key,
                              struct vault_checkpoint *ret_cp, struct vault_leaf *ret_leaf);

/* ------------------------------------------------------------------ cosignatures (pure) */

/* Longest note signature line this library writes or stores: the em dash, a space, a name of
 * up to VAULT_ORIGIN_MAX bytes, a space, base64 of key id || timestamp || signature, '\n'. */
#define VAULT_SIGLINE_MAX    (VAULT_ORIGIN_MAX + 112)
/* Cosignature timestamps more than this many seconds ahead of the verifier's clock are
 * refused (c2sp.org/tlog-cosignature lets verifiers reject timestamps in the future). */
#define VAULT_COSIG_MAX_SKEW 600

/* Splits a signed note: *ret_body_len is the length of its text up to and including the
 * newline before the blank line; the signature lines follow the blank line. Returns 0, or
 * -EBADMSG when the note is malformed (c2sp.org/signed-note: UTF-8 without control characters
 * but '\n', ends in '\n', a blank line followed by at least one signature line, at most
 * VAULT_NOTE_MAX bytes). */
int vault_note_split(const char *note, size_t len, size_t *ret_body_len);

/* What vault_cosignatures_verify found for one witness key. */
struct vault_cosig_check {
	bool valid;         /* a cosignature line by the key verifies over the note's body */
	uint64_t timestamp; /* its timestamp (POSIX seconds), when valid */
	size_t line_off;    /* the line "\u2014 NAME BASE64\n" in the note, when valid */
	size_t line_len;
};

/* Checks the C2SP tlog-cosignature/v1 lines of a signed checkpoint note against witness keys
 * (each of type VAULT_KEY_COSIGNATURE_V1; other keys never count). A key counts once however
 * many lines it has; lines by unknown keys are ignored. With now (POSIX seconds) nonzero, a
 * cosignature timestamped more than VAULT_COSIG_MAX_SKEW seconds after now is invalid.
 * ret (n elements, may be NULL) receives what was found for each key.
 * Returns the number of keys with a valid cosignature; -EBADMSG for a malformed note or
 * checkpoint body; -EINVAL for a NULL argument with n > 0. */
int vault_cosignatures_verify(const char *note, size_t len, const struct vault_pubkey *keys,
                              size_t n, uint64_t now, struct vault_cosig_check *ret);

/* An Ed25519 private key with its verifier key, for witnesses (and any other note signer). */
struct vault_signer;

/* Loads the PEM PKCS#8 Ed25519 key at path, creating it (mode 0600, fsynced) when it is
 * missing and create is set. name and type (VAULT_KEY_ED25519 or VAULT_KEY_COSIGNATURE_V1)
 * make its verifier key. Returns 0 and *ret (free with vault_signer_free); -ENOENT (missing,
 * create not set); -EPERM (the file is group- or world-accessible); -EBADMSG (not an Ed25519
 * PEM key); -EINVAL (bad name or type); errors of open(2). */
int vault_signer_load(const char *path, bool create, const char *name, uint8_t type,
                      struct vault_signer **ret);
void vault_signer_free(struct vault_signer *s); /* takes NULL */
/* The verifier key (owned by s). */
const struct vault_pubkey *vault_signer_pubkey(const struct vault_signer *s);
/* Cosigns a checkpoint body (its text without signature lines, as vault_note_split finds it)
 * as c2sp.org/tlog-cosignature/v1 at timestamp, writing the signature line
 * "\u2014 NAME BASE64(keyid || be64 timestamp || signature)\n" into line (NUL-terminated).
 * The signer must be of type VAULT_KEY_COSIGNATURE_V1. Returns the line's length; -ENOBUFS;
 * -EINVAL (wrong key type, timestamp >= 2^63); -EIO. Any thread (s is not modified). */
int vault_signer_cosign(const struct vault_signer *s, const char *body, size_t body_len,
                        uint64_t timestamp, char *line, size_t size);

/* ------------------------------------------------------------------ opening */

struct vault;

enum vault_open_flags {
	VAULT_OPEN_READ = 0,        /* read-only: never writes data, creates nothing */
	VAULT_OPEN_WRITE = 1 << 0,  /* the one writer; takes an exclusive lock (-EBUSY if held) */
	VAULT_OPEN_CREATE = 1 << 1, /* with WRITE: create the folder and vault when missing */
	/* with WRITE: a mirror of another host's vault (vault_mirror_append; FORMAT.md §10) */
	VAULT_OPEN_MIRROR = 1 << 2,
};

/* Derives the dedup key an entry was appended with (vault_entry_in.dedup_client and
 * dedup_request) from its type and payload: the vault treats payloads as opaque, so the
 * application that wrote them supplies this. Writes NUL-terminated strings into client and
 * request (each VAULT_DEDUP_KEY_MAX bytes). Returns 1 when the entry carries a key, 0 when
 * entries of its type carry none, -EBADMSG when the payload does not decode. */
/* Derives the model of an entry ("MODEL_ID@VERSION", NUL-terminated, at most VAULT_MODEL_MAX
 * bytes) from its type and payload, for the model index (vault_model_next): the vault treats
 * payloads as opaque, so the application supplies this. Returns 1 when the entry is about a
 * model, 0 when not, a negative errno when the payload does not decode (not indexed). */
#define VAULT_MODEL_MAX 255
typedef int (*vault_model_key_fn)(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                                  char model[VAULT_MODEL_MAX + 1]);
typedef int (*vault_dedup_key_fn)(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                                  char *client, char *request);

struct vault_options {
	/* Ed25519 signing key (PEM PKCS#8). NULL: DIR/signing.key. Writers only: created with
	 * mode 0600 on first use; refused if group- or world-accessible. */
	const char *key_path;
	/* Checkpoint origin for a new vault. NULL: "evidentd.local/" + 16 random hex digits. */
	const char *origin;
	uint64_t map_size; /* initial LMDB map size in bytes; 0: 64 MiB */
	uint64_t map_max;  /* the map grows on demand up to this; 0: 1 TiB */
	/* Writers: free bytes to keep on the vault's filesystem. An append whose commit would
	 * leave less is refused with -ENOSPC before anything is written. 0: none (a disk that
	 * fills during a commit is -ENOSPC all the same). */
	uint64_t disk_reserve;
	/* Leaf version of new entries: 0 = VAULT_LEAF_VERSION (2, blinded commitments); 1 writes
	 * the original leaves (tests of vaults holding both). */
	uint8_t leaf_version;
	/* VAULT_OPEN_MIRROR: the origin's checkpoint verifier key (its name is the origin, which
	 * opts->origin must then equal). Both are required at every open of a mirror: a new one
	 * records them, an existing one must have recorded the same (-EKEYREJECTED otherwise). */
	const struct vault_pubkey *mirror_key;
	/* VAULT_OPEN_MIRROR: derives the dedup key of each mirrored entry from its payload, so
	 * that the mirror's dedup index is the origin's (evidentctl verify rebuilds and compares
	 * it); for a prune entry, of the payload it removes. NULL: the mirror keeps no dedup
	 * keys. */
	vault_dedup_key_fn mirror_dedup_key;
	void *mirror_dedup_userdata;
	/* Writers: derives the model of record and model entries for the model index, which every
	 * append (vault_append, vault_mirror_append) maintains with it, and which an open fills in
	 * for entries appended without it (a vault of format 1, or a writer that gave none), in
	 * transactions of 65,536 entries (FORMAT.md §2). NULL: appends are not indexed
	 * and readers scan until a writer with one opens the vault. Called on the writing thread.
	 */
	vault_model_key_fn model_key;
	void *model_userdata;
};

/* Opens the vault in folder dir.
 * A writer takes DIR/writer.lock exclusively, waiting up to 10 s for readers of the stopped
 * vault to end their transactions, loads or creates the signing key and checks that its
 * public half matches the one recorded in the vault.
 * A reader never writes to the vault (FORMAT.md §1): when no writer runs it reads with
 * MDB_NOLOCK, holding writer.lock shared while it has a transaction open so that no writer
 * starts under it, and lock.mdb is neither created nor written; when a writer runs (or starts
 * later) it registers its transactions in lock.mdb's reader table, as LMDB requires. Before
 * LMDB reads a page of data.mdb, a reader checks it (the meta pages and small databases at
 * open, then the pages each read reaches: vault_damage_detail), so that a damaged file is an
 * error, never a crash, and opening costs the same on any size of vault.
 * Returns 0 and *ret (free with vault_close); -ENOENT when there is no vault (or no folder)
 * and CREATE was not given; -EBUSY when another writer holds the vault; -EAGAIN when readers
 * of the stopped vault kept a writer out for 10 s; -EACCES/-EPERM for permissions (including
 * a signing key readable by others); -EBADMSG when the folder holds something that is not a
 * vault of a known format version, or a malformed key; -EUCLEAN (readers) when data.mdb is
 * damaged; -ENOLCK (readers) when a writer runs and lock.mdb is not writable by this user;
 * -EKEYREJECTED when the signing key is not the vault's key; -EINVAL for bad options. */
int vault_open(const char *dir, unsigned flags, const struct vault_options *opts,
               struct vault **ret);
/* As vault_open, and on failure writes a one-line reason naming the file into err
 * (NUL-terminated, truncated to err_size; may be NULL), e.g. "data.mdb: page 12: node 3 at
 * offset 9000 is outside the page's nodes (...)" for -EUCLEAN; "" when there is nothing to add
 * to the error number. */
int vault_open_detail(const char *dir, unsigned flags, const struct vault_options *opts,
                      struct vault **ret, char *err, size_t err_size);
/* A reader checks the LMDB structure of data.mdb as it reads it (FORMAT.md §1): only the pages
 * each read reaches, just before LMDB reaches them, so that opening and reading a few entries
 * costs the same on any size of vault. Any read function may therefore return -EUCLEAN when
 * the pages it needs are damaged; this writes the reason, "data.mdb: page N: what", into buf
 * (NUL-terminated, truncated to size). Returns its length; 0 ("") when no damage was found. */
int vault_damage_detail(struct vault *v, char *buf, size_t size);
/* Closes the vault; takes NULL. Readers still open must be ended first. */
void vault_close(struct vault *v);

struct vault_info {
	uint64_t size;                          /* entries */
	uint8_t root[VAULT_HASH_LEN];           /* Merkle root over all entries */
	uint8_t last_leaf_hash[VAULT_HASH_LEN]; /* zeros for an empty vault */
	uint64_t last_timestamp_ns;
	char origin[VAULT_ORIGIN_MAX + 1];
	struct vault_pubkey key; /* the vault's checkpoint verifier key */
	uint32_t format_version;
	uint64_t file_bytes; /* size of data.mdb */
	uint64_t map_bytes;  /* current map size */
	uint64_t blob_count;
	uint64_t blob_bytes;
	uint64_t checkpoint_size; /* tree size of the latest stored checkpoint */
	bool has_checkpoint;
	/* The root, the last entry or the latest checkpoint could not be read (a missing or
	 * malformed node, leaf or note): those fields are zero; vault_verify names the problem. */
	bool damaged;
	bool mirror; /* a mirror of the origin's vault (VAULT_OPEN_MIRROR): holds no signing key */
};

/* Describes the vault at the moment of the call. Returns 0 (see damaged), or a negative errno
 * when the vault cannot be read at all. */
int vault_info(struct vault *v, struct vault_info *ret);

/* The folder the vault was opened from (owned by v). */
const char *vault_dir(const struct vault *v);

/* ------------------------------------------------------------------ appending (writer) */

struct vault_entry_in {
	uint16_t type; /* enum vault_entry_type */
	const void *payload;
	size_t payload_len; /* <= VAULT_PAYLOAD_MAX */
	/* Optional dedup key: when both are non-NULL and (client, request) was appended before,
	 * nothing is appended and the result names the original entry. Lengths (bytes, no NUL)
	 * must sum to at most VAULT_DEDUP_KEY_MAX - 1 and client must not contain NUL. */
	const char *dedup_client;
	const char *dedup_request;
	/* May use the disk reserve (vault_options.disk_reserve): for what the writer records
	 * about entries already stored and about itself (incidents, audits, verdicts, notices,
	 * its start and stop), so that a full disk, which refuses new records first, never
	 * loses evidence about the ones it holds. A batch uses the reserve only when every
	 * entry in it may. */
	bool reserved;
	/* Optional data subject (a pseudonymous id of the person the payload is about):
	 * 1..VAULT_SUBJECT_MAX bytes without NUL. Indexed (vault_subject_next). */
	const char *subject;
};

struct vault_append_result {
	uint64_t seq;
	uint64_t timestamp_ns;
	uint8_t leaf_hash[VAULT_HASH_LEN];
	bool duplicate; /* the dedup key existed: seq etc. describe the original entry */
};

/* Appends n entries in one LMDB transaction and commits it with a full fsync before
 * returning: when this returns 0 every entry is durable. Entries get consecutive seqs in
 * array order (duplicates take none). The map grows as needed.
 * ret (n elements) is filled on success only.
 * Returns 0; -EINVAL for a bad type, length or dedup key (nothing appended); -ENOSPC when the
 * disk is full (ENOSPC, EDQUOT, EFBIG, a short write with the filesystem out of room, or the
 * commit would leave less than disk_reserve free) or the map cannot grow beyond map_max
 * (nothing appended: retry later); -EIO for a real I/O error;
 * -EROFS when the vault was opened read-only. */
int vault_append(struct vault *v, const struct vault_entry_in *in, size_t n,
                 struct vault_append_result *ret);

/* Looks up a dedup key. Returns 0 and *ret_seq, or -ENOENT. Any thread. */
int vault_dedup_lookup(struct vault *v, const char *client, const char *request, uint64_t *ret_seq);

/* Removes the payload of entry seq and appends a prune entry naming it (FORMAT.md §4), in one
 * transaction. The leaf, the chain and every proof stay valid. LMDB reuses freed pages
 * without wiping them, so this is retention, not secure erasure.
 * Returns 0; -ENOENT (no such entry), -EALREADY (already pruned), -EINVAL (seq names a prune
 * entry, or reason longer than 1024 bytes), -ENOSPC, -EROFS. */
int vault_prune(struct vault *v, uint64_t seq, const char *reason, struct vault_append_result *ret);

/* One payload to prune (vault_prune_batch). */
struct vault_prune_in {
	uint64_t seq;
	const char *reason; /* <= 1024 bytes; may be NULL */
	/* The entry's dedup key (vault_entry_in.dedup_*), removed with the payload when it names
	 * seq, so that a later retry of that request is stored anew. NULL: none. */
	const char *dedup_client;
	const char *dedup_request;
};

/* Prunes n payloads in one transaction (one fsync): each payload (and its nonce) is removed
 * and a prune entry naming it appended, in array order. An entry whose payload is already
 * gone appends nothing: its ret[i] has duplicate set and names the entry itself. Everything
 * or nothing: after a crash either every prune of the batch is there with its prune entry,
 * or none. Returns 0 (ret filled); -ENOENT (a seq beyond the vault), -EINVAL (a prune
 * entry's seq, a reason over 1024 bytes, a bad dedup key), -ENOSPC, -EROFS; nothing is
 * changed on error. Prunes use the disk reserve (they free more than they add). */
int vault_prune_batch(struct vault *v, const struct vault_prune_in *in, size_t n,
                      struct vault_append_result *ret);

/* Rewrites DIR/data.mdb keeping only live pages (LMDB's compacting copy), so that bytes of
 * pruned payloads that LMDB freed but left in the file are gone from it. Entries, leaves,
 * checkpoints, cosignatures and every proof are unchanged. Offline: takes DIR/writer.lock
 * (-EBUSY while a writer runs) and needs room for a second copy beside the first (written
 * to DIR/data.mdb.compact, fsynced, renamed over data.mdb, the folder fsynced; a crash
 * leaves either file whole). *ret_before and *ret_after (may be NULL) get the file sizes.
 * Returns 0; -ENOENT (no vault); -EBUSY; -ENOSPC; -EIO. */
int vault_compact(const char *dir, uint64_t *ret_before, uint64_t *ret_after);

/* Signs a checkpoint of the current tree head, stores it in the vault and atomically
 * replaces DIR/checkpoint with it (so it can be copied off the host). Refuses to sign when
 * the current tree is not an extension of the last signed checkpoint.
 * On success *ret_note (optional) receives a malloc'd NUL-terminated copy of the note.
 * Returns 0; -EUCLEAN when the vault is inconsistent with its last checkpoint; -EROFS;
 * -ENOSPC; errors of writing the checkpoint file. When the tree did not grow since the last
 * checkpoint, that checkpoint is returned and nothing is written. */
int vault_checkpoint_sign(struct vault *v, char **ret_note);

/* Stores a witness's cosignature of the stored checkpoint of tree size `size`, beside that
 * checkpoint (never as a log entry: FORMAT.md §5). line is the note signature line the witness
 * returned; it is checked against the checkpoint with key (type VAULT_KEY_COSIGNATURE_V1)
 * before it is kept. A newer cosignature by the same key replaces the older one. Committed with
 * an fsync. May be called from any thread, beside the writer (LMDB serialises the two write
 * transactions).
 * Returns 0; -ENOENT (no checkpoint of that size); -EKEYREJECTED (the line is not a valid
 * cosignature by key of that checkpoint); -EINVAL (bad key type, line over
 * VAULT_SIGLINE_MAX); -ENOSPC; -EROFS. */
int vault_cosignature_add(struct vault *v, uint64_t size, const struct vault_pubkey *key,
                          const char *line, size_t len);

/* Records the witness quorum the writer works to (evidentd's witness_quorum): a checkpoint with
 * that many stored cosignatures is witnessed (vault_checkpoint_witnessed). 0: no witnesses.
 * Returns 0; -ENOSPC; -EROFS. Writer thread. */
int vault_witness_quorum_set(struct vault *v, unsigned quorum);

/* Records how many entries (seq 0..count-1) a forwarder has handed on and had acknowledged
 * (evidentd's [forward]: JetStream acknowledged them), so that after a restart it resumes at
 * seq `count`. Side data (meta `forwarded`), never a log entry; its own synced transaction.
 * May be called from any thread, beside the writer. Returns 0; -ENOSPC; -EROFS. */
int vault_forwarded_set(struct vault *v, uint64_t count);

/* The writer's tree size: entries appended so far (call from the writing thread). For a
 * reader's view use vault_reader_size. */
uint64_t vault_size(const struct vault *v);

/* ------------------------------------------------------------------ mirrors (writer) */

/* A mirror (VAULT_OPEN_WRITE | VAULT_OPEN_MIRROR, FORMAT.md §10) holds another host's entries
 * with the same leaves, leaf hashes, tree, payloads, indexes and checkpoints as the origin's
 * vault, so every reader works on it unchanged; it records the origin's name and verifier key
 * and has no signing key (none is read or created). vault_append, vault_prune,
 * vault_prune_batch and vault_checkpoint_sign refuse a mirror with -EPERM; blobs
 * (vault_blob_*), cosignatures (vault_cosignature_add) and vault_witness_quorum_set work as
 * on any vault. Opening a vault that is not a mirror with VAULT_OPEN_MIRROR, or a mirror
 * without it, is -EPERM; a mirror of another origin or key is -EKEYREJECTED. */

/* One origin entry to mirror. */
struct vault_mirror_in {
	const uint8_t *leaf;  /* the origin's VAULT_LEAF_LEN-byte leaf encoding */
	const uint8_t *nonce; /* v2 leaves with a payload: VAULT_NONCE_LEN bytes; else NULL */
	const void *payload;  /* NULL: pruned at the origin before it was sent */
	size_t payload_len;
	const char *subject; /* the entry's data subject (1..VAULT_SUBJECT_MAX bytes), or NULL */
};

struct vault_mirror_result {
	/* Set on every return but -EINVAL: on error the index in `in` of the first entry
	 * refused, on success n. */
	size_t index;
	uint64_t size; /* the mirror's size after the call */
};

/* Appends origin entries in one LMDB transaction with a full fsync, all or nothing. Each
 * leaf must decode and continue the mirror: seq == the mirror's size, prev_hash == its last
 * leaf hash, timestamp not below the last one, type not 0; a payload given must have the
 * leaf's length and commitment (v1 SHA-256(payload), v2 with the nonce; a nonce exactly for
 * v2 leaves with a payload); a prune entry (type 9) must carry its payload, which must decode
 * and name an earlier entry with that entry's commitment and length. A prune entry removes
 * the payload it names from the mirror (with its dedup key, as the origin did), so an erasure
 * at the origin reaches the mirror. A payload NULL leaves the entry without payload, as the
 * origin now holds it: the origin's prune entry naming it comes later in the log (verify on
 * a mirror that has not received it yet reports the payload missing). Indexes (type, subject,
 * dedup through opts->mirror_dedup_key, model through opts->model_key) are maintained as
 * vault_append maintains them.
 * Returns 0; -ESTALE when a leaf's seq is below the mirror's size (already mirrored: compare
 * with vault_mirror_leaf to tell a duplicate from a fork); -EAGAIN when above it (a gap);
 * -EBADMSG when a leaf does not decode or chain, its time goes back, or a payload, nonce or
 * prune does not match; -EINVAL (NULL leaf, payload over VAULT_PAYLOAD_MAX, bad subject);
 * -EPERM (not a mirror); -ENOSPC; -EROFS. ret (may be NULL) says which entry failed. */
int vault_mirror_append(struct vault *v, const struct vault_mirror_in *in, size_t n,
                        struct vault_mirror_result *ret);

/* The stored leaf encoding and leaf hash of entry seq (either out-param may be NULL), read in
 * a transaction of its own: for a caller that got -ESTALE. Returns 0; -ENOENT (seq >= size);
 * -EBADMSG (the stored leaf is malformed). Any vault. */
int vault_mirror_leaf(struct vault *v, uint64_t seq, uint8_t ret_leaf[VAULT_LEAF_LEN],
                      uint8_t ret_hash[VAULT_HASH_LEN]);

/* Stores a checkpoint signed by the origin: the note must parse as a checkpoint of the
 * mirror's origin signed by its recorded key, cover at most the mirror's entries, and have
 * the root the mirror has at its size. It is stored as the origin stores its checkpoints
 * (the body and the origin's signature line; other signature lines in note are not kept) and
 * DIR/checkpoint is replaced by it, so checkpoint, prove and verify work on the mirror.
 * Returns 0; -ESTALE when a checkpoint of this size or a larger one is stored already;
 * -EBADMSG (not a checkpoint of this origin, signature missing or bad); -ERANGE (its size is
 * above the mirror's: keep it until the entries arrive); -EXDEV (the mirror's root at its
 * size differs: the origin forked, keep both as evidence); -EPERM (not a mirror); -ENOSPC;
 * -EROFS; errors of writing DIR/checkpoint. */
int vault_mirror_checkpoint(struct vault *v, const char *note, size_t len);

/* Housekeeping for long-running writers: clears stale reader slots (mdb_reader_check).
 * Returns the number of slots cleared. */
int vault_maintain(struct vault *v);

/* ------------------------------------------------------------------ blobs (writer) */

struct vault_blob_writer;

/* Starts a blob of any size, streamed in with vault_blob_write(). Data is staged in the vault
 * in chunks so memory stays bounded; a crash leaves only staged chunks, removed on the next
 * writer open. Returns 0 and *ret; -EROFS. */
int vault_blob_begin(struct vault *v, struct vault_blob_writer **ret);
/* Appends data. Returns 0; -ENOSPC; -EROFS. On error the writer stays usable for abort. */
int vault_blob_write(struct vault_blob_writer *w, const void *data, size_t len);
/* Completes the blob: checks its SHA-256 against expect (may be NULL) and its size against
 * expect_size (UINT64_MAX: any), then makes it durable under its hash. When the same content
 * is already stored the staged copy is dropped. Always frees w.
 * Returns 0 and the hash in ret_hash (may be NULL); 1 when the blob already existed;
 * -EBADMSG when the hash or size does not match (nothing kept); -ENOSPC. */
int vault_blob_finish(struct vault_blob_writer *w, const uint8_t *expect, uint64_t expect_size,
                      uint8_t *ret_hash);
/* Drops a blob in progress; takes NULL. */
void vault_blob_abort(struct vault_blob_writer *w);
/* Bytes written so far. */
uint64_t vault_blob_written(const struct vault_blob_writer *w);

/* ------------------------------------------------------------------ reading */

/* A consistent snapshot (an LMDB read transaction). Keep it short: a long-lived reader pins
 * pages and makes the file grow. */
struct vault_reader;

/* Returns 0 and *ret (end with vault_reader_end). */
int vault_reader_begin(struct vault *v, struct vault_reader **ret);
/* Ends the snapshot; every pointer obtained through it becomes invalid. Takes NULL. */
void vault_reader_end(struct vault_reader *r);
/* Starts a newer snapshot on the same reader (pointers from the old one become invalid).
 * Returns 0. */
int vault_reader_renew(struct vault_reader *r);
/* Entries in the snapshot. */
uint64_t vault_reader_size(const struct vault_reader *r);
/* The vault the reader reads (to begin another reader on it, for another thread). */
struct vault *vault_reader_vault(const struct vault_reader *r);

struct vault_entry {
	struct vault_leaf leaf;
	uint8_t leaf_hash[VAULT_HASH_LEN];
	/* The payload, borrowed from the snapshot (valid until the reader ends or renews);
	 * NULL when the payload was pruned (and payload_len 0). */
	const uint8_t *payload;
	size_t payload_len;
	/* A v2 leaf's nonce (VAULT_NONCE_LEN bytes, borrowed likewise) while the payload is
	 * present; NULL for v1 leaves and pruned payloads. */
	const uint8_t *payload_nonce;
};

/* Reads entry seq. Returns 0; -ENOENT when seq >= size; -EBADMSG when the stored leaf does
 * not decode. The payload is not checked against the leaf (vault_verify does that). */
int vault_get(struct vault_reader *r, uint64_t seq, struct vault_entry *ret);

/* Iterates entries from start upward in seq order: vault_iter_init (0 or an LMDB error),
 * then vault_iter_next until it returns 0 (end of the snapshot); 1 means *ret is filled,
 * valid until the reader ends; -EBADMSG when a leaf is missing or malformed. Always
 * vault_iter_deinit. */
struct vault_iter {
	struct vault_reader *r;
	uint64_t next;                /* seq the next call returns */
	void *cur_leaf, *cur_payload; /* LMDB cursors, owned */
	bool leaf_positioned, payload_positioned;
};
int vault_iter_init(struct vault_reader *r, uint64_t start, struct vault_iter *it);
int vault_iter_next(struct vault_iter *it, struct vault_entry *ret);
void vault_iter_deinit(struct vault_iter *it);

/* Finds the first entry of a type with seq >= from. Every type but record is indexed (O(log n));
 * records are found by scanning leaves. Returns 0 and *ret_seq; -ENOENT when there is none in
 * the snapshot; -EINVAL for an unknown type. */
int vault_next_of_type(struct vault_reader *r, int type, uint64_t from, uint64_t *ret_seq);
/* Finds the last entry of a type with seq < before (the snapshot's size when larger), from the
 * type index as vault_next_of_type (records: by scanning leaves back). Returns 0 and *ret_seq;
 * -ENOENT when there is none; -EINVAL for an unknown type. */
int vault_prev_of_type(struct vault_reader *r, int type, uint64_t before, uint64_t *ret_seq);
/* Counts the entries of a type in the snapshot, from the index (records: the rest).
 * Returns 0 and *ret_count; -EINVAL. */
int vault_count_type(struct vault_reader *r, int type, uint64_t *ret_count);

/* Finds the first record or model entry of a model with seq >= from: model is "ID@VERSION"
 * (that version) or "ID" (any version). Uses the model index (vault_options.model_key), so its
 * cost does not grow with the vault. The index names candidates: an application that needs
 * certainty checks the payload. Returns 0 and *ret_seq; -ENOENT when there is none;
 * -ENOTSUP when the vault's index is not complete (a vault of format 1, or one a writer without
 * model_key appended to: scan instead); -EINVAL for an empty or too long model. */
int vault_model_next(struct vault_reader *r, const char *model, uint64_t from, uint64_t *ret_seq);

/* Finds the first entry of a data subject (vault_entry_in.subject) with seq >= from.
 * Returns 0 and *ret_seq; -ENOENT when there is none; -EINVAL for a bad subject. */
int vault_subject_next(struct vault_reader *r, const char *subject, uint64_t from,
                       uint64_t *ret_seq);

/* Finds the first entry with timestamp >= ts (entries are time-ordered). Returns 0 and
 * *ret_seq (== size when none). */
int vault_seek_time(struct vault_reader *r, uint64_t ts, uint64_t *ret_seq);

/* Merkle tree head of the first tree_size entries (tree_size <= size). Returns 0; -ERANGE. */
int vault_root(struct vault_reader *r, uint64_t tree_size, uint8_t ret_root[VAULT_HASH_LEN]);
/* Inclusion proof of entry index in the tree of the first tree_size entries. Returns the
 * proof length (0..VAULT_PROOF_MAX); -ERANGE when index >= tree_size or tree_size > size. */
int vault_prove_inclusion(struct vault_reader *r, uint64_t index, uint64_t tree_size,
                          uint8_t (*ret_proof)[VAULT_HASH_LEN]);
/* Consistency proof between trees of size1 and size2 (0 < size1 <= size2 <= size). Returns
 * the proof length; -ERANGE. */
int vault_prove_consistency(struct vault_reader *r, uint64_t size1, uint64_t size2,
                            uint8_t (*ret_proof)[VAULT_HASH_LEN]);

/* The latest stored signed checkpoint (malloc'd NUL-terminated note, caller frees) and its
 * parsed body. The note carries the log's signature followed by every stored cosignature of
 * it (a C2SP signed note with several signatures). The signature is not checked here
 * (vault_checkpoint_parse with a key does).
 * Returns 0; -ENOENT when none was signed yet. Either out-param may be NULL. */
int vault_checkpoint_latest(struct vault_reader *r, char **ret_note,
                            struct vault_checkpoint *ret_cp);
/* The stored checkpoint with the largest size <= max_size. Returns 0 or -ENOENT. */
int vault_checkpoint_at_most(struct vault_reader *r, uint64_t max_size, char **ret_note,
                             struct vault_checkpoint *ret_cp);
/* The stored checkpoint of exactly tree size `size`, with its cosignatures. Returns 0 or
 * -ENOENT. */
int vault_checkpoint_get(struct vault_reader *r, uint64_t size, char **ret_note,
                         struct vault_checkpoint *ret_cp);
/* Number of cosignatures stored for the checkpoint of tree size `size` (0 when none). */
int vault_cosignature_count(struct vault_reader *r, uint64_t size, unsigned *ret_count);
/* The witness quorum recorded by the writer (vault_witness_quorum_set; 0 when never set). */
int vault_witness_quorum(struct vault_reader *r, unsigned *ret_quorum);
/* The forwarder's position recorded by vault_forwarded_set. Returns 1; 0 with *ret_count 0
 * when none was ever recorded (no forwarder ran); -EBADMSG when the stored value is not a
 * number. */
int vault_forwarded(struct vault_reader *r, uint64_t *ret_count);
/* The newest checkpoint of size > covers (so that it covers entry `covers`) holding at least
 * quorum stored cosignatures (quorum 0: the newest signed one). Returns 0 with the note
 * (cosignatures included, caller frees) and body; -ENOENT when none. Either out-param may be
 * NULL. */
int vault_checkpoint_witnessed(struct vault_reader *r, uint64_t covers, unsigned quorum,
                               char **ret_note, struct vault_checkpoint *ret_cp);

/* Blob access. Returns 0 and *ret_size; -ENOENT. */
int vault_blob_stat(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t *ret_size);
/* Copies up to len bytes from offset into buf. Returns the number of bytes copied (0 at or
 * past the end); -ENOENT; -EIO when chunks are missing. */
ssize_t vault_blob_read(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t offset,
                        void *buf, size_t len);
/* The whole blob (at most max bytes) in a malloc'd buffer (*ret, caller frees), its SHA-256
 * checked against hash. Returns 0; -ENOENT; -EFBIG (larger than max); -EBADMSG (the bytes do
 * not hash to hash: the vault is damaged); -EIO (chunks missing); -ENOMEM. */
int vault_blob_load(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t max,
                    void **ret, size_t *ret_len);

/* ------------------------------------------------------------------ verification */

enum vault_problem {
	VAULT_OK = 0,
	VAULT_PROBLEM_LEAF_MALFORMED,  /* a stored leaf does not decode */
	VAULT_PROBLEM_SEQ_GAP,         /* an entry is missing (deleted) */
	VAULT_PROBLEM_SEQ_MISMATCH,    /* a leaf's seq is not its position (moved/swapped) */
	VAULT_PROBLEM_CHAIN,           /* prev_hash does not name the previous leaf */
	VAULT_PROBLEM_TIME_ORDER,      /* timestamps decrease */
	VAULT_PROBLEM_PAYLOAD_HASH,    /* payload does not match the leaf's hash/length */
	VAULT_PROBLEM_PAYLOAD_MISSING, /* payload absent without a prune entry */
	VAULT_PROBLEM_PRUNE_MALFORMED, /* a prune entry does not decode or names a bad target */
	VAULT_PROBLEM_LEAF_HASH,       /* stored leaf hash does not match the leaf */
	VAULT_PROBLEM_NODE,            /* a stored Merkle node does not match the recomputation */
	VAULT_PROBLEM_CHECKPOINT_SIG,  /* a stored checkpoint's signature does not verify */
	VAULT_PROBLEM_CHECKPOINT_ROOT, /* the entries do not produce a checkpoint's root */
	VAULT_PROBLEM_TRUNCATED,       /* fewer entries than a checkpoint covers */
	VAULT_PROBLEM_EXTRA,           /* data stored beyond the last entry */
	VAULT_PROBLEM_BLOB,            /* a blob's content does not match its hash */
	VAULT_PROBLEM_DEDUP,           /* the dedup index disagrees with the entries' keys */
	VAULT_PROBLEM_INDEX,           /* the type index disagrees with the leaves */
	VAULT_PROBLEM_UNSIGNED,        /* entries, but no checkpoint signed by the key */
	VAULT_PROBLEM_MODEL_INDEX,     /* the model index disagrees with the entries' models */
	_VAULT_PROBLEM_MAX,
};

/* A short lowercase description of a problem ("chain broken", ...). Static. */
const char *vault_problem_name(enum vault_problem p);

typedef void (*vault_progress_fn)(void *userdata, uint64_t done, uint64_t total);

struct vault_verify_options {
	/* Additional checkpoints held elsewhere (signed notes), checked for signature, size and
	 * root against the vault. */
	const char *const *checkpoints;
	const size_t *checkpoint_lens;
	size_t n_checkpoints;
	/* Verifier key for checkpoints; NULL: the vault's own recorded key. */
	const struct vault_pubkey *key;
	bool skip_blobs;            /* do not rehash blob contents */
	unsigned threads;           /* 0: one per online CPU (at most 4) */
	vault_progress_fn progress; /* called from the calling thread; may be NULL */
	void *progress_userdata;
	/* With dedup_key, the dedup index is rebuilt from the entries and compared: every
	 * entry's key names it, and no other key exists (a pruned entry's key cannot be
	 * re-derived: it must name an entry of a keyed type, at most once). Called from several
	 * threads at once; NULL: the index is only checked to name existing entries. */
	vault_dedup_key_fn dedup_key;
	void *dedup_userdata;
	/* With model_key (the writers' vault_options.model_key) and a complete model index
	 * (FORMAT.md §2), the model index is rebuilt from the entries and compared: every entry
	 * with a model is indexed under it, and no other key names an entry with a payload (a
	 * pruned entry's model cannot be re-derived; its key stays, as the index outlives
	 * pruning). Called from several threads at once; NULL: not checked. */
	vault_model_key_fn model_key;
	void *model_userdata;
};

struct vault_verify_report {
	enum vault_problem problem; /* VAULT_OK when everything checked out */
	/* First bad seq when problem != OK. For problems not tied to one entry (a checkpoint's
	 * signature, truncation, blobs, dedup, index, data beyond the end) it is the vault's
	 * size, i.e. where the damage shows. */
	uint64_t bad_seq;
	char detail[256];       /* one line naming what differs */
	uint64_t entries;       /* entries checked */
	uint64_t payload_bytes; /* payload bytes hashed */
	uint64_t pruned;        /* entries whose payload was pruned */
	uint64_t checkpoints;   /* checkpoints checked (stored + given) */
	uint64_t blobs;         /* blobs rehashed */
	uint64_t cosignatures;  /* stored witness cosignatures checked against their checkpoint */
	uint64_t dedup_keys;    /* dedup keys checked against their entries (with dedup_key) */
	uint64_t model_keys;    /* model index keys checked against their entries (model_key) */
	uint8_t root[VAULT_HASH_LEN];
	/* The signed head: the largest tree size a checkpoint (stored or given) signed by the key
	 * covers, and what lies beyond it. An unsigned tail can be rewritten by anyone with
	 * write access to the files without it showing, so monitors bound it. */
	uint64_t signed_size;
	uint64_t unsigned_entries;  /* entries - signed_size */
	uint64_t unsigned_since_ns; /* timestamp of the first unsigned entry; 0 when none */
};

/* Recomputes everything from the stored bytes: every payload hash, leaf hash, chain link,
 * timestamp order, Merkle node and root; every stored checkpoint's signature and root, and
 * every stored cosignature against its checkpoint and the witness key stored with it; the
 * given external checkpoints (which also detect truncation/rollback); prune entries; blobs;
 * the type and dedup indexes. A vault holding entries of which no checkpoint signed by the
 * key (opts->key, else the vault's own) covers any is VAULT_PROBLEM_UNSIGNED: without a
 * signature the whole log could have been rewritten consistently.
 * Stops at the first problem with the lowest seq. Returns 0 with *ret filled (check
 * ret->problem); a negative errno only when the check itself could not run. */
int vault_verify(struct vault *v, const struct vault_verify_options *opts,
                 struct vault_verify_report *ret);

/* ------------------------------------------------------------------ prune payloads (pure) */

struct vault_prune_info {
	uint64_t target_seq;
	uint8_t payload_hash[VAULT_HASH_LEN];
	uint64_t payload_len;
	char reason[1025];
};
/* Decodes a prune entry's payload. Returns 0 or -EBADMSG. */
int vault_prune_decode(const uint8_t *buf, size_t len, struct vault_prune_info *ret);

/* ------------------------------------------------------------------ tiles (C2SP tlog-tiles) */

/* The log as static files a web server can serve: c2sp.org/tlog-tiles with tiles of height 8
 * (FORMAT.md §9). Paths are relative to the export folder. */
#define VAULT_TILE_HEIGHT   8
#define VAULT_TILE_WIDTH    256  /* hashes in a full tile, entries in a full bundle */
#define VAULT_TILE_ENTRIES  (-1) /* the level argument that names entry bundles */
#define VAULT_TILE_PATH_MAX 64   /* longest path vault_tile_path writes, NUL included */

/* Writes the path of a tile into buf: "tile/<L>/<N>" for a hash tile of level L (0..63),
 * "tile/entries/<N>" for level VAULT_TILE_ENTRIES; N in 3-digit groups, all but the last
 * prefixed with 'x' (1234067: "x001/x234/067"); a partial tile (width 1..255) ends in
 * ".p/<width>", a full one (width VAULT_TILE_WIDTH) has no suffix. Returns the length;
 * -EINVAL for a level or width out of range; -ENOBUFS when buf is too small. Pure. */
int vault_tile_path(int level, uint64_t index, unsigned width, char *buf, size_t size);

enum vault_tiles_flags {
	/* Read back every full tile and bundle the checkpoint needs and rewrite those missing or
	 * different, instead of trusting those the folder's previous checkpoint covers (repairs
	 * a folder whose files were deleted or damaged; costs a read of the whole log). */
	VAULT_TILES_RECHECK = 1 << 0,
};

struct vault_tiles_stats {
	uint64_t size;      /* tree size exported: the checkpoint's */
	uint64_t prev_size; /* tree size of the folder's checkpoint before the export; 0: none */
	/* Tiles, bundles and the checkpoint written by this call (files_written) or already in
	 * the folder with the right bytes (files_unchanged). Together they are every file the
	 * checkpoint needs; full tiles and bundles the previous checkpoint covers count as
	 * unchanged without being read (unless VAULT_TILES_RECHECK). */
	uint64_t files_written;
	uint64_t files_unchanged;
	uint64_t entries_written; /* entries written into bundles, full and partial */
	uint64_t bytes_written;
	/* Partial tiles and bundles deleted because their full tile now exists (tlog-tiles allows
	 * it); those of the right edge's tile stay while it is partial. */
	uint64_t partials_removed;
};

/* Exports the log up to a signed checkpoint as C2SP tlog-tiles into folder dir (created when
 * missing; its parent must exist): hash tiles tile/<L>/<N>[.p/<W>] (level 0: the entries' leaf
 * hashes; level L: hashes of the complete 256^L-entry subtrees), entry bundles
 * tile/entries/<N>[.p/<W>] (each entry the 91-byte leaf encoding prefixed by its big-endian
 * uint16 length, so that SHA-256(0x00 || entry) is its level-0 hash) and, last, dir/checkpoint
 * holding note[0..note_len) verbatim.
 * note is a signed tlog-checkpoint (the signature is not checked here: pass one the vault's key
 * vouches for), possibly with cosignature lines; its size must be <= vault_reader_size(r) and
 * vault_root(r, size) must equal its root.
 * Crash safety: every file is written to a temporary name beside it, fsynced and renamed, and
 * the folders are fsynced before the checkpoint is replaced the same way, so a reader (or a
 * crash) never sees a checkpoint whose tiles are missing or a half-written tile.
 * Incremental: the full tiles and bundles dir's existing checkpoint covers are trusted and not
 * looked at (see VAULT_TILES_RECHECK); newer ones already present are read and kept when their
 * bytes are right; a checkpoint equal to the existing one is not rewritten. Partial tiles are
 * written for the checkpoint's right edge; those of earlier checkpoints are kept until their
 * tile is full, then deleted (after the new checkpoint is in place).
 * Checks: every leaf exported is hashed again and compared with its stored hash and seq, every
 * new full tile is hashed and compared with the stored node above it, and the root recomputed
 * from the right edge's partial tiles must be the checkpoint's before the checkpoint is
 * written: a vault whose caches are damaged is never published.
 * The folder's existing checkpoint must be of the same origin, and the vault must produce its
 * root: an export never overwrites another log, a fork, or a newer checkpoint.
 * One export per folder at a time: dir is locked (flock) for the call. r's snapshot is held for
 * the whole call. Safe from any thread with its own reader, beside the vault's writer.
 * flags: enum vault_tiles_flags. *ret (may be NULL) receives what was done.
 * Returns 0; -EBADMSG when note is not a checkpoint, dir/checkpoint is not one, or a leaf or
 * stored node of the vault is missing or malformed; -ERANGE when the checkpoint's size exceeds
 * the snapshot; -EUCLEAN when the vault does not produce the checkpoint's root or contradicts
 * itself (a leaf not at its seq, a stored hash that is not its leaf's or subtree's), or when
 * dir's checkpoint is of this origin but the vault does not produce its root (a fork);
 * -EEXIST when dir's checkpoint has another origin (another log); -EALREADY when dir's
 * checkpoint is of this origin and larger than note's (an export never goes back; nothing
 * written); -EBUSY when another export holds dir; -EINVAL for bad flags or when dir is the
 * vault's own folder; errors of mkdir(2), open(2), write(2), fsync(2) and rename(2) (-EACCES,
 * -ENOSPC, -EISDIR, ...): files written before the error stay (they are correct tiles) but the
 * checkpoint is unchanged. */
int vault_tiles_export(struct vault_reader *r, const char *note, size_t note_len, const char *dir,
                       unsigned flags, struct vault_tiles_stats *ret);
