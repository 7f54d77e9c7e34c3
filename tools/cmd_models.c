/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl models / lineage ID[@VER]: the registered model versions with their artifact
 * and whether their lineage is complete, and one model's lineage chain through its parent
 * versions. An audit of a model version without a training-data hash or a code commit is
 * incomplete: both verbs say so. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

/* The lineage fields an audit needs that mf lacks, as "training_data_sha256, code_commit"
 * into buf (empty when complete). */
static const char *missing_lineage(const Evident__V1__ModelManifest *mf, char *buf, size_t size)
{
	const Evident__V1__Lineage *l = mf->lineage;
	bool data = l && l->training_data_sha256 && *l->training_data_sha256;
	bool code = l && l->code_commit && *l->code_commit;

	snprintf(buf, size, "%s%s%s", data ? "" : "training_data_sha256",
	         !data && !code ? ", " : "", code ? "" : "code_commit");
	return buf;
}

static int load(const struct ctl *c, struct ctl_vault *cv, struct ctl_models **ret)
{
	int rc = ctl_vault_open(c, cv);

	if (rc)
		return rc;
	*ret = ctl_models_new();
	rc = *ret ? ctl_models_load(*ret, cv->r, 0, vault_reader_size(cv->r)) : -ENOMEM;
	if (rc < 0) {
		rc = ctl_vault_error(cv, "cannot read model entries", rc);
		ctl_models_free(*ret);
		ctl_vault_close(cv);
		return rc;
	}
	return 0;
}

static json_t *model_json(const Evident__V1__ModelManifest *mf, uint64_t seq)
{
	json_t *o = json_object(), *missing = json_array();
	const Evident__V1__Lineage *l = mf->lineage;
	char buf[64];

	ctl_json_set(o, "model_id", ctl_json_string(mf->model_id));
	ctl_json_set(o, "version", ctl_json_string(mf->version));
	ctl_json_set(o, "seq", ctl_json_u64(seq));
	ctl_json_set(o, "framework", ctl_json_string(mf->framework));
	ctl_json_set(o, "features", json_integer((json_int_t)mf->n_features));
	ctl_json_set(o, "artifact_sha256", ctl_json_string(mf->artifact_sha256));
	ctl_json_set(o, "artifact_size", ctl_json_u64(mf->artifact_size));
	ctl_json_set(o, "reference_data_sha256", ctl_json_string(mf->reference_data_sha256));
	ctl_json_set(o, "training_data_uri", ctl_json_string(l ? l->training_data_uri : NULL));
	ctl_json_set(o, "training_data_sha256",
	             ctl_json_string(l ? l->training_data_sha256 : NULL));
	ctl_json_set(o, "code_uri", ctl_json_string(l ? l->code_uri : NULL));
	ctl_json_set(o, "code_commit", ctl_json_string(l ? l->code_commit : NULL));
	ctl_json_set(o, "parent_version", ctl_json_string(l ? l->parent_version : NULL));
	ctl_json_set(o, "created_at", ctl_json_string(l ? l->created_at : NULL));
	ctl_json_set(o, "created_by", ctl_json_string(l ? l->created_by : NULL));
	missing_lineage(mf, buf, sizeof(buf));
	for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", "))
		json_array_append_new(missing, json_string(tok));
	ctl_json_set(o, "lineage_missing", missing);
	return o;
}

static int run_models(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct ctl_models *m;
	int rc;

	(void)argc;
	(void)argv;
	rc = load(c, &cv, &m);
	if (rc)
		return rc;
	if (!c->json)
		printf("%-36s %-14s %8s %-18s %-8s %s\n", "model@version", "framework", "features",
		       "artifact sha256", "seq", "lineage");
	for (size_t i = 0; i < ctl_models_count(m); i++) {
		uint64_t seq;
		const Evident__V1__ModelManifest *mf = ctl_models_at(m, i, &seq);
		if (c->json) {
			_cleanup_(json_decrefp) json_t *o = model_json(mf, seq);
			ctl_json_print(stdout, o, true);
			continue;
		}
		char key[300], miss[64];
		snprintf(key, sizeof(key), "%s@%s", mf->model_id ? mf->model_id : "",
		         mf->version ? mf->version : "");
		missing_lineage(mf, miss, sizeof(miss));
		printf("%-36s %-14s %8zu %-18.16s %-8" PRIu64 " %s%s\n", key,
		       mf->framework ? mf->framework : "", mf->n_features,
		       mf->artifact_sha256 ? mf->artifact_sha256 : "", seq,
		       *miss ? "INCOMPLETE: no " : "complete", miss);
	}
	if (!c->json)
		printf("%zu model version(s)\n", ctl_models_count(m));
	ctl_models_free(m);
	ctl_vault_close(&cv);
	return 0;
}

static int run_lineage(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct ctl_models *m;
	struct ctl_model_filter f;
	int rc;

	(void)argc;
	if (ctl_model_filter_parse(argv[0], &f))
		return CTL_EXIT_USAGE;
	rc = load(c, &cv, &m);
	if (rc)
		return rc;
	/* the newest matching version, unless one was named */
	const Evident__V1__ModelManifest *mf = NULL;
	for (size_t i = 0; i < ctl_models_count(m); i++) {
		const Evident__V1__ModelManifest *x = ctl_models_at(m, i, NULL);
		if (ctl_model_filter_match(&f, x->model_id, x->version))
			mf = x;
	}
	if (!mf) {
		ctl_error("no model %s in the vault (evidentctl models lists them)", argv[0]);
		ctl_models_free(m);
		ctl_vault_close(&cv);
		return CTL_EXIT_USAGE;
	}
	json_t *chain = c->json ? json_array() : NULL;
	size_t depth = 0;
	const char *id = mf->model_id;
	while (mf && depth++ < 1000) {
		uint64_t seq = 0;
		for (size_t i = 0; i < ctl_models_count(m); i++)
			if (ctl_models_at(m, i, &seq) == mf)
				break;
		const Evident__V1__Lineage *l = mf->lineage;
		char miss[64];
		missing_lineage(mf, miss, sizeof(miss));
		if (chain) {
			json_array_append_new(chain, model_json(mf, seq));
		} else {
			printf("%s%s@%s (entry %" PRIu64 ", %s, artifact %s)\n",
			       depth > 1 ? "  <- " : "", mf->model_id ? mf->model_id : "",
			       mf->version ? mf->version : "", seq,
			       mf->framework ? mf->framework : "?",
			       mf->artifact_sha256 ? mf->artifact_sha256 : "?");
			printf("       training data %s%s%s\n",
			       l && l->training_data_uri ? l->training_data_uri : "(no uri)",
			       l && l->training_data_sha256 ? " sha256 " : "",
			       l && l->training_data_sha256 ? l->training_data_sha256 : "");
			printf("       code          %s%s%s\n",
			       l && l->code_uri ? l->code_uri : "(no uri)",
			       l && l->code_commit ? " commit " : "",
			       l && l->code_commit ? l->code_commit : "");
			if (l && (l->created_at || l->created_by))
				printf("       created       %s%s%s\n",
				       l->created_at ? l->created_at : "",
				       l->created_at && l->created_by ? " by " : "",
				       l->created_by ? l->created_by : "");
			if (*miss)
				printf("       WARNING: no %s: an audit of this version is "
				       "incomplete\n",
				       miss);
		}
		const char *parent =
		    l && l->parent_version && *l->parent_version ? l->parent_version : NULL;
		if (!parent)
			break;
		const Evident__V1__ModelManifest *next = ctl_models_find(m, id, parent);
		if (!next && !chain)
			printf("  <- %s@%s: not registered in this vault (the chain ends here)\n",
			       id, parent);
		mf = next;
	}
	if (chain) {
		ctl_json_print(stdout, chain, false);
		json_decref(chain);
	}
	ctl_models_free(m);
	ctl_vault_close(&cv);
	return 0;
}

static const struct option no_options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_models = {
    .name = "models",
    .summary = "list the registered model versions and their lineage status",
    .synopsis = "models",
    .description =
        "Lists every registered model version in registration order: framework, feature\n"
        "count, artifact hash (the artifact itself is stored in the vault by this hash), the\n"
        "seq of its model entry, and whether its lineage is complete: a version without a\n"
        "training-data hash or a code commit is marked INCOMPLETE, because an audit of its\n"
        "decisions could not say what it was trained on. With --json one object per\n"
        "version: model_id, version, seq, framework, features, artifact_sha256,\n"
        "artifact_size, reference_data_sha256, training_data_uri, training_data_sha256,\n"
        "code_uri, code_commit, parent_version, created_at, created_by, lineage_missing.",
    .exit_status = "0  success\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl models\n"
                "evidentctl models --json | jq 'select(.lineage_missing != [])'",
    .long_options = no_options,
    .run = run_models,
};

const struct ctl_verb ctl_verb_lineage = {
    .name = "lineage",
    .summary = "show a model version's lineage chain",
    .synopsis = "lineage ID[@VER]",
    .description =
        "Shows the lineage of model version ID@VER (the newest registered version of ID\n"
        "without @VER): training data and its hash, code and its commit, who created it and\n"
        "when, then its parent version's, and so on while the parents are registered in the\n"
        "vault. Versions missing a training-data hash or a code commit are flagged: an\n"
        "audit of their decisions is incomplete. With --json: an array, the version first\n"
        "then its ancestors, each as in 'models --json'.",
    .exit_status = "0  success\n"
                   "2  usage error, or no such model in the vault\n"
                   "3  the vault could not be read",
    .examples = "evidentctl lineage credit-risk\n"
                "evidentctl lineage credit-risk@2.0.0 --json",
    .long_options = no_options,
    .min_args = 1,
    .max_args = 1,
    .args_name = "ID[@VER]",
    .run = run_lineage,
};
