/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic random numbers for the sampled methods: xoshiro256** seeded by splitmix64,
 * so a seed gives bit-identical draws on every machine and run. Not for secrets. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ex_rng {
	uint64_t s[4];
};

void ex_rng_seed(struct ex_rng *r, uint64_t seed);
uint64_t ex_rng_next(struct ex_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ex_rng_uniform(struct ex_rng *r);
/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint64_t ex_rng_below(struct ex_rng *r, uint64_t n);
/* Standard normal (Box-Muller; both values used alternately is NOT done: one per call keeps
 * the stream simple to replay). */
double ex_rng_normal(struct ex_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void ex_rng_shuffle(struct ex_rng *r, size_t *idx, size_t n);
/* A 64-bit seed derived from bytes (e.g. a decision id): FNV-1a then splitmix64. */
uint64_t ex_rng_seed_from(const void *data, size_t len);
