/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl helpers shared by the verbs: errors, argument parsing, time and number formats,
 * JSON and CSV output, files, the progress bar and read-only vault access. */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NSEC UINT64_C(1000000000)

/* ------------------------------------------------------------------ errors */

static void verror(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void verror(const char *fmt, va_list ap)
{
	fputs(CTL_PROGRAM ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

const char *ctl_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such file or folder";
	case -EACCES:
	case -EPERM:
		return "permission denied";
	case -EBADMSG:
		return "not an evidentd vault (or unknown format version)";
	case -EIO:
		return "storage error (corrupt?)";
	case -ENOTDIR:
		return "not a folder";
	case -EISDIR:
		return "is a folder";
	case -EFBIG:
		return "file too large";
	case -ENOMEM:
		return "out of memory";
	default:
		return strerror(-err);
	}
}

int ctl_file_error(const char *path, int err)
{
	ctl_error("%s: %s", path, ctl_strerror(err));
	return CTL_EXIT_UNREADABLE;
}

/* ------------------------------------------------------------------ arguments */

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

int ctl_parse_u64(const char *opt, const char *s, uint64_t *ret)
{
	if (!parse_u64(s, ret))
		return ctl_usage_error("%s: not a non-negative integer: '%s'", opt, s);
	return 0;
}

int ctl_parse_time(const char *opt, const char *s, uint64_t *ret_ns)
{
	if (ctl_time_parse(s, ctl_now_ns(), ret_ns) < 0)
		return ctl_usage_error("%s: not a time (RFC 3339, @UNIX_SECONDS or -1h/-30m/-2d): "
		                       "'%s'",
		                       opt, s);
	return 0;
}

int ctl_model_filter_parse(const char *s, struct ctl_model_filter *ret)
{
	const char *at = strrchr(s, '@');

	if (!*s || at == s || (at && !at[1]))
		return ctl_usage_error("--model: expected ID or ID@VERSION: '%s'", s);
	*ret = (struct ctl_model_filter){
	    .id = s,
	    .id_len = at ? (size_t)(at - s) : strlen(s),
	    .version = at ? at + 1 : NULL,
	};
	return 0;
}

bool ctl_model_filter_match(const struct ctl_model_filter *f, const char *id, const char *version)
{
	if (!f->id)
		return true;
	id = id ? id : "";
	if (strlen(id) != f->id_len || memcmp(f->id, id, f->id_len) != 0)
		return false;
	return !f->version || strcmp(f->version, version ? version : "") == 0;
}

/* ------------------------------------------------------------------ time */

uint64_t ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

double ctl_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *ctl_time_format(uint64_t ns, char buf[CTL_TIME_MAX])
{
	time_t sec = (time_t)(ns / NSEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm)) {
		snprintf(buf, CTL_TIME_MAX, "@%" PRIu64, ns / NSEC);
		return buf;
	}
	size_t n = strftime(buf, CTL_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, CTL_TIME_MAX - n, ".%03uZ", (unsigned)(ns % NSEC / 1000000));
	return buf;
}

/* Reads exactly n digits at *p. */
static bool digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* Fraction of a second after the '.', as ns. */
static bool fraction(const char **p, uint64_t *ret)
{
	uint64_t ns = 0, scale = NSEC / 10;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++, scale /= 10)
		ns += (uint64_t)(*s - '0') * scale;
	*p = s;
	*ret = ns;
	return true;
}

static int parse_rfc3339(const char *s, uint64_t *ret)
{
	struct tm tm = {0}, back;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	uint64_t frac = 0;
	time_t t;

	if (!digits(&s, 4, &y) || !expect(&s, '-') || !digits(&s, 2, &mo) || !expect(&s, '-') ||
	    !digits(&s, 2, &d))
		return -EINVAL;
	if (*s) {
		if (*s != 'T' && *s != 't' && *s != ' ')
			return -EINVAL;
		s++;
		if (!digits(&s, 2, &h) || !expect(&s, ':') || !digits(&s, 2, &mi) ||
		    !expect(&s, ':') || !digits(&s, 2, &sec))
			return -EINVAL;
		if (*s == '.' && (s++, !fraction(&s, &frac)))
			return -EINVAL;
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s++ == '+' ? 1 : -1;
			if (!digits(&s, 2, &oh) || !expect(&s, ':') || !digits(&s, 2, &om) ||
			    oh > 23 || om > 59)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		if (*s)
			return -EINVAL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	tm = (struct tm){.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
	t = timegm(&tm);
	/* timegm normalises 31 February into March: refuse dates that do not exist. */
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d)
		return -EINVAL;
	t += (time_t)h * 3600 + (time_t)mi * 60 + sec - (time_t)sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -EINVAL;
	*ret = (uint64_t)t * NSEC + frac;
	return 0;
}

static int parse_relative(const char *s, uint64_t now_ns, uint64_t *ret)
{
	static const struct {
		char unit;
		uint64_t sec;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s) || end[0] == '\0' || end[1] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].unit != end[0])
			continue;
		if (n > now_ns / NSEC / units[i].sec)
			return -EINVAL;
		*ret = now_ns - n * units[i].sec * NSEC;
		return 0;
	}
	return -EINVAL;
}

int ctl_time_parse(const char *s, uint64_t now_ns, uint64_t *ret_ns)
{
	uint64_t v;

	if (strcmp(s, "now") == 0) {
		*ret_ns = now_ns;
		return 0;
	}
	if (s[0] == '@') {
		if (!parse_u64(s + 1, &v) || v > UINT64_MAX / NSEC)
			return -EINVAL;
		*ret_ns = v * NSEC;
		return 0;
	}
	if (s[0] == '-')
		return parse_relative(s + 1, now_ns, ret_ns);
	return parse_rfc3339(s, ret_ns);
}

/* ------------------------------------------------------------------ formats */

char *ctl_hex(const uint8_t *data, size_t len, char *out)
{
	static const char digits16[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits16[data[i] >> 4];
		out[2 * i + 1] = digits16[data[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

char *ctl_base64(const uint8_t *data, size_t len)
{
	char *out;

	if (len > INT32_MAX / 2)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *ctl_bytes_format(uint64_t n, char buf[32])
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%" PRIu64 " B", n);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

json_t *ctl_json_double(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *ctl_json_doubles(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, ctl_json_double(v[i]));
	return a;
}

/* Copies s replacing each byte of an invalid UTF-8 sequence by U+FFFD. */
static json_t *json_string_lossy(const char *s, size_t len)
{
	char *buf = malloc(len * 3 + 1);
	size_t o = 0;
	json_t *j;

	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = 1;
		json_t *one;
		unsigned char c = (unsigned char)s[i];

		n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		one = n && c && i + n <= len ? json_stringn(s + i, n) : NULL;
		if (one) {
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
			json_decref(one);
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

json_t *ctl_json_stringn(const char *s, size_t len)
{
	json_t *j;

	if (!s)
		return json_null();
	j = json_stringn(s, len);
	return j ? j : json_string_lossy(s, len);
}

json_t *ctl_json_string(const char *s)
{
	return ctl_json_stringn(s, s ? strlen(s) : 0);
}

json_t *ctl_json_u64(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

json_t *ctl_json_hex(const uint8_t *data, size_t len)
{
	char *buf = malloc(2 * len + 1);
	json_t *j;

	if (!buf)
		return NULL;
	j = json_string(ctl_hex(data, len, buf));
	free(buf);
	return j;
}

json_t *ctl_json_time(uint64_t ns)
{
	char buf[CTL_TIME_MAX];

	return json_string(ctl_time_format(ns, buf));
}

void ctl_json_set(json_t *obj, const char *key, json_t *value)
{
	if (value)
		json_object_set_new(obj, key, value);
}

void ctl_csv_field(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* ------------------------------------------------------------------ files */

/* -errno of a failed call, never 0. */
static int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = negative_errno();
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

int ctl_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct stat st;
	int fd, rc;

	if (strcmp(path, "-") == 0)
		return read_fd(STDIN_FILENO, max, ret, ret_len);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		rc = negative_errno();
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else
		rc = read_fd(fd, max, ret, ret_len);
	close(fd);
	return rc;
}

static uint8_t key_type(const struct vault_pubkey *k)
{
	return k->type ? k->type : VAULT_KEY_ED25519;
}

int ctl_load_key(const char *arg, const char *default_name, uint8_t type, struct vault_pubkey *ret)
{
	_cleanup_(freep) char *text = NULL;
	struct vault_pubkey key;
	size_t len;
	int rc;

	/* The key itself, else the file holding it: a path never parses as a key. */
	if (vault_pubkey_parse(arg, strlen(arg), default_name, &key) < 0) {
		rc = ctl_read_file(arg, 16384, &text, &len);
		if (rc == -ENOENT) {
			ctl_error(
			    "%s: neither a verifier key (NAME+HEXID+BASE64) nor an existing file",
			    arg);
			return CTL_EXIT_UNREADABLE;
		}
		if (rc < 0)
			return ctl_file_error(arg, rc);
		if (vault_pubkey_parse(text, len, default_name, &key) < 0) {
			ctl_error(
			    "%s: malformed key (expected a C2SP verifier key line or an Ed25519 "
			    "PEM public key)",
			    arg);
			return CTL_EXIT_UNREADABLE;
		}
	}
	if (key_type(&key) != type) {
		if (type == VAULT_KEY_COSIGNATURE_V1)
			ctl_error("%s: a log's key, not a witness's (a witness key's type byte is "
			          "0x04, c2sp.org/tlog-cosignature)",
			          arg);
		else
			ctl_error("%s: a witness's key (type 0x04, cosignature/v1), not a log's",
			          arg);
		return CTL_EXIT_UNREADABLE;
	}
	*ret = key;
	return 0;
}

/* ------------------------------------------------------------------ witnesses */

#define COSIG_LEN     (4 + 8 + 64)              /* key id, timestamp, Ed25519 signature */
#define COSIG_B64_LEN ((COSIG_LEN + 2) / 3 * 4) /* 104, ending in "==" */

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A signature line "\u2014 NAME BASE64" (without its '\n') that holds a cosignature. */
static bool cosig_line(const char *p, size_t len, struct ctl_cosig *ret)
{
	static const char dash[] = "\xe2\x80\x94 ";
	uint8_t raw[COSIG_B64_LEN / 4 * 3];
	const char *name = p + strlen(dash), *sp, *end = p + len;

	if (len < strlen(dash) || memcmp(p, dash, strlen(dash)) != 0)
		return false;
	sp = memchr(name, ' ', (size_t)(end - name));
	if (!sp || sp == name || (size_t)(sp - name) > VAULT_ORIGIN_MAX ||
	    (size_t)(end - sp - 1) != COSIG_B64_LEN || end[-1] != '=' || end[-2] != '=' ||
	    end[-3] == '=')
		return false;
	if (EVP_DecodeBlock(raw, (const unsigned char *)sp + 1, COSIG_B64_LEN) != (int)sizeof(raw))
		return false;
	memcpy(ret->name, name, (size_t)(sp - name));
	ret->name[sp - name] = '\0';
	memcpy(ret->key_id, raw, 4);
	ret->timestamp = rd64(raw + 4);
	return true;
}

int ctl_cosigs_list(const char *note, size_t len, struct ctl_cosig *ret, size_t max)
{
	const char *p, *end = note + len;
	size_t body_len, n = 0;
	int rc = vault_note_split(note, len, &body_len);

	if (rc < 0)
		return rc;
	for (p = note + body_len + 1; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct ctl_cosig one;

		if (!nl)
			return -EBADMSG;
		if (cosig_line(p, (size_t)(nl - p), &one)) {
			if (n < max)
				ret[n] = one;
			n++;
		}
		p = nl + 1;
	}
	return n > INT32_MAX ? -EBADMSG : (int)n;
}

char *ctl_cosig_time(uint64_t timestamp, char buf[CTL_TIME_MAX])
{
	time_t sec = (time_t)timestamp;
	struct tm tm;

	if (timestamp > (uint64_t)INT64_MAX / NSEC || !gmtime_r(&sec, &tm) ||
	    !strftime(buf, CTL_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, CTL_TIME_MAX, "@%" PRIu64, timestamp);
	return buf;
}

static json_t *cosig_json(const struct ctl_cosig *cs)
{
	char t[CTL_TIME_MAX];
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "name", ctl_json_string(cs->name));
	ctl_json_set(o, "key_id", ctl_json_hex(cs->key_id, 4));
	ctl_json_set(o, "timestamp", json_string(ctl_cosig_time(cs->timestamp, t)));
	ctl_json_set(o, "timestamp_unix", ctl_json_u64(cs->timestamp));
	return o;
}

json_t *ctl_cosigs_json(const char *note, size_t len)
{
	int n = ctl_cosigs_list(note, len, NULL, 0);
	_cleanup_(freep) struct ctl_cosig *cs = NULL;
	json_t *arr = json_array();

	if (!arr || n <= 0)
		return arr;
	cs = calloc((size_t)n, sizeof(*cs));
	if (!cs || ctl_cosigs_list(note, len, cs, (size_t)n) != n) {
		json_decref(arr);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, cosig_json(&cs[i]));
	return arr;
}

int ctl_witnesses_add(struct ctl_witnesses *w, const char *verb, const char *arg)
{
	if (w->n == CTL_WITNESS_MAX)
		return ctl_usage_error("%s: --witness-key: at most %d keys", verb, CTL_WITNESS_MAX);
	w->args[w->n++] = arg;
	return 0;
}

int ctl_witnesses_set_quorum(struct ctl_witnesses *w, const char *verb, const char *arg)
{
	(void)verb;
	if (ctl_parse_u64("--quorum", arg, &w->quorum))
		return CTL_EXIT_USAGE;
	w->quorum_given = true;
	return 0;
}

int ctl_witnesses_load(struct ctl_witnesses *w, const char *verb)
{
	if (w->quorum_given && w->n == 0)
		return ctl_usage_error("%s: --quorum needs the witnesses' keys (--witness-key)",
		                       verb);
	if (w->quorum_given && w->quorum > w->n)
		return ctl_usage_error("%s: --quorum %" PRIu64 " but only %zu --witness-key given",
		                       verb, w->quorum, w->n);
	if (!w->quorum_given)
		w->quorum = w->n;
	for (size_t i = 0; i < w->n; i++) {
		int rc = ctl_load_key(w->args[i], NULL, VAULT_KEY_COSIGNATURE_V1, &w->keys[i]);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(w->keys[j].name, w->keys[i].name) == 0 &&
			    memcmp(w->keys[j].id, w->keys[i].id, 4) == 0)
				return ctl_usage_error("%s: --witness-key: the key of %s is given "
				                       "twice (%s and %s): a witness counts once",
				                       verb, w->keys[i].name, w->args[j],
				                       w->args[i]);
	}
	return 0;
}

/* Why the cosignature of key k in note does not count, by the lines that name it. */
static const char *why_not(const struct vault_pubkey *k, const struct ctl_cosig *cs, size_t n,
                           uint64_t now, char *buf, size_t size)
{
	char t[CTL_TIME_MAX];
	bool present = false;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(cs[i].name, k->name) != 0 || memcmp(cs[i].key_id, k->id, 4) != 0)
			continue;
		if (cs[i].timestamp > now + VAULT_COSIG_MAX_SKEW) {
			snprintf(buf, size, "cosignature dated %s, in the future",
			         ctl_cosig_time(cs[i].timestamp, t));
			return buf;
		}
		present = true;
	}
	return present ? "its cosignature does not verify" : "no cosignature";
}

int ctl_witnesses_check(const struct ctl_witnesses *w, const char *note, size_t len,
                        struct ctl_witness_check *ret)
{
	_cleanup_(freep) struct ctl_cosig *cs = NULL;
	uint64_t now = (uint64_t)time(NULL);
	int rc, n;

	memset(ret, 0, sizeof(*ret));
	rc = vault_cosignatures_verify(note, len, w->keys, w->n, now, ret->found);
	if (rc < 0)
		return rc;
	ret->cosigned = (size_t)rc;
	ret->ok = ret->cosigned >= w->quorum;
	n = ctl_cosigs_list(note, len, NULL, 0);
	if (n < 0)
		return n;
	cs = calloc((size_t)n + 1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	ctl_cosigs_list(note, len, cs, (size_t)n);
	for (size_t i = 0; i < w->n; i++)
		if (!ret->found[i].valid)
			ret->why[i] = why_not(&w->keys[i], cs, (size_t)n, now, ret->why_buf[i],
			                      sizeof(ret->why_buf[i]));
	return 0;
}

void ctl_witnesses_text(const struct ctl_witnesses *w, const struct ctl_witness_check *c, char *buf,
                        size_t size)
{
	char id[9], t[CTL_TIME_MAX];
	size_t off;

	off = (size_t)snprintf(buf, size, "%zu of %zu witness%s cosigned (quorum %" PRIu64 ")",
	                       c->cosigned, w->n, w->n == 1 ? "" : "es", w->quorum);
	for (size_t i = 0; i < w->n && off < size; i++) {
		const struct vault_pubkey *k = &w->keys[i];
		ctl_hex(k->id, 4, id);
		if (c->found[i].valid)
			off += (size_t)snprintf(buf + off, size - off, "%s %s (key %s) at %s",
			                        i ? ";" : ":", k->name, id,
			                        ctl_cosig_time(c->found[i].timestamp, t));
		else
			off += (size_t)snprintf(buf + off, size - off, "%s %s (key %s): %s",
			                        i ? ";" : ":", k->name, id, c->why[i]);
	}
}

json_t *ctl_witnesses_json(const struct ctl_witnesses *w, const struct ctl_witness_check *c)
{
	json_t *obj = json_object(), *arr = json_array();
	char t[CTL_TIME_MAX];

	if (!obj || !arr) {
		json_decref(obj);
		json_decref(arr);
		return NULL;
	}
	ctl_json_set(obj, "quorum", ctl_json_u64(w->quorum));
	ctl_json_set(obj, "cosigned", ctl_json_u64(c->cosigned));
	ctl_json_set(obj, "ok", json_boolean(c->ok));
	for (size_t i = 0; i < w->n; i++) {
		const struct vault_cosig_check *f = &c->found[i];
		json_t *o = json_object();
		if (!o)
			continue;
		ctl_json_set(o, "name", ctl_json_string(w->keys[i].name));
		ctl_json_set(o, "key_id", ctl_json_hex(w->keys[i].id, 4));
		ctl_json_set(o, "cosigned", json_boolean(f->valid));
		ctl_json_set(o, "timestamp",
		             f->valid ? json_string(ctl_cosig_time(f->timestamp, t)) : json_null());
		ctl_json_set(o, "timestamp_unix",
		             f->valid ? ctl_json_u64(f->timestamp) : json_null());
		ctl_json_set(o, "problem", f->valid ? json_null() : ctl_json_string(c->why[i]));
		json_array_append_new(arr, o);
	}
	ctl_json_set(obj, "witnesses", arr);
	return obj;
}

int ctl_out_open(struct ctl_out *o, const char *path)
{
	mode_t mask;
	int fd;

	*o = (struct ctl_out){0};
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	if (asprintf(&o->tmp, "%s.XXXXXX", path) < 0) {
		o->tmp = NULL;
		return ctl_file_error(path, -ENOMEM);
	}
	o->path = strdup(path);
	fd = o->path ? mkostemp(o->tmp, O_CLOEXEC) : -1;
	if (fd < 0) {
		int rc = o->path ? negative_errno() : -ENOMEM;
		free(o->tmp);
		free(o->path);
		*o = (struct ctl_out){0};
		return ctl_file_error(path, rc);
	}
	/* mkostemp makes 0600; give the file the mode a plain create would. */
	mask = umask(0);
	umask(mask);
	(void)fchmod(fd, 0666 & ~mask);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		int rc = negative_errno();
		close(fd);
		ctl_out_abort(o);
		return ctl_file_error(path, rc);
	}
	return 0;
}

int ctl_out_commit(struct ctl_out *o)
{
	int rc = 0;

	if (!o->path)
		return fflush(o->f) == 0 && !ferror(o->f) ? 0
		                                          : ctl_file_error("standard output", -EIO);
	if (fflush(o->f) != 0 || ferror(o->f))
		rc = -EIO;
	else if (fsync(fileno(o->f)) < 0)
		rc = negative_errno();
	if (fclose(o->f) != 0 && rc == 0)
		rc = -EIO;
	o->f = NULL;
	if (rc == 0 && rename(o->tmp, o->path) < 0)
		rc = negative_errno();
	if (rc < 0) {
		int exit_status = ctl_file_error(o->path, rc);
		ctl_out_abort(o);
		return exit_status;
	}
	free(o->tmp);
	free(o->path);
	*o = (struct ctl_out){0};
	return 0;
}

void ctl_out_abort(struct ctl_out *o)
{
	if (o->path && o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	*o = (struct ctl_out){0};
}

/* ------------------------------------------------------------------ progress */

#define PROGRESS_WIDTH    30
#define PROGRESS_INTERVAL 0.1 /* seconds between redraws */

void ctl_progress_init(struct ctl_progress *p, bool want, const char *unit)
{
	*p = (struct ctl_progress){.enabled = want && isatty(STDERR_FILENO), .unit = unit};
}

void ctl_progress_update(struct ctl_progress *p, uint64_t done, uint64_t total)
{
	char bar[PROGRESS_WIDTH + 1];
	double now, frac;
	size_t fill;

	if (!p->enabled)
		return;
	now = ctl_monotonic();
	if (now - p->last < PROGRESS_INTERVAL && done < total)
		return;
	p->last = now;
	frac = total ? (double)done / (double)total : 1.0;
	if (frac > 1)
		frac = 1;
	fill = (size_t)(frac * PROGRESS_WIDTH);
	memset(bar, '#', fill);
	memset(bar + fill, '.', PROGRESS_WIDTH - fill);
	bar[PROGRESS_WIDTH] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %" PRIu64 "/%" PRIu64 " %s", bar, (int)(frac * 100), done,
	        total, p->unit);
	fflush(stderr);
}

void ctl_progress_end(struct ctl_progress *p)
{
	if (!p->enabled)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->enabled = false;
}

/* ------------------------------------------------------------------ the vault */

static const char *open_problem(const char *dir, int err)
{
	struct stat st;

	switch (err) {
	case -ENOENT:
		if (stat(dir, &st) < 0)
			return "no vault here (no such folder)";
		return "no vault here (data.mdb missing)";
	case -EBUSY:
		return "vault busy";
	case -EUCLEAN:
		return "data.mdb is damaged";
	case -ENOLCK:
		return "a writer is running and lock.mdb is not writable by this user";
	default:
		return ctl_strerror(err);
	}
}

int ctl_vault_open(const struct ctl *c, struct ctl_vault *ret)
{
	struct ctl_vault cv = {.dir = c->vault_dir};
	char detail[300];
	int rc;

	rc = vault_open_detail(cv.dir, VAULT_OPEN_READ, NULL, &cv.v, detail, sizeof(detail));
	if (rc < 0) {
		/* A damaged data file or an unusable lock file: the detail names the file */
		if ((rc == -EUCLEAN || rc == -ENOLCK) && detail[0])
			ctl_error("%s/%s", cv.dir, detail);
		else
			ctl_error("%s: %s", cv.dir, open_problem(cv.dir, rc));
		return CTL_EXIT_UNREADABLE;
	}
	rc = vault_info(cv.v, &cv.info);
	if (rc == 0)
		rc = vault_reader_begin(cv.v, &cv.r);
	if (rc < 0) {
		int exit_status = ctl_vault_error(&cv, "cannot read the vault", rc);
		ctl_vault_close(&cv);
		return exit_status;
	}
	*ret = cv;
	return 0;
}

void ctl_vault_close(struct ctl_vault *cv)
{
	vault_reader_end(cv->r);
	vault_close(cv->v);
	cv->r = NULL;
	cv->v = NULL;
}

int ctl_latest_signed_checkpoint(const struct ctl_vault *cv, const char *none_yet, char **ret_note,
                                 struct vault_checkpoint *ret_cp)
{
	char *note = NULL;
	int rc = vault_checkpoint_latest(cv->r, &note, ret_cp);

	if (rc == -ENOENT) {
		ctl_error("%s: the vault has no signed checkpoint yet%s", cv->dir, none_yet);
		return CTL_EXIT_PROBLEM;
	}
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the latest checkpoint", rc);
	if (vault_checkpoint_parse(note, strlen(note), &cv->info.key, ret_cp) < 0) {
		ctl_error("%s: the latest checkpoint is not validly signed by the vault's key "
		          "(run evidentctl verify)",
		          cv->dir);
		free(note);
		return CTL_EXIT_PROBLEM;
	}
	*ret_note = note;
	return 0;
}

int ctl_vault_error(const struct ctl_vault *cv, const char *what, int err)
{
	char detail[300];

	/* damage found as it was read names the page, as at open */
	if (err == -EUCLEAN && cv->v && vault_damage_detail(cv->v, detail, sizeof(detail)) > 0)
		ctl_error("%s/%s", cv->dir, detail);
	else if (err == -EBADMSG)
		ctl_error("%s: %s: an entry is missing or malformed (run evidentctl verify)",
		          cv->dir, what);
	else
		ctl_error("%s: %s: %s", cv->dir, what, ctl_strerror(err));
	return CTL_EXIT_UNREADABLE;
}

int ctl_scan(struct vault_reader *r, uint64_t from, uint64_t to, ctl_scan_fn fn, void *userdata)
{
	uint64_t seq = from;
	int rc = 0;

	while (seq < to && rc == 0) {
		struct vault_iter it;
		struct vault_entry e;
		uint64_t stop = to - seq > CTL_SCAN_RENEW ? seq + CTL_SCAN_RENEW : to;

		if (seq != from) {
			rc = vault_reader_renew(r);
			if (rc < 0)
				return rc;
		}
		rc = vault_iter_init(r, seq, &it);
		if (rc < 0)
			return rc;
		while (seq < stop && (rc = vault_iter_next(&it, &e)) == 1) {
			seq++;
			rc = fn(userdata, &e);
			if (rc != 0)
				break;
		}
		vault_iter_deinit(&it);
		/* The iterator ends early only if the snapshot is shorter than promised. */
		if (rc == 0 && seq < stop)
			rc = -EBADMSG;
	}
	return rc < 0 ? rc : 0;
}

int ctl_no_entry(uint64_t seq, uint64_t size)
{
	return ctl_usage_error("no entry %" PRIu64 " (the vault has %" PRIu64 " entries)", seq,
	                       size);
}
