/* The timer (DESIGN §6.3), the only one: every timing of a launch, in the
 * tuner's workers, kbench and the tests, goes through it. Warm-up, then
 * samples until there are enough of them and enough time has passed, then
 * robust statistics.
 *
 * The sampling loop runs over two callbacks (flush the L2, time one launch)
 * so that its rules are tested without a GPU; pt_measure_gpu_* binds them to
 * a device: GPU events around each launch and, in the cold regime, a memset
 * of pt_measure_flush_bytes before each one (outside the timed region).
 */
#ifndef PT_MEASURE_H
#define PT_MEASURE_H

#include <stddef.h>

#include "error.h"
#include "gpu.h"

typedef struct pt_measure_opts_s {
  int warmup;        /* untimed launches first */
  int min_samples;   /* at least this many timed launches */
  double min_ms;     /* and at least this much wall time in the timed loop */
  int max_samples;   /* never more than this many */
  int cold;          /* flush the L2 before every launch, warm-up included */
} pt_measure_opts_t;

/* 3 warm-up launches, >= 25 samples and >= 200 ms, <= 5000 samples, cold. */
void pt_measure_opts_default(pt_measure_opts_t *o);
/* PT_EINVAL naming the field for a negative or inconsistent value. */
int pt_measure_opts_check(const pt_measure_opts_t *o, pt_err_t *err);

typedef struct pt_measure_stats_s {
  int samples;
  double median, min, p90, max, mean;
  double spread;     /* median absolute deviation / median */
} pt_measure_stats_t;

/* Statistics of n > 0 samples (the array is left as given). Median and p90
 * interpolate linearly between order statistics. PT_EINVAL for n < 1 or a
 * sample that is negative or not finite. */
int pt_measure_stats(const double *samples, int n, pt_measure_stats_t *out,
                     pt_err_t *err);

/* ---- the sampling loop ---- */

typedef struct pt_measure_ops_s {
  int (*flush)(void *ud, pt_err_t *err);                 /* cold regime */
  int (*sample)(void *ud, double *us, pt_err_t *err);    /* one timed launch */
  double (*now_ms)(void *ud);  /* monotonic wall clock; NULL: uv_hrtime */
} pt_measure_ops_t;

/* Runs warm-up and sampling per o. A failing callback stops the loop and its
 * code is returned. On success out holds the statistics; samples (may be
 * NULL) gets the malloc'd sample array of out->samples entries. */
int pt_measure_run(const pt_measure_opts_t *o, const pt_measure_ops_t *ops,
                   void *ud, pt_measure_stats_t *out, double **samples,
                   pt_err_t *err);

/* ---- on a device ---- */

/* The flush policy: bytes written before each cold launch on a device with
 * an L2 of l2_bytes, max(4 x L2, 64 MiB). One L2's worth is not enough: the
 * replacement is not LRU and a partitioned L2 (H100, H200) may hold a line
 * in both halves, so lines of the timed kernel's data can survive it; four
 * capacities' worth leave no survivor worth measuring, for ~60 us of memset
 * per launch on an H100, outside the timed region. The floor covers a
 * device that reports no L2 size. */
size_t pt_measure_flush_bytes(size_t l2_bytes);

typedef struct pt_measure_gpu_s {
  pt_gpu_t *gpu;
  pt_gpu_stream_t *stream;
  pt_gpu_event_t *start, *stop;
  pt_gpu_ptr_t flush_buf;   /* made at the first cold launch; 0 before */
  size_t flush_bytes;
  unsigned flush_byte;      /* changes per flush so no write is a no-op */
} pt_measure_gpu_t;

/* Creates a stream and two events on gpu; the flush buffer is allocated
 * by the first cold run, so a process that never times cold never holds
 * one. Release with pt_measure_gpu_free in every case. */
int pt_measure_gpu_init(pt_measure_gpu_t *m, pt_gpu_t *gpu, pt_err_t *err);
void pt_measure_gpu_free(pt_measure_gpu_t *m);

/* Enqueues the work to time on stream (one or more kernel launches). */
typedef int (*pt_measure_launch_fn)(void *ud, pt_gpu_stream_t *stream,
                                    pt_err_t *err);

/* Times launch per o on m: each sample is the event-measured time of one
 * launch on m->stream, after a flush in the cold regime. */
int pt_measure_gpu_run(pt_measure_gpu_t *m, const pt_measure_opts_t *o,
                       pt_measure_launch_fn launch, void *ud,
                       pt_measure_stats_t *out, pt_err_t *err);

#endif
