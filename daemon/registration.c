/* SPDX-License-Identifier: Apache-2.0 */
/* Model registration (registration.h): RegisterModel, the artifact chunks, the check that the
 * version loads, the commit of its entries. Loop thread; blobs are written by writer jobs and
 * the check runs on libuv's thread pool. */
#include "registration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "daemon.h"
#include "dispatch.h"
#include "entry.pb-c.h"
#include "guards.h"
#include "log.h"
#include "session.h"
#include "workers.h"

#define E(x)    EVIDENT__V1__ERROR__CODE__##x
#define KEY_MAX (DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2)

enum { ART_MODEL = 0, ART_REFERENCE = 1 };

struct registration {
	struct registration *next; /* in d->regs.active */
	struct daemon *d;
	struct session *s;                    /* NULL once aborted */
	Evident__V1__ModelManifest *manifest; /* owned (default allocator) */
	uint8_t digest[VAULT_HASH_LEN];
	char key[KEY_MAX];
	int current;                  /* ART_MODEL or ART_REFERENCE being received */
	bool requested;               /* an ArtifactRequest for current went out */
	bool done[2];                 /* stored (or already present) */
	uint64_t received;            /* bytes of current queued to the writer */
	bool sent_last;               /* current's last chunk queued */
	struct vault_blob_writer *bw; /* owned by the writer thread */
	unsigned jobs;                /* in flight */
	bool aborted;
	struct tnode node; /* in d->regs.wait until done or dropped (registration_timeout) */
	struct registration *check_next; /* in d->regs.verifying: waiting for its check */
};

static void timer_arm(struct daemon *d);

/* Starts (or restarts) reg's registration_timeout. */
static void track(struct registration *reg)
{
	struct daemon *d = reg->d;

	if (tlist_append(&d->regs.wait, &reg->node, uv_now(d->loop)))
		timer_arm(d);
}

/* The registration made progress: its registration_timeout starts again. */
static void reg_touch(struct registration *reg)
{
	if (reg->node.list)
		track(reg);
}

static bool want_reference(const struct registration *reg)
{
	return reg->manifest->reference_data_sha256 && *reg->manifest->reference_data_sha256;
}

static const char *art_hash_hex(const struct registration *reg, int which)
{
	return which == ART_MODEL ? reg->manifest->artifact_sha256
	                          : reg->manifest->reference_data_sha256;
}

static uint64_t art_size(const struct registration *reg, int which)
{
	return which == ART_MODEL ? reg->manifest->artifact_size
	                          : reg->manifest->reference_data_size;
}

static void registration_free(struct registration *reg)
{
	if (reg->manifest)
		evident__v1__model_manifest__free_unpacked(reg->manifest, NULL);
	free(reg);
}

static void registration_unlink(struct registration *reg)
{
	struct registration **p = &reg->d->regs.active;

	while (*p && *p != reg)
		p = &(*p)->next;
	if (*p)
		*p = reg->next;
	if (reg->s && reg->s->reg == reg)
		reg->s->reg = NULL;
	reg->s = NULL;
	tlist_remove(&reg->node);
}

static void run_blob_abort(struct job *j, struct vault *v)
{
	struct registration *reg = j->data;
	(void)v;
	vault_blob_abort(reg->bw);
	reg->bw = NULL;
	j->rc = 0;
}

static void reg_job_done_common(struct registration *reg)
{
	reg->jobs--;
	if (reg->aborted && reg->jobs == 0)
		registration_free(reg);
}

static void abort_done(struct job *j)
{
	struct registration *reg = j->data;
	free(j);
	reg_job_done_common(reg);
}

/* Drops the registration; blob data staged so far is dropped by the writer. */
static void registration_abort(struct registration *reg)
{
	if (reg->aborted)
		return;
	reg->aborted = true;
	registration_unlink(reg);
	struct job *j = calloc(1, sizeof(*j));
	if (j) {
		j->run = run_blob_abort;
		j->done = abort_done;
		j->data = reg;
		reg->jobs++;
		writer_submit(&reg->d->writer, j);
	} else if (reg->jobs == 0) {
		/* cannot reach the writer: the staged chunks go at the next start */
		registration_free(reg);
	}
}

static void registration_fail(struct registration *reg, dispatch_code code, const char *msg)
{
	struct session *s = reg->s;

	log_info("registration of %s by %s failed: %s", reg->key, s ? s->client_name : "?", msg);
	if (s && !s->closing)
		session_reply_error(s, code, msg, reg->key);
	registration_abort(reg);
}

static void send_artifact_request(struct registration *reg)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__ArtifactRequest ar = EVIDENT__V1__ARTIFACT_REQUEST__INIT;

	ar.model_id = reg->manifest->model_id;
	ar.version = reg->manifest->version;
	ar.has_kind = ar.has_offset = true;
	ar.kind = reg->current == ART_MODEL ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL
	                                    : EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA;
	ar.offset = reg->received;
	f.body_case = EVIDENT__V1__FRAME__BODY_ARTIFACT_REQUEST;
	f.artifact_request = &ar;
	session_reply_frame(reg->s, &f);
	reg->requested = true;
}

static bool blob_present(struct daemon *d, const char *hex)
{
	struct vault_reader *r;
	uint8_t h[32];
	uint64_t size;
	bool present = false;

	if (vault_unhex(hex, 64, h) < 0 || vault_reader_begin(d->vault, &r) < 0)
		return false;
	present = vault_blob_stat(r, h, &size) == 0;
	vault_reader_end(r);
	return present;
}

static void report_unbound(void *data, const struct config_guard *g, const char *why)
{
	struct daemon *d = data;
	Evident__Entry__V1__NoticeEntry n = EVIDENT__ENTRY__V1__NOTICE_ENTRY__INIT;
	char detail[1200];
	uint8_t *buf;
	size_t len;

	snprintf(detail, sizeof(detail),
	         "guard %s is not in force for this model version: %s; its records are not "
	         "checked by it",
	         g->name, why);
	log_warning("%s", detail);
	n.kind = "guard_unbound";
	n.detail = detail;
	if (dispatch_pack(&n.base, &buf, &len) < 0) {
		log_error("recording a guard_unbound notice: out of memory");
		return;
	}
	writer_append(&d->writer, VAULT_ENTRY_NOTICE, buf, len, true, NULL, NULL);
}

size_t registration_report_guards(struct daemon *d, const struct model_info *mi)
{
	return guards_unbound(d->guards, mi, report_unbound, d);
}

struct commit_job {
	struct job job;
	struct vault_entry_in in[3];
	struct vault_append_result res[3];
	uint8_t *payloads[3];
	char dedup_request[KEY_MAX];
	struct registration *reg;
};

static void commit_done(struct job *j)
{
	struct commit_job *cj = (struct commit_job *)j;
	struct registration *reg = cj->reg;
	struct daemon *d = reg->d;
	struct session *s = reg->s; /* NULL when the connection went away meanwhile */
	const struct vault_append_result *mr = &cj->res[j->n - 1];

	for (size_t i = 0; i < j->n; i++)
		free(cj->payloads[i]);
	if (j->rc == 0 && !reg->aborted) {
		Evident__V1__ModelManifest *mf = reg->manifest;
		reg->manifest = NULL;
		int rc = registry_add(&d->models, mf, mr->seq, mr->leaf_hash, reg->digest);
		if (rc < 0 && rc != -EEXIST)
			log_error("registry: cannot add %s: %s", reg->key, strerror(-rc));
		/* the manifest is the registry's now (freed on -EEXIST) */
		const struct model_info *mi =
		    rc == 0 ? registry_find(&d->models, mf->model_id, mf->version) : NULL;
		log_info("model %s registered by %s (entry %llu)", reg->key,
		         s ? s->client_name : "?", (unsigned long long)mr->seq);
		d->stats.registrations++;
		if (s && !s->closing)
			session_reply_ack(s, reg->key, mr);
		/* the guards bind to the new version now: one that cannot is reported */
		if (mi)
			registration_report_guards(d, mi);
		registration_unlink(reg);
		reg->aborted = true; /* done: freed below */
	} else if (j->rc < 0 && !reg->aborted) {
		registration_fail(reg, dispatch_write_error(j->rc),
		                  j->rc == -ENOSPC ? "the vault is full; retry later"
		                                   : "could not store the registration");
	}
	session_unref(j->owner);
	free(cj);
	reg_job_done_common(reg);
}

static int artifact_payload(const struct registration *reg, int which, uint8_t **ret,
                            size_t *ret_len)
{
	Evident__Entry__V1__ArtifactEntry ae = EVIDENT__ENTRY__V1__ARTIFACT_ENTRY__INIT;
	uint8_t hash[32];

	if (vault_unhex(art_hash_hex(reg, which), 64, hash) < 0)
		return -EINVAL;
	ae.model_id = reg->manifest->model_id;
	ae.version = reg->manifest->version;
	ae.has_kind = ae.has_sha256 = ae.has_size = true;
	ae.kind = which == ART_MODEL ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL
	                             : EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA;
	ae.sha256.data = hash;
	ae.sha256.len = 32;
	ae.size = art_size(reg, which);
	return dispatch_pack(&ae.base, ret, ret_len);
}

/* Artifacts are stored: append the artifact entries and the model entry in one commit. */
static void registration_commit(struct registration *reg)
{
	struct session *s = reg->s;
	struct commit_job *cj = calloc(1, sizeof(*cj));
	Evident__Entry__V1__ModelEntry me = EVIDENT__ENTRY__V1__MODEL_ENTRY__INIT;
	size_t n = 0, len;

	if (!cj) {
		registration_fail(reg, E(INTERNAL), "out of memory");
		return;
	}
	cj->reg = reg;
	for (int which = ART_MODEL; which <= ART_REFERENCE; which++) {
		if (which == ART_REFERENCE && !want_reference(reg))
			break;
		if (artifact_payload(reg, which, &cj->payloads[n], &len) < 0)
			goto oom;
		cj->in[n] = (struct vault_entry_in){
		    .type = VAULT_ENTRY_ARTIFACT, .payload = cj->payloads[n], .payload_len = len};
		n++;
	}
	me.client_name = s->client_name;
	me.manifest = reg->manifest; /* canonical order: sorted when the digest was made */
	if (dispatch_pack(&me.base, &cj->payloads[n], &len) < 0)
		goto oom;
	/* A registration is recorded once even if two daemons' worth of retries race. */
	snprintf(cj->dedup_request, sizeof(cj->dedup_request), "%s", reg->key);
	cj->in[n] = (struct vault_entry_in){.type = VAULT_ENTRY_MODEL,
	                                    .payload = cj->payloads[n],
	                                    .payload_len = len,
	                                    .dedup_client = "@models",
	                                    .dedup_request = cj->dedup_request};
	n++;
	cj->job.n = n;
	cj->job.in = cj->in;
	cj->job.res = cj->res;
	cj->job.done = commit_done;
	cj->job.owner = s;
	reg->jobs++;
	session_ref(s);
	writer_submit(&reg->d->writer, &cj->job);
	return;
oom:
	for (size_t i = 0; i < 3; i++)
		free(cj->payloads[i]);
	free(cj);
	registration_fail(reg, E(INTERNAL), "out of memory");
}

/* ------------------------------------------------------------------ the artifacts load */

/* Every artifact is stored: before the registration is acknowledged, the version is loaded
 * the way its audits will load it (workers_load_model: the framework's loader, feature count
 * and names against the manifest, the reference data's columns; for framework "oracle" the
 * configured oracle started once). A load holds the whole artifact in memory and may take
 * seconds: it runs on libuv's thread pool, one registration at a time. */
struct check_work {
	uv_work_t req;
	struct registration *reg;
	struct vault *vault;
	char *oracle; /* the [model ID] oracle command when the check started, or NULL */
	struct audit_oracle oc;
	int rc;
	enum workers_load_fault fault;
	char err[AUDIT_ERR_MAX];
};

static void run_check(uv_work_t *req)
{
	struct check_work *cw = req->data;
	struct audit_model *am;
	double *rows;
	size_t n;

	cw->rc = workers_load_model(cw->vault, cw->reg->manifest, cw->oracle ? &cw->oc : NULL, &am,
	                            &rows, &n, &cw->fault, cw->err, sizeof(cw->err));
	audit_model_free(am); /* an oracle's processes end here */
	free(rows);
}

static void check_next(struct daemon *d);

static void check_done(uv_work_t *req, int status)
{
	struct check_work *cw = req->data;
	struct registration *reg = cw->reg;
	struct daemon *d = reg->d;
	char msg[2 * AUDIT_ERR_MAX + KEY_MAX];

	d->regs.verify_busy = false;
	if (reg->aborted) {
		/* the connection went away meanwhile */
	} else if (status < 0) {
		registration_fail(reg, E(INTERNAL), "checking the artifact was cancelled; retry");
	} else if (d->final_submitted) {
		registration_fail(reg, E(OVERLOADED),
		                  "the daemon is stopping; register again once it is back");
	} else if (cw->rc < 0 && cw->fault == WORKERS_LOAD_ARTIFACT) {
		snprintf(msg, sizeof(msg), "%s does not load (framework %s): %s", reg->key,
		         reg->manifest->framework, cw->err);
		registration_fail(reg, E(SCHEMA_MISMATCH), msg);
	} else if (cw->rc < 0 && cw->fault != WORKERS_LOAD_UNSUPPORTED) {
		snprintf(msg, sizeof(msg),
		         "the artifact of %s could not be checked: %s; retry later", reg->key,
		         cw->err);
		registration_fail(reg, E(INTERNAL), msg);
	} else {
		if (cw->rc < 0) /* valid, but not something the daemon's audits can evaluate */
			log_warning("model %s: registered, but its audits will fail: %s", reg->key,
			            cw->err);
		registration_commit(reg);
	}
	free(cw->oracle);
	free(cw);
	reg_job_done_common(reg);
	check_next(d);
	session_flush_dirty(d);
}

/* Starts the next check in d->regs.verifying when none runs. */
static void check_next(struct daemon *d)
{
	while (!d->regs.verify_busy && d->regs.verifying) {
		struct registration *reg = d->regs.verifying;
		const Evident__V1__ModelManifest *mf = reg->manifest;
		d->regs.verifying = reg->check_next;
		if (reg->aborted) {
			reg_job_done_common(reg);
			continue;
		}
		const struct config_model *cm =
		    config_model_find(&d->cfg, mf->model_id, mf->version);
		struct check_work *cw = calloc(1, sizeof(*cw));
		if (cw && cm && cm->oracle && !(cw->oracle = strdup(cm->oracle))) {
			free(cw);
			cw = NULL;
		}
		if (cw) {
			cw->req.data = cw;
			cw->reg = reg;
			cw->vault = d->vault;
			if (cm) /* one process: the check starts the oracle once */
				cw->oc =
				    (struct audit_oracle){.command = cw->oracle,
				                          .procs = 1,
				                          .timeout_ms = cm->oracle_timeout_ms,
				                          .background_size = cm->background_size};
			if (uv_queue_work(d->loop, &cw->req, run_check, check_done) == 0) {
				d->regs.verify_busy = true;
				return;
			}
			free(cw->oracle);
			free(cw);
		}
		registration_fail(reg, E(INTERNAL), "out of memory checking the artifact");
		reg_job_done_common(reg);
	}
}

/* Queues reg's check; it counts as a job in flight until check_done. */
static void registration_check(struct registration *reg)
{
	struct registration **p = &reg->d->regs.verifying;

	reg->jobs++;
	reg->check_next = NULL;
	while (*p)
		p = &(*p)->check_next;
	*p = reg;
	check_next(reg->d);
}

/* Moves to the next artifact the vault lacks, or checks and commits when none is left. */
static void registration_advance(struct registration *reg)
{
	for (int which = ART_MODEL; which <= ART_REFERENCE; which++) {
		if (reg->done[which] || (which == ART_REFERENCE && !want_reference(reg)))
			continue;
		if (reg->current != which) {
			reg->current = which;
			reg->received = 0;
			reg->sent_last = false;
			reg->requested = false;
		}
		if (blob_present(reg->d, art_hash_hex(reg, which)) && reg->received == 0 &&
		    !reg->sent_last) {
			/* Stored by an earlier registration: no upload; chunks a client
			 * streams anyway are dropped. */
			reg->done[which] = true;
			snprintf(reg->s->swallow_key, sizeof(reg->s->swallow_key), "%s", reg->key);
			continue;
		}
		if (!reg->requested)
			send_artifact_request(reg);
		return;
	}
	registration_check(reg);
}

struct chunk_job {
	struct job job;
	struct registration *reg;
	uint8_t *data;
	size_t len;
	bool last;
	int which;
	uint8_t expect[32];
	uint64_t expect_size;
};

static void run_chunk(struct job *j, struct vault *v)
{
	struct chunk_job *cj = (struct chunk_job *)j;
	struct registration *reg = cj->reg;
	int rc = 0;

	if (!reg->bw)
		rc = vault_blob_begin(v, &reg->bw);
	if (rc == 0 && cj->len)
		rc = vault_blob_write(reg->bw, cj->data, cj->len);
	if (rc == 0 && cj->last) {
		rc = vault_blob_finish(reg->bw, cj->expect, cj->expect_size, NULL);
		reg->bw = NULL; /* finish frees it, whatever the outcome */
		if (rc > 0)
			rc = 0; /* already stored */
	}
	j->rc = rc;
}

static void chunk_done(struct job *j)
{
	struct chunk_job *cj = (struct chunk_job *)j;
	struct registration *reg = cj->reg;
	struct session *s = j->owner;

	session_discharge(s, j->cost);
	free(cj->data);
	if (!reg->aborted) {
		if (j->rc < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s artifact of %s not stored: %s",
			         cj->which == ART_MODEL ? "model" : "reference data", reg->key,
			         j->rc == -EBADMSG
			             ? "its SHA-256 or size does not match the manifest"
			         : j->rc == -ENOSPC ? "the vault is full; retry later"
			                            : strerror(-j->rc));
			registration_fail(reg,
			                  j->rc == -EBADMSG ? E(SCHEMA_MISMATCH)
			                                    : dispatch_write_error(j->rc),
			                  msg);
		} else if (cj->last) {
			reg->done[cj->which] = true;
			reg_touch(reg);
			registration_advance(reg);
		} else {
			reg_touch(reg);
		}
	}
	free(cj);
	reg_job_done_common(reg);
	session_unref(s);
}

void registration_chunk(struct session *s, const Evident__V1__ArtifactChunk *c)
{
	struct registration *reg = s->reg;
	char key[KEY_MAX];
	int which;

	if (registry_key(c->model_id, c->version, key, sizeof(key)) < 0) {
		session_reply_error(s, E(BAD_MESSAGE),
		                    "artifact chunk: model id or version too long", NULL);
		return;
	}
	if (s->swallow_key[0] && strcmp(key, s->swallow_key) == 0 &&
	    (!reg || strcmp(reg->key, key)))
		return; /* an upload the daemon did not need */
	if (!reg || strcmp(reg->key, key) != 0) {
		session_reply_error(
		    s, E(BAD_MESSAGE),
		    "artifact chunk for a model with no registration in progress on this "
		    "connection (send RegisterModel first)",
		    key);
		return;
	}
	which = c->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA ? ART_REFERENCE
	        : c->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL        ? ART_MODEL
	                                                                     : -1;
	if (which < 0 || (which == ART_REFERENCE && !want_reference(reg))) {
		registration_fail(reg, E(BAD_MESSAGE),
		                  "artifact chunk kind must be MODEL, or REFERENCE_DATA when the "
		                  "manifest names reference data");
		return;
	}
	if (reg->done[which] && s->swallow_key[0] && !strcmp(s->swallow_key, key))
		return; /* already stored: dropped */
	if (which != reg->current || reg->sent_last || reg->done[which]) {
		registration_fail(reg, E(BAD_MESSAGE),
		                  which == ART_REFERENCE && !reg->done[ART_MODEL]
		                      ? "reference data sent before the model artifact finished"
		                      : "artifact chunk after its last chunk");
		return;
	}
	uint64_t off = c->has_offset ? c->offset : 0;
	size_t len = c->has_data ? c->data.len : 0;
	if (off != reg->received) {
		char msg[128];
		snprintf(msg, sizeof(msg), "artifact chunk at offset %llu, expected %llu",
		         (unsigned long long)off, (unsigned long long)reg->received);
		registration_fail(reg, E(BAD_MESSAGE), msg);
		return;
	}
	if (len > art_size(reg, which) - reg->received) {
		registration_fail(reg, E(SCHEMA_MISMATCH),
		                  "artifact is longer than the size in the manifest");
		return;
	}
	struct chunk_job *cj = calloc(1, sizeof(*cj));
	if (!cj || (len && !(cj->data = malloc(len)))) {
		free(cj);
		registration_fail(reg, E(INTERNAL), "out of memory");
		return;
	}
	if (len)
		memcpy(cj->data, c->data.data, len);
	cj->reg = reg;
	cj->len = len;
	cj->which = which;
	cj->last = c->has_last && c->last;
	if (cj->last) {
		vault_unhex(art_hash_hex(reg, which), 64, cj->expect);
		cj->expect_size = art_size(reg, which);
		reg->sent_last = true;
	}
	reg->received += len;
	reg_touch(reg);
	cj->job.run = run_chunk;
	cj->job.done = chunk_done;
	cj->job.owner = s;
	cj->job.cost = len;
	reg->jobs++;
	session_charge(s, cj->job.cost);
	writer_submit(&s->d->writer, &cj->job);
}

/* A private copy of a decoded manifest (the frame's memory goes with the frame). */
static Evident__V1__ModelManifest *manifest_copy(const Evident__V1__ModelManifest *m)
{
	uint8_t *bytes;
	size_t len;
	Evident__V1__ModelManifest *copy;

	if (dispatch_pack(&m->base, &bytes, &len) < 0)
		return NULL;
	copy = evident__v1__model_manifest__unpack(NULL, len, bytes);
	free(bytes);
	return copy;
}

void registration_begin(struct session *s, const Evident__V1__RegisterModel *rm)
{
	struct daemon *d = s->d;
	struct registration *reg;
	const struct model_info *mi;
	char err[256];
	dispatch_code code;

	if (!rm->manifest) {
		session_reply_error(s, E(BAD_MESSAGE), "RegisterModel without a manifest", NULL);
		return;
	}
	if (s->reg) {
		session_reply_error(s, E(BAD_MESSAGE),
		                    "a registration is already in progress on this connection",
		                    NULL);
		return;
	}
	code = dispatch_check_manifest(rm->manifest, err, sizeof(err));
	if (code) {
		char key[KEY_MAX];
		registry_key(rm->manifest->model_id, rm->manifest->version, key, sizeof(key));
		session_reply_error(s, code, err, key);
		return;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg || !(reg->manifest = manifest_copy(rm->manifest)) ||
	    dispatch_manifest_canonical(reg->manifest, NULL, NULL, reg->digest) < 0) {
		if (reg)
			registration_free(reg);
		session_reply_error(s, E(INTERNAL), "out of memory", NULL);
		return;
	}
	reg->d = d;
	registry_key(reg->manifest->model_id, reg->manifest->version, reg->key, sizeof(reg->key));
	mi = registry_find(&d->models, reg->manifest->model_id, reg->manifest->version);
	if (mi) {
		if (memcmp(mi->digest, reg->digest, 32) == 0) {
			struct vault_append_result r = {.seq = mi->seq, .duplicate = true};
			memcpy(r.leaf_hash, mi->leaf_hash, 32);
			session_reply_ack(s, reg->key, &r);
			snprintf(s->swallow_key, sizeof(s->swallow_key), "%s", reg->key);
		} else {
			session_reply_error(s, E(CONFLICT),
			                    "a different manifest is already registered under this "
			                    "ID@VERSION (register a new version)",
			                    reg->key);
		}
		registration_free(reg);
		return;
	}
	for (struct registration *o = d->regs.active; o; o = o->next)
		if (strcmp(o->key, reg->key) == 0) {
			/* busy, not a conflict: the same manifest may well be on its way */
			session_reply_error(
			    s, E(OVERLOADED),
			    "this ID@VERSION is being registered by another connection; "
			    "retry when it is done",
			    reg->key);
			registration_free(reg);
			return;
		}
	reg->s = s;
	reg->current = -1;
	reg->next = d->regs.active;
	d->regs.active = reg;
	s->reg = reg;
	s->swallow_key[0] = '\0';
	track(reg);
	registration_advance(reg);
}

/* ------------------------------------------------------------------ the connection closes */

void registration_cancel(struct session *s)
{
	if (s->reg)
		registration_abort(s->reg);
}

/* ------------------------------------------------------------------ registration_timeout */

static uint64_t ms(uint32_t seconds)
{
	return (uint64_t)seconds * 1000;
}

/* Registrations without progress for registration_timeout are dropped; one whose chunks are
 * being written or whose artifact is being loaded is looked at again a timeout later. */
static void on_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	const struct config *c = &d->cfg;
	uint64_t now = uv_now(d->loop);
	struct tnode *n;
	char msg[200];

	while ((n = d->regs.wait.head) && n->since + ms(c->registration_timeout_s) <= now) {
		struct registration *reg = NODE_OF(n, struct registration, node);
		if (reg->jobs) { /* its chunks are being written, or its artifact loaded */
			track(reg);
			continue;
		}
		snprintf(msg, sizeof(msg),
		         "no artifact chunk for %u s (registration_timeout): the registration is "
		         "dropped; register again",
		         c->registration_timeout_s);
		registration_fail(reg, E(OVERLOADED), msg);
	}
	session_flush_dirty(d);
	timer_arm(d);
}

/* Runs the timer at the deadline of the oldest registration (stops it when none). */
static void timer_arm(struct daemon *d)
{
	uv_timer_t *t = &d->regs.timer;
	const struct tnode *n = d->regs.wait.head;
	uint64_t now, due;

	if (!t->data) /* not started, or stopped */
		return;
	if (!n) {
		uv_timer_stop(t);
		return;
	}
	due = n->since + ms(d->cfg.registration_timeout_s);
	now = uv_now(d->loop);
	uv_timer_start(t, on_timer, due > now ? due - now : 0, 0);
}

void registration_timer_start(struct daemon *d)
{
	uv_timer_init(d->loop, &d->regs.timer);
	d->regs.timer.data = d;
}

void registration_timer_reconfigure(struct daemon *d)
{
	timer_arm(d);
}

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void registration_timer_stop(struct daemon *d)
{
	if (!d->regs.timer.data)
		return;
	d->regs.timer.data = NULL;
	uv_close((uv_handle_t *)&d->regs.timer, on_timer_closed);
}
