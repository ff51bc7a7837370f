# tuner/engine/: the tuning engine: the plan, the worker protocol, the worker,
# the worker pool, compile units and their cache, the run's DB record, and
# the supervisor that dispatches between them.
libpipetune_a_SOURCES += tuner/engine/plan.c tuner/engine/plan.h \
	tuner/engine/proto.c tuner/engine/proto.h \
	tuner/engine/worker.c tuner/engine/worker.h tuner/engine/worker_gpu.c \
	tuner/engine/pool.c tuner/engine/pool.h \
	tuner/engine/units.c tuner/engine/units.h \
	tuner/engine/record.c tuner/engine/record.h \
	tuner/engine/supervisor.c tuner/engine/supervisor.h \
	tuner/engine/search.c tuner/engine/search.h \
	tuner/engine/searchrun.c tuner/engine/searchrun.h \
	tuner/engine/searchsup.c tuner/engine/searchsup.h

check_PROGRAMS += tests/test_proto tests/test_plan tests/test_pool tests/test_tune_faults \
	tests/test_search
TESTS += tests/test_proto tests/test_plan tests/test_pool tests/test_tune_faults \
	tests/test_search
tests_test_proto_SOURCES = tests/test_proto.c
tests_test_proto_CFLAGS = $(TEST_CFLAGS)
tests_test_proto_LDADD = $(TEST_LIBS)
tests_test_plan_SOURCES = tests/test_plan.c
tests_test_plan_CFLAGS = $(TEST_CFLAGS)
tests_test_plan_LDADD = $(TEST_LIBS)
tests_test_pool_SOURCES = tests/test_pool.c
tests_test_pool_CFLAGS = $(TEST_CFLAGS)
tests_test_pool_LDADD = $(TEST_LIBS)
tests_test_tune_faults_SOURCES = tests/test_tune_faults.c
tests_test_tune_faults_CFLAGS = $(TEST_CFLAGS)
tests_test_tune_faults_LDADD = $(TEST_LIBS)
tests_test_search_SOURCES = tests/test_search.c
tests_test_search_CFLAGS = $(TEST_CFLAGS)
tests_test_search_LDADD = $(TEST_LIBS)
# The recorded exhaustive tunes the search replay reads (the whole folder:
# a new CSV needs no line here).
EXTRA_DIST += bench/search-csv bench/search

# The deployed pair timed (tune --pairs, query pairs) through the real binary
# with the simulated worker.
check_PROGRAMS += tests/test_tune_pairs
TESTS += tests/test_tune_pairs
tests_test_tune_pairs_SOURCES = tests/test_tune_pairs.c
tests_test_tune_pairs_CFLAGS = $(TEST_CFLAGS)
tests_test_tune_pairs_LDADD = $(TEST_LIBS)
