/* SPDX-License-Identifier: Apache-2.0 */
/* Model manifests for evident_register(): JSON (jansson) to ModelManifest, driven by
 * protobuf-c's field descriptors so that a field added to evident.proto is accepted without
 * code here, plus the artifact's size and SHA-256 (OpenSSL EVP) and the RegisterModel frame. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evident.h"
#include "evident.pb-c.h"
#include "frame.h"
#include "internal.h"

/* Read size for hashing: the same as the upload's chunk size, large enough for full speed. */
#define HASH_READ_SIZE (256u << 10)
/* Nesting the manifest schema never needs more of (Manifest > Feature > ...). */
#define JSON_DEPTH_MAX 8

/* Everything one conversion allocates, freed at once: protobuf-c messages built by hand have
 * no free function of their own. */
struct arena {
	struct arena_block *head;
};

struct arena_block {
	struct arena_block *next;
	max_align_t data[];
};

struct conv {
	struct arena arena;
	char *err;
	size_t err_len;
	char path[256]; /* JSON path of the value being converted, for messages */
};

static void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = calloc(1, sizeof(*b) + (size ? size : 1));

	if (!b)
		return NULL;
	b->next = a->head;
	a->head = b;
	return b->data;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

static char *arena_strdup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (p)
		memcpy(p, s, len);
	return p;
}

__attribute__((format(printf, 3, 4))) static int fail(struct conv *cv, int err, const char *fmt,
                                                      ...)
{
	va_list ap;
	int n = 0;

	if (!cv->err || cv->err_len == 0)
		return err;
	if (cv->path[0])
		n = snprintf(cv->err, cv->err_len, "%s: ", cv->path);
	if (n >= 0 && (size_t)n < cv->err_len) {
		va_start(ap, fmt);
		vsnprintf(cv->err + n, cv->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* "artifact_sha256" matches "artifact_sha256" and "artifactSha256" (protobuf's JSON name). */
static bool name_matches(const char *field, const char *key)
{
	if (strcmp(field, key) == 0)
		return true;
	for (; *field; field++, key++) {
		if (*field == '_' && field[1]) {
			field++;
			if (*key != (*field >= 'a' && *field <= 'z' ? *field - 'a' + 'A' : *field))
				return false;
		} else if (*key != *field) {
			return false;
		}
	}
	return *key == '\0';
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	default:
		return 4;
	}
}

/* JSON integer or decimal string (protobuf's JSON form of 64-bit values). */
static int json_to_i64(const json_t *v, bool is_unsigned, int64_t lo, uint64_t hi,
                       uint64_t *ret_bits)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (is_unsigned ? (x < 0 || (uint64_t)x > hi) : (x < lo || x > (int64_t)hi))
			return -ERANGE;
		*ret_bits = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		if (is_unsigned) {
			if (*s == '-')
				return -ERANGE;
			unsigned long long x = strtoull(s, &end, 10);
			if (errno || end == s || *end || x > hi)
				return -ERANGE;
			*ret_bits = x;
		} else {
			long long x = strtoll(s, &end, 10);
			if (errno || end == s || *end || x < lo || x > (int64_t)hi)
				return -ERANGE;
			*ret_bits = (uint64_t)x;
		}
		return 0;
	}
	return -EINVAL;
}

static int json_to_double(const json_t *v, double *ret)
{
	if (json_is_number(v)) {
		*ret = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "NaN") == 0)
			*ret = NAN;
		else if (strcmp(s, "Infinity") == 0)
			*ret = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			*ret = -INFINITY;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static int convert_message(struct conv *cv, const ProtobufCMessageDescriptor *d, const json_t *obj,
                           ProtobufCMessage **ret, int depth);

/* Stores one JSON value of field f at dst (an element of a repeated field, or the field). */
static int convert_value(struct conv *cv, const ProtobufCFieldDescriptor *f, const json_t *v,
                         void *dst, int depth)
{
	uint64_t bits = 0;
	double d;
	int r;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		r = json_to_i64(v, false, INT32_MIN, INT32_MAX, &bits);
		if (r < 0)
			return fail(cv, -EINVAL, "expected a 32-bit integer");
		*(int32_t *)dst = (int32_t)(int64_t)bits;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		r = json_to_i64(v, true, 0, UINT32_MAX, &bits);
		if (r < 0)
			return fail(cv, -EINVAL, "expected an unsigned 32-bit integer");
		*(uint32_t *)dst = (uint32_t)bits;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		r = json_to_i64(v, false, INT64_MIN, INT64_MAX, &bits);
		if (r < 0)
			return fail(cv, -EINVAL, "expected a 64-bit integer");
		*(int64_t *)dst = (int64_t)bits;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		r = json_to_i64(v, true, 0, UINT64_MAX, &bits);
		if (r < 0)
			return fail(cv, -EINVAL, "expected an unsigned 64-bit integer");
		*(uint64_t *)dst = bits;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_FLOAT:
		if (json_to_double(v, &d) < 0)
			return fail(cv, -EINVAL, "expected a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)dst = (float)d;
		else
			*(double *)dst = d;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(cv, -EINVAL, "expected true or false");
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = NULL;
		if (json_is_string(v)) {
			const char *name = json_string_value(v);
			ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
			/* "threshold" as well as "THRESHOLD", as the Python client takes them */
			for (unsigned i = 0; !ev && i < ed->n_values; i++)
				if (strcasecmp(ed->values[i].name, name) == 0)
					ev = &ed->values[i];
			if (!ev)
				return fail(cv, -EINVAL, "unknown value \"%s\" (enum %s)",
				            json_string_value(v), ed->short_name);
		} else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
		           json_integer_value(v) <= INT32_MAX) {
			ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
			if (!ev)
				return fail(cv, -EINVAL, "unknown value %" JSON_INTEGER_FORMAT,
				            json_integer_value(v));
		} else {
			return fail(cv, -EINVAL, "expected an enum name (%s)", ed->short_name);
		}
		*(int *)dst = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s;
		if (!json_is_string(v))
			return fail(cv, -EINVAL, "expected a string");
		s = arena_strdup(&cv->arena, json_string_value(v), json_string_length(v));
		if (!s)
			return -ENOMEM;
		if (strlen(s) != json_string_length(v))
			return fail(cv, -EINVAL, "string contains a NUL character");
		*(char **)dst = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (!json_is_object(v))
			return fail(cv, -EINVAL, "expected an object");
		return convert_message(cv, f->descriptor, v, (ProtobufCMessage **)dst, depth + 1);
	default:
		/* bytes (base64 in protobuf's JSON) has no use in a manifest */
		return fail(cv, -EINVAL, "field type not supported in JSON manifests");
	}
}

/* A map<K, V> field is a repeated message with fields key = 1 and value = 2. */
static bool is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	return f->type == PROTOBUF_C_TYPE_MESSAGE && f->label == PROTOBUF_C_LABEL_REPEATED &&
	       d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

static int convert_map(struct conv *cv, const ProtobufCFieldDescriptor *f, const json_t *obj,
                       uint8_t *base, int depth)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t n = json_object_size(obj), i = 0;
	ProtobufCMessage **arr = arena_alloc(&cv->arena, n * sizeof(*arr));
	size_t plen = strlen(cv->path);
	const char *k;
	json_t *v;

	if (!arr)
		return -ENOMEM;
	if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING)
		return fail(cv, -EINVAL, "only string map keys are supported");
	json_object_foreach((json_t *)obj, k, v)
	{
		uint8_t *e = arena_alloc(&cv->arena, ed->sizeof_message);
		int r;
		if (!e)
			return -ENOMEM;
		protobuf_c_message_init(ed, e);
		snprintf(cv->path + plen, sizeof(cv->path) - plen, ".%s", k);
		*(char **)(e + ed->fields[0].offset) = arena_strdup(&cv->arena, k, strlen(k));
		if (!*(char **)(e + ed->fields[0].offset))
			return -ENOMEM;
		r = convert_value(cv, &ed->fields[1], v, e + ed->fields[1].offset, depth);
		if (r < 0)
			return r;
		if (ed->fields[1].label == PROTOBUF_C_LABEL_OPTIONAL &&
		    ed->fields[1].type != PROTOBUF_C_TYPE_STRING &&
		    ed->fields[1].type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)(e + ed->fields[1].quantifier_offset) = 1;
		arr[i++] = (ProtobufCMessage *)e;
	}
	cv->path[plen] = '\0';
	*(size_t *)(base + f->quantifier_offset) = n;
	*(void **)(base + f->offset) = arr;
	return 0;
}

static int convert_field(struct conv *cv, const ProtobufCFieldDescriptor *f, const json_t *v,
                         uint8_t *base, int depth)
{
	if (json_is_null(v))
		return 0; /* protobuf JSON: null is the default */
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return fail(cv, -EINVAL, "oneof fields are not supported in JSON manifests");
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n, sz = elem_size(f->type), plen = strlen(cv->path);
		uint8_t *arr;
		if (json_is_object(v) && f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f))
			return convert_map(cv, f, v, base, depth);
		if (!json_is_array(v))
			return fail(cv, -EINVAL, "expected an array");
		n = json_array_size(v);
		arr = arena_alloc(&cv->arena, n * sz);
		if (!arr)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			int r;
			snprintf(cv->path + plen, sizeof(cv->path) - plen, "[%zu]", i);
			r = convert_value(cv, f, json_array_get(v, i), arr + i * sz, depth);
			if (r < 0)
				return r;
		}
		cv->path[plen] = '\0';
		*(size_t *)(base + f->quantifier_offset) = n;
		*(void **)(base + f->offset) = arr;
		return 0;
	}
	int r = convert_value(cv, f, v, base + f->offset, depth);
	if (r < 0)
		return r;
	/* proto2 optional scalars and bytes carry a has_ flag; strings and messages are
	 * present when non-NULL */
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	return 0;
}

static int convert_message(struct conv *cv, const ProtobufCMessageDescriptor *d, const json_t *obj,
                           ProtobufCMessage **ret, int depth)
{
	uint8_t *m;
	size_t plen = strlen(cv->path);
	const char *key;
	json_t *v;

	if (depth > JSON_DEPTH_MAX)
		return fail(cv, -EINVAL, "nested too deeply");
	m = arena_alloc(&cv->arena, d->sizeof_message);
	if (!m)
		return -ENOMEM;
	protobuf_c_message_init(d, m);
	json_object_foreach((json_t *)obj, key, v)
	{
		const ProtobufCFieldDescriptor *f = NULL;
		int r;
		for (unsigned i = 0; i < d->n_fields && !f; i++)
			if (name_matches(d->fields[i].name, key))
				f = &d->fields[i];
		snprintf(cv->path + plen, sizeof(cv->path) - plen, "%s%s", plen ? "." : "", key);
		if (!f)
			return fail(cv, -EINVAL, "unknown field (message %s)", d->short_name);
		r = convert_field(cv, f, v, m, depth);
		if (r < 0)
			return r;
		cv->path[plen] = '\0';
	}
	*ret = (ProtobufCMessage *)m;
	return 0;
}

static bool is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* Parses and checks the JSON; *ret_m points into cv->arena. */
static int parse_manifest(struct conv *cv, const char *json, Evident__V1__ModelManifest **ret_m)
{
	Evident__V1__ModelManifest *m = NULL;
	json_error_t jerr;
	json_t *root;
	int r;

	if (!json)
		return fail(cv, -EINVAL, "no manifest");
	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(cv, -EINVAL, "line %d, column %d: %s", jerr.line, jerr.column,
		            jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(cv, -EINVAL, "the manifest must be a JSON object");
	}
	r = convert_message(cv, &evident__v1__model_manifest__descriptor, root,
	                    (ProtobufCMessage **)&m, 0);
	json_decref(root);
	if (r < 0)
		return r;
	cv->path[0] = '\0';
	if (!m->model_id || !m->model_id[0])
		return fail(cv, -EINVAL, "model_id is required");
	if (!m->version || !m->version[0])
		return fail(cv, -EINVAL, "version is required");
	if (strlen(m->model_id) + 1 + strlen(m->version) > EVIDENT_REQUEST_ID_MAX)
		return fail(cv, -EINVAL, "model_id@version is longer than %d bytes",
		            EVIDENT_REQUEST_ID_MAX);
	if (m->artifact_sha256 && !is_sha256_hex(m->artifact_sha256))
		return fail(cv, -EINVAL, "artifact_sha256 must be 64 lowercase hex digits");
	if (m->reference_data_sha256 && !is_sha256_hex(m->reference_data_sha256))
		return fail(cv, -EINVAL, "reference_data_sha256 must be 64 lowercase hex digits");
	*ret_m = m;
	return 0;
}

int evident_manifest_check(const char *manifest_json, char *errbuf, size_t errbuf_len)
{
	struct conv cv = {.err = errbuf, .err_len = errbuf_len};
	Evident__V1__ModelManifest *m;
	int r;

	if (errbuf && errbuf_len)
		errbuf[0] = '\0';
	r = parse_manifest(&cv, manifest_json, &m);
	arena_free(&cv.arena);
	return r;
}

int evident__sha256_fd(int fd, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(HASH_READ_SIZE);
	off_t off = 0;
	int r = -EIO;

	if (!ctx || !buf) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (;;) {
		ssize_t n = pread(fd, buf, HASH_READ_SIZE, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32)
		goto out;
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	r = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Size of the file behind fd; -EINVAL unless it is a regular file. */
static int file_size(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*ret = (uint64_t)st.st_size;
	return 0;
}

/* Fills or checks one artifact's size and hash fields. */
static int fill_artifact(struct conv *cv, int fd, const char *what, char **sha,
                         protobuf_c_boolean *has_size, uint64_t *size)
{
	uint64_t actual = 0;
	int r = file_size(fd, &actual);

	if (r < 0)
		return fail(cv, r, "%s: %s", what,
		            r == -EINVAL ? "not a regular file" : strerror(-r));
	if (*has_size && *size != actual)
		return fail(cv, -EBADMSG,
		            "%s: the manifest says %" PRIu64 " bytes, the file has %" PRIu64, what,
		            *size, actual);
	*has_size = 1;
	*size = actual;
	if (!*sha) {
		char *hex = arena_alloc(&cv->arena, 65);
		if (!hex)
			return -ENOMEM;
		r = evident__sha256_fd(fd, hex);
		if (r < 0)
			return fail(cv, r, "%s: cannot hash: %s", what, strerror(-r));
		*sha = hex;
	}
	return 0;
}

void evident__manifest_deinit(struct evident_manifest *m)
{
	free(m->model_id);
	free(m->version);
	free(m->key);
	free(m->frame);
	*m = (struct evident_manifest){0};
}

int evident__manifest_build(const char *json, int artifact_fd, int ref_fd,
                            struct evident_manifest *ret, char *errbuf, size_t errbuf_len)
{
	struct conv cv = {.err = errbuf, .err_len = errbuf_len};
	struct evident_manifest out = {0};
	Evident__V1__ModelManifest *m;
	Evident__V1__RegisterModel reg = EVIDENT__V1__REGISTER_MODEL__INIT;
	Evident__V1__Frame frame = EVIDENT__V1__FRAME__INIT;
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t body_len, hlen;
	int r;

	if (errbuf && errbuf_len)
		errbuf[0] = '\0';
	r = parse_manifest(&cv, json, &m);
	if (r < 0)
		goto out;
	r = fill_artifact(&cv, artifact_fd, "artifact", &m->artifact_sha256, &m->has_artifact_size,
	                  &m->artifact_size);
	if (r < 0)
		goto out;
	if (ref_fd >= 0) {
		r = fill_artifact(&cv, ref_fd, "reference data", &m->reference_data_sha256,
		                  &m->has_reference_data_size, &m->reference_data_size);
		if (r < 0)
			goto out;
	} else if (m->reference_data_sha256 || m->has_reference_data_size) {
		r = fail(&cv, -EINVAL, "the manifest names reference data but none was given");
		goto out;
	}

	reg.manifest = m;
	frame.body_case = EVIDENT__V1__FRAME__BODY_REGISTER_MODEL;
	frame.register_model = &reg;
	body_len = protobuf_c_message_get_packed_size(&frame.base);
	hlen = frame_header_encode(body_len, hdr);
	out.frame = malloc(hlen + body_len);
	out.model_id = strdup(m->model_id);
	out.version = strdup(m->version);
	if (!out.frame || !out.model_id || !out.version ||
	    asprintf(&out.key, "%s@%s", m->model_id, m->version) < 0) {
		out.key = NULL;
		r = -ENOMEM;
		goto out;
	}
	memcpy(out.frame, hdr, hlen);
	protobuf_c_message_pack(&frame.base, out.frame + hlen);
	out.frame_len = hlen + body_len;
	out.artifact_size = m->artifact_size;
	out.has_reference = ref_fd >= 0;
	out.reference_size = m->reference_data_size;
	*ret = out;
	out = (struct evident_manifest){0};
	r = 0;
out:
	evident__manifest_deinit(&out);
	arena_free(&cv.arena);
	return r;
}
