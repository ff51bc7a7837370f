/* The worker pool alone (pool.h): real child processes (this program
 * re-executed as `test_pool --worker --gpu N`) speaking the protocol, and
 * the pool's callbacks as the only contact. Each task's line tells the
 * worker what to do with it: answer ("ok"), die ("crash"), hang after
 * begin ("hang"), report a lost device ("fatal") or write garbage
 * ("garbage"). Checked: next_task and task_done, crashes and timeouts with
 * their exit status and reason, restarts, and that every task handed out is
 * done exactly once.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "checkmain.h"
#include "pool.h"
#include "proto.h"
#include "testutil.h"

#define TASKS_MAX 16
#define SLOTS_MAX 4

/* ---- the worker ---- */

static void put_line(char *line) {
  if (line != NULL) fputs(line, stdout);
  fflush(stdout);
  free(line);
}

static void put_result(int64_t id, int fatal) {
  pt_proto_result_t r;
  pt_proto_result_init(&r, id);
  r.median_us = r.min_us = r.p90_us = 10.0;
  r.spread = 0.0;
  r.samples = 5;
  r.fatal = fatal;
  if (fatal) {
    snprintf(r.status, sizeof r.status, "crash");
    snprintf(r.reason, sizeof r.reason, "device lost");
  }
  put_line(pt_proto_result(&r));
}

static void run_task(int64_t id, const char *what) {
  if (strcmp(what, "garbage") == 0) {
    put_line(strdup("this is not json\n"));
    return;
  }
  put_line(pt_proto_begin(id));
  if (strcmp(what, "crash") == 0) raise(SIGKILL);
  if (strcmp(what, "hang") == 0)
    for (;;) pause();
  put_result(id, strcmp(what, "fatal") == 0);
  if (strcmp(what, "fatal") == 0) exit(3);
}

/* Says hello (unless PT_POOL_TEST_MUTE is set), then runs each line
 * {"type":"item","id":N,"do":"WHAT"} until stdin ends. */
static int worker_main(int argc, char **argv) {
  char line[512], what[32];
  long long id;
  signal(SIGPIPE, SIG_IGN);
  if (getenv("PT_POOL_TEST_MUTE") != NULL)
    for (;;) pause();
  pt_gpu_props_t props = pt_test_gpu_props(PT_GPU_CUDA, "fake", "sm_90", "0000:01:00.0");
  props.ordinal = argc >= 4 ? atoi(argv[3]) : 0;
  put_line(pt_proto_hello(&props));
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (sscanf(line, "{\"type\":\"item\",\"id\":%lld,\"do\":\"%31[a-z]\"}", &id, what) != 2)
      return 2;
    run_task(id, what);
  }
  return 0;
}

/* ---- the pool's owner ---- */

typedef struct harness_s {
  uv_loop_t loop;
  pt_pool_t *pool;
  char exe[4096];
  const char *argv[3];
  const char *const *tasks;        /* task i (id i + 1): what the worker does */
  int ntasks, next;
  int done[TASKS_MAX];             /* task_done calls per task */
  pt_pool_end_t end[TASKS_MAX];
  int status[TASKS_MAX];
  int result_id[TASKS_MAX];
  char reason[TASKS_MAX][256];
  int slot_of[TASKS_MAX];
  int exits[SLOTS_MAX];
  int stop_running;                /* a forced stop once slot 0 runs its task */
  uv_timer_t stopper;
  char log[8192];
} harness_t;

static pt_pool_next_t next_task(void *ud, int slot, pt_pool_task_t *task) {
  harness_t *h = ud;
  if (h->next == h->ntasks) return PT_POOL_NONE;
  int i = h->next++;
  char line[128];
  snprintf(line, sizeof line, "{\"type\":\"item\",\"id\":%d,\"do\":\"%s\"}\n", i + 1,
           h->tasks[i]);
  task->id = i + 1;
  task->line = strdup(line);
  h->slot_of[i] = slot;
  return PT_POOL_TASK;
}

static void task_done(void *ud, int slot, const pt_pool_done_t *d) {
  harness_t *h = ud;
  ck_assert(d->id >= 1 && d->id <= h->ntasks);
  int i = (int)d->id - 1;
  ck_assert_int_eq(h->slot_of[i], slot);
  h->done[i]++;
  h->end[i] = d->end;
  h->status[i] = d->status;
  h->result_id[i] = d->result != NULL ? (int)d->result->id : -1;
  snprintf(h->reason[i], sizeof h->reason[i], "%s", d->reason != NULL ? d->reason : "");
}

/* A slot's worker ended: another one while tasks are left. */
static void exited(void *ud, int slot) {
  harness_t *h = ud;
  h->exits[slot]++;
  ck_assert_int_eq(pt_pool_state(h->pool, slot), PT_POOL_DOWN);
  if (h->next < h->ntasks) ck_assert_int_eq(pt_pool_start(h->pool, slot, NULL), PT_OK);
}

static void on_log(void *ud, int slot, const char *msg) {
  harness_t *h = ud;
  size_t n = strlen(h->log);
  snprintf(h->log + n, sizeof h->log - n, "%d: %s\n", slot, msg);
}

/* Polls until slot 0 runs its task, then stops the pool by force. */
static void on_stopper(uv_timer_t *t) {
  harness_t *h = t->data;
  if (pt_pool_state(h->pool, 0) != PT_POOL_RUNNING) return;
  pt_pool_stop(h->pool, 1);
  uv_close((uv_handle_t *)t, NULL);
}

static void harness_init(harness_t *h, const char *const *tasks, int ntasks) {
  memset(h, 0, sizeof *h);
  ssize_t len = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
  ck_assert(len > 0);
  h->argv[0] = h->exe;
  h->argv[1] = "--worker";
  h->tasks = tasks;
  h->ntasks = ntasks;
}

/* Runs the pool of nslots slots (gpus 5, 6, ...) until no worker is left. */
static void run_pool(harness_t *h, int nslots, double item_timeout_s, double setup_timeout_s) {
  static const int gpus[SLOTS_MAX] = {5, 6, 7, 8};
  pt_err_t err;
  ck_assert_int_eq(uv_loop_init(&h->loop), 0);
  pt_pool_opts_t o = {.loop = &h->loop, .argv = h->argv, .gpus = gpus, .nslots = nslots,
                      .item_timeout_s = item_timeout_s, .setup_timeout_s = setup_timeout_s,
                      .next_task = next_task, .task_done = task_done, .exited = exited,
                      .log = on_log, .ud = h};
  ck_assert_int_eq(pt_pool_new(&o, &h->pool, &err), PT_OK);
  if (h->stop_running) {
    uv_timer_init(&h->loop, &h->stopper);
    h->stopper.data = h;
    uv_timer_start(&h->stopper, on_stopper, 20, 20);
  }
  for (int i = 0; i < nslots; i++) ck_assert_int_eq(pt_pool_start(h->pool, i, &err), PT_OK);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  ck_assert(!pt_pool_busy(h->pool));
}

static void harness_free(harness_t *h) {
  pt_pool_free(h->pool);
  ck_assert_int_eq(uv_loop_close(&h->loop), 0);
}

/* Every task handed out was done exactly once. */
static void expect_each_done_once(const harness_t *h) {
  ck_assert_int_eq(h->next, h->ntasks);
  for (int i = 0; i < h->ntasks; i++)
    ck_assert_msg(h->done[i] == 1, "task %d done %d times\n%s", i + 1, h->done[i], h->log);
}

static void expect_result(const harness_t *h, int i) {
  ck_assert_msg(h->end[i] == PT_POOL_RESULT, "task %d ended %d: %s\n%s", i + 1, h->end[i],
                h->reason[i], h->log);
  ck_assert_int_eq(h->result_id[i], i + 1);
}

/* ---- tests ---- */

START_TEST(every_task_is_done_once_across_slots) {
  static const char *const tasks[] = {"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"};
  harness_t h;
  harness_init(&h, tasks, 8);
  run_pool(&h, 2, 10, 10);
  expect_each_done_once(&h);
  for (int i = 0; i < 8; i++) expect_result(&h, i);
  ck_assert_int_eq(h.exits[0], 1);  /* input shut after NONE: one worker each */
  ck_assert_int_eq(h.exits[1], 1);
  ck_assert_int_eq(pt_pool_restarts(h.pool), 0);
  const pt_gpu_props_t *p = pt_pool_props(h.pool, 1);
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->ordinal, 6);
  ck_assert_str_eq(p->arch, "sm_90");
  ck_assert_msg(h.log[0] == '\0', "%s", h.log);
  harness_free(&h);
}
END_TEST

START_TEST(a_killed_worker_is_a_crash_and_the_slot_restarts) {
  static const char *const tasks[] = {"ok", "crash", "ok"};
  harness_t h;
  harness_init(&h, tasks, 3);
  run_pool(&h, 1, 10, 10);
  expect_each_done_once(&h);
  expect_result(&h, 0);
  ck_assert_int_eq(h.end[1], PT_POOL_CRASH);
  ck_assert_int_eq(h.status[1], 128 + SIGKILL);
  ck_assert_str_eq(h.reason[1], "worker killed by signal 9");
  expect_result(&h, 2);
  ck_assert_int_eq(h.exits[0], 2);
  ck_assert_int_eq(pt_pool_restarts(h.pool), 1);
  harness_free(&h);
}
END_TEST

START_TEST(a_hung_item_times_out_and_the_slot_restarts) {
  static const char *const tasks[] = {"hang", "ok"};
  harness_t h;
  harness_init(&h, tasks, 2);
  run_pool(&h, 1, 0.3, 10);
  expect_each_done_once(&h);
  ck_assert_int_eq(h.end[0], PT_POOL_TIMEOUT);
  ck_assert_int_eq(h.status[0], 128 + SIGKILL);
  ck_assert_str_eq(h.reason[0], "no result within 0.3 s of the first launch");
  expect_result(&h, 1);
  ck_assert_int_eq(pt_pool_restarts(h.pool), 1);
  harness_free(&h);
}
END_TEST

START_TEST(a_protocol_error_kills_the_worker_as_a_crash) {
  static const char *const tasks[] = {"garbage", "ok"};
  harness_t h;
  harness_init(&h, tasks, 2);
  run_pool(&h, 1, 10, 10);
  expect_each_done_once(&h);
  ck_assert_int_eq(h.end[0], PT_POOL_CRASH);
  ck_assert_str_eq(h.reason[0], "worker killed by signal 9 (protocol error)");
  ck_assert_msg(strstr(h.log, "0: protocol error: "), "%s", h.log);
  expect_result(&h, 1);
  harness_free(&h);
}
END_TEST

/* A fatal result is a result; the worker is given nothing more and exits. */
START_TEST(a_fatal_result_ends_the_worker) {
  static const char *const tasks[] = {"fatal", "ok"};
  harness_t h;
  harness_init(&h, tasks, 2);
  run_pool(&h, 1, 10, 10);
  expect_each_done_once(&h);
  expect_result(&h, 0);
  expect_result(&h, 1);
  ck_assert_int_eq(h.exits[0], 2);
  ck_assert_msg(strstr(h.log, "0: worker exited with status 3"), "%s", h.log);
  harness_free(&h);
}
END_TEST

START_TEST(a_forced_stop_cancels_the_task_in_flight) {
  static const char *const tasks[] = {"hang", "ok"};
  harness_t h;
  harness_init(&h, tasks, 2);
  h.stop_running = 1;
  run_pool(&h, 1, 30, 30);
  ck_assert_int_eq(h.next, 1);  /* nothing asked after the stop */
  ck_assert_int_eq(h.done[0], 1);
  ck_assert_int_eq(h.end[0], PT_POOL_CANCELLED);
  ck_assert_int_eq(h.status[0], 128 + SIGKILL);
  ck_assert_int_eq(h.exits[0], 1);
  harness_free(&h);
}
END_TEST

START_TEST(a_worker_that_cannot_start_is_given_up) {
  static const char *const tasks[] = {"ok"};
  harness_t h;
  harness_init(&h, tasks, 1);
  h.argv[0] = "/nonexistent/pool-worker";
  run_pool(&h, 1, 10, 10);
  ck_assert_int_eq(h.next, 0);
  ck_assert_int_eq(h.exits[0], 3);
  ck_assert_msg(strstr(h.log, "0: worker for gpu 5 did not start: worker exited with status "
                              "127: cannot run '/nonexistent/pool-worker'"), "%s", h.log);
  ck_assert_msg(strstr(h.log, "0: giving up on gpu 5"), "%s", h.log);
  ck_assert_int_eq(pt_pool_start(h.pool, 0, NULL), PT_OK);  /* given up: nothing */
  ck_assert(!pt_pool_busy(h.pool));
  ck_assert_ptr_null(pt_pool_props(h.pool, 0));
  harness_free(&h);
}
END_TEST

START_TEST(a_silent_worker_is_killed_at_the_setup_timeout) {
  static const char *const tasks[] = {"ok"};
  harness_t h;
  harness_init(&h, tasks, 1);
  setenv("PT_POOL_TEST_MUTE", "1", 1);
  run_pool(&h, 1, 10, 0.2);
  unsetenv("PT_POOL_TEST_MUTE");
  ck_assert_int_eq(h.next, 0);
  ck_assert_int_eq(h.exits[0], 3);
  ck_assert_msg(strstr(h.log, "did not start: worker killed by signal 9"), "%s", h.log);
  harness_free(&h);
}
END_TEST

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--worker") == 0) return worker_main(argc, argv);
  Suite *s = suite_create("pool");
  TCase *tasks = tcase_create("tasks");
  tcase_set_timeout(tasks, 60);
  tcase_add_test(tasks, every_task_is_done_once_across_slots);
  tcase_add_test(tasks, a_fatal_result_ends_the_worker);
  suite_add_tcase(s, tasks);
  TCase *faults = tcase_create("faults");
  tcase_set_timeout(faults, 60);
  tcase_add_test(faults, a_killed_worker_is_a_crash_and_the_slot_restarts);
  tcase_add_test(faults, a_hung_item_times_out_and_the_slot_restarts);
  tcase_add_test(faults, a_protocol_error_kills_the_worker_as_a_crash);
  tcase_add_test(faults, a_forced_stop_cancels_the_task_in_flight);
  suite_add_tcase(s, faults);
  TCase *start = tcase_create("start");
  tcase_set_timeout(start, 60);
  tcase_add_test(start, a_worker_that_cannot_start_is_given_up);
  tcase_add_test(start, a_silent_worker_is_killed_at_the_setup_timeout);
  suite_add_tcase(s, start);
  return pt_test_run_suite(s);
}
