/* Seeded routings of tokens to experts (DESIGN §4 "problem"): uniform or
 * Zipf-skewed distinct top-k experts per token and softmax routing weights,
 * drawn with the project's seeded generator (rng.h), so a seed gives the
 * same routing on every platform.
 *
 * Routing specs, the one rule every command uses (tune, verify, query, emit,
 * report, diff): "uniform", or "zipf:S" with S a finite number > 0, the Zipf
 * exponent (expert of popularity rank r, from 1, drawn with weight r^-S;
 * which expert holds which rank is itself seeded). "zipf:0" is refused: it
 * is the uniform distribution, and one distribution has one spelling so that
 * its results are found under it.
 */
#ifndef PT_ROUTING_H
#define PT_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Largest top-k: slots must fit the 7 bits above the token of a sorted id
 * (moe.h) with the id staying non-negative. */
#define PT_ROUTING_TOPK_MAX 128

typedef enum {
  PT_ROUTING_UNIFORM = 0,
  PT_ROUTING_ZIPF = 1,
} pt_routing_kind_t;

typedef struct pt_routing_s {
  pt_routing_kind_t kind;
  double zipf_s;  /* Zipf exponent, finite and > 0; 0 for uniform */
} pt_routing_t;

/* Parses a routing spec (see above); PT_EINVAL quoting spec otherwise. */
int pt_routing_parse(const char *spec, pt_routing_t *out, pt_err_t *err);
/* "uniform" or "zipf": the kind as the database's routing column holds it
 * (the exponent goes in routing_param). */
const char *pt_routing_kind_name(pt_routing_kind_t kind);
/* Writes the spelling ("uniform", "zipf:1.2") into buf; returns buf. */
char *pt_routing_format(const pt_routing_t *r, char *buf, size_t len);

/* Draws K distinct experts of E for each of M tokens into ids[M*K] and their
 * weights into w[M*K]: a softmax over seeded normal-ish logits of the chosen
 * experts (sum 1 per token). Slots are in draw order. Deterministic in
 * (routing, M, E, K, seed). PT_EINVAL for K < 1, K > E, K > PT_ROUTING_TOPK_MAX,
 * M < 0 or a Zipf exponent that pt_routing_parse would refuse. */
int pt_routing_topk(const pt_routing_t *r, int M, int E, int K, uint64_t seed,
                    int32_t *ids, float *w, pt_err_t *err);

/* Router top-k from logits [M, E]: the K largest logits of each token (ties
 * to the lower expert id), in descending order of logit, into ids[M*K].
 * Weights: with renormalize, the softmax over the chosen logits (sum 1);
 * without, the chosen experts' probabilities under the softmax over all E. */
int pt_routing_topk_softmax(const float *logits, int M, int E, int K,
                            int renormalize, int32_t *ids, float *w,
                            pt_err_t *err);

#endif
