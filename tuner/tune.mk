# tuner/tune.mk: the tuning engine: plan, measure, the worker protocol, the
# worker and the supervisor, the tune and worker commands, and their tests.
libpipetune_a_SOURCES += tuner/plan.c tuner/plan.h \
	tuner/measure.c tuner/measure.h \
	tuner/proto.c tuner/proto.h \
	tuner/worker.c tuner/worker.h tuner/worker_gpu.c \
	tuner/supervisor.c tuner/supervisor.h

pipetune_SOURCES += tuner/cmd_tune.c tuner/cmd_worker.c

check_PROGRAMS += tests/test_proto tests/test_plan tests/test_measure \
	tests/test_tune_faults
TESTS += tests/test_proto tests/test_plan tests/test_measure \
	tests/test_tune_faults

tests_test_proto_SOURCES = tests/test_proto.c
tests_test_proto_CFLAGS = $(TEST_CFLAGS)
tests_test_proto_LDADD = $(TEST_LIBS)

tests_test_plan_SOURCES = tests/test_plan.c
tests_test_plan_CFLAGS = $(TEST_CFLAGS)
tests_test_plan_LDADD = $(TEST_LIBS)

tests_test_measure_SOURCES = tests/test_measure.c
tests_test_measure_CFLAGS = $(TEST_CFLAGS)
tests_test_measure_LDADD = $(TEST_LIBS)

tests_test_tune_faults_SOURCES = tests/test_tune_faults.c
tests_test_tune_faults_CFLAGS = $(TEST_CFLAGS)
tests_test_tune_faults_LDADD = $(TEST_LIBS)
