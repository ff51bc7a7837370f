# tuner/pipe/: one problem on one GPU: inputs, the compile request of a
# variant, uploads and launches, verification against the oracle, timing.
libpipetune_a_SOURCES += tuner/pipe/problem.c tuner/pipe/problem.h \
	tuner/pipe/kernel_job.c tuner/pipe/kernel_job.h \
	tuner/pipe/pipeline.c tuner/pipe/pipeline.h \
	tuner/pipe/verify.c tuner/pipe/verify.h \
	tuner/pipe/measure.c tuner/pipe/measure.h

check_PROGRAMS += tests/test_problem tests/test_verify tests/test_measure
TESTS += tests/test_problem tests/test_verify tests/test_measure
tests_test_problem_SOURCES = tests/test_problem.c
tests_test_problem_CFLAGS = $(TEST_CFLAGS)
tests_test_problem_LDADD = $(TEST_LIBS)
tests_test_verify_SOURCES = tests/test_verify.c
tests_test_verify_CFLAGS = $(TEST_CFLAGS)
tests_test_verify_LDADD = $(TEST_LIBS)
tests_test_measure_SOURCES = tests/test_measure.c
tests_test_measure_CFLAGS = $(TEST_CFLAGS)
tests_test_measure_LDADD = $(TEST_LIBS)
