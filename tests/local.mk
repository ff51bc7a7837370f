# tests/: shared test helpers and the GPU layer's tests.
noinst_LIBRARIES += tests/libtestutil.a
tests_libtestutil_a_SOURCES = tests/testutil.c tests/testutil.h \
	tests/checkmain.c tests/checkmain.h
tests_libtestutil_a_CFLAGS = $(TEST_CFLAGS)
# The libraries again after it: testutil.o calls into libpipetune (the GPU
# layer) and checkmain.o into the static libcheck.
TEST_LIBS += tests/libtestutil.a $(PT_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/test_gpu_compile tests/gpu_tests
TESTS += tests/test_gpu_compile tests/gpu_tests
tests_test_gpu_compile_SOURCES = tests/test_gpu_compile.c
tests_test_gpu_compile_CFLAGS = $(TEST_CFLAGS)
tests_test_gpu_compile_LDADD = $(TEST_LIBS)
tests_gpu_tests_SOURCES = tests/gpu_tests.c
tests_gpu_tests_CFLAGS = $(AM_CFLAGS)
tests_gpu_tests_LDADD = $(PT_LIBS)

# Tree checks: the folder-level include graph has no cycle; no Check case
# runs under Check's 4 s default timeout; every file a README names exists.
TESTS += tests/layers.test tests/timeouts.test tests/docfiles.test
EXTRA_DIST += tests/layers.test scripts/layers tests/timeouts.test \
	tests/docfiles.test

# The Slurm recipe on a real single-node cluster the test starts and stops
# (skips with the reason when Slurm cannot be installed or started).
TESTS += tests/slurm/run
EXTRA_DIST += tests/slurm/run scripts/slurm/submit scripts/slurm/shard.sbatch \
	scripts/slurm/merge.sbatch

# The deployed pair on a real device (skips with the reason without a GPU).
check_PROGRAMS += tests/gpu_pairs
TESTS += tests/gpu_pairs
tests_gpu_pairs_SOURCES = tests/gpu_pairs.c
tests_gpu_pairs_CFLAGS = $(TEST_CFLAGS)
tests_gpu_pairs_LDADD = $(TEST_LIBS)
