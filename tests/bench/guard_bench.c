/* SPDX-License-Identifier: Apache-2.0 */
/* guard-bench: what the guards cost a record on the event loop: nanoseconds per
 * guards_evaluate (daemon/guards.c, the daemon's own code) with the 10 guards of
 * guard-ingest-bench.sh on evident-load's records (50 features, context.amount, labels desk
 * and 8 pads), none catching and one holding 1% of them; beside it, in the same run, the
 * same loop without guards (the floor).
 *
 *   guard-bench [N (2000000)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "guards.h"
#include "registry.h"
#include "triggers.h"

#define M 50

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *guards_conf(const char *first)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf),
	         "[daemon]\n"
	         "[guard g0]\nwhen = %s\naction = hold\nreason = amount at the desk limit\n"
	         "[guard g1]\nwhen = feature.f0 > 2 && decision == \"decline\"\naction = hold\n"
	         "reason = r\n"
	         "[guard g2]\nwhen = feature.f1 + feature.f2 > 5\naction = review\nreason = r\n"
	         "[guard g3]\nwhen = abs(feature.f3 - 0.5) > 1\naction = review\nreason = r\n"
	         "[guard g4]\nwhen = score > 2 || score < -1\naction = hold\nreason = r\n"
	         "[guard g5]\nwhen = label.desk in [\"none\", \"other\"]\naction = hold\n"
	         "reason = r\n"
	         "[guard g6]\nwhen = max(feature.f4, feature.f5, feature.f6) > 1.5\n"
	         "action = review\nreason = r\n"
	         "[guard g7]\nwhen = context.amount < 0\naction = hold\nreason = r\n"
	         "[guard g8]\nwhen = feature.f7 * feature.f8 > 3 && feature.f9 < 0\n"
	         "action = review\nreason = r\n"
	         "[guard g9]\nmodel = none\nwhen = true\naction = hold\nreason = another model\n",
	         first);
	return buf;
}

static int load(const char *text, struct config *c)
{
	char path[] = "/tmp/guard-bench-XXXXXX", err[600];
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("guard-bench: temporary config");
		return -1;
	}
	close(fd);
	int rc = config_load(path, c, err, sizeof(err));
	unlink(path);
	if (rc < 0)
		fprintf(stderr, "guard-bench: %s\n", err);
	return rc;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	static char names[M][8];
	static Evident__V1__Feature feat[M], *featp[M];
	Evident__V1__ModelManifest man = EVIDENT__V1__MODEL_MANIFEST__INIT;
	struct model_info mi = {.key = "evident-load@50", .manifest = &man};

	for (int j = 0; j < M; j++) {
		evident__v1__feature__init(&feat[j]);
		snprintf(names[j], sizeof(names[j]), "f%d", j);
		feat[j].name = names[j];
		featp[j] = &feat[j];
	}
	man.model_id = "evident-load";
	man.version = "50";
	man.n_features = M;
	man.features = featp;

	/* evident-load's records, varied as it varies them */
	enum { R = 8192 };
	static double x[R][M], amount[R], score[R];
	static Evident__V1__Record rec[R];
	static Evident__V1__Record__ContextEntry ce[R], *cep[R];
	static Evident__V1__Record__LabelsEntry le[R][9], *lep[R][9];
	static char pads[8][8];
	uint64_t seed = 1;
	for (int i = 0; i < R; i++) {
		for (int j = 0; j < M; j++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			x[i][j] = (double)((seed >> 33) % 10000) / 10000.0;
		}
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		amount[i] = (double)((seed >> 33) % 100000) / 100.0;
		score[i] = 0.5;
		evident__v1__record__init(&rec[i]);
		rec[i].model_id = "evident-load";
		rec[i].model_version = "50";
		rec[i].request_id = "r";
		rec[i].features = x[i];
		rec[i].n_features = M;
		rec[i].scores = &score[i];
		rec[i].n_scores = 1;
		rec[i].decision = i % 3 ? "approve" : "decline";
		evident__v1__record__context_entry__init(&ce[i]);
		ce[i].key = "amount";
		ce[i].value = amount[i];
		cep[i] = &ce[i];
		rec[i].context = &cep[i];
		rec[i].n_context = 1;
		for (int k = 0; k < 9; k++) {
			evident__v1__record__labels_entry__init(&le[i][k]);
			snprintf(pads[k % 8], sizeof(pads[0]), "pad%d", k % 8);
			le[i][k].key = k ? pads[k - 1] : "desk";
			le[i][k].value = k ? "xxxxxxxxxxxxxxxx" : "fx";
			lep[i][k] = &le[i][k];
		}
		rec[i].labels = lep[i];
		rec[i].n_labels = 9;
	}

	const char *conds[] = {"context.amount > 1e9", "context.amount >= 990"};
	const char *what[] = {"10 guards, none catching", "10 guards, 1% held"};
	double per[3] = {0};
	size_t caught[3] = {0};
	uint64_t lost = 0;
	for (int round = 0; round < 3; round++) {
		for (int v = 0; v < 3; v++) {
			struct config c;
			struct guards *g = NULL;
			if (v > 0 &&
			    (load(guards_conf(conds[v - 1]), &c) < 0 || guards_new(&c, &g) < 0))
				return 1;
			struct guard_catch gc;
			size_t hits = 0;
			double t0 = now();
			for (long i = 0; i < n; i++) {
				struct firing *f = NULL;
				if (g)
					guards_evaluate(g, &mi, &rec[i % R], "bench", (uint64_t)i,
					                &gc, &f, &lost);
				else
					gc.n = rec[i % R].n_features == 0; /* the loop alone */
				hits += gc.n;
			}
			double ns = (now() - t0) * 1e9 / (double)n;
			if (!round || ns < per[v])
				per[v] = ns;
			caught[v] = hits;
			if (g) {
				guards_free(g);
				config_deinit(&c);
			}
		}
	}
	printf("guards_evaluate on evident-load's records (50 features), best of 3 rounds of %ld\n",
	       n);
	printf("%-28s %8.1f ns/record\n", "no guards (the loop)", per[0]);
	for (int v = 1; v < 3; v++)
		printf("%-28s %8.1f ns/record   caught %.2f%%\n", what[v - 1], per[v],
		       100.0 * (double)caught[v] / (double)n);
	return lost ? 1 : 0;
}
