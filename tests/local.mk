# tests/: shared test helpers, the CLI tests and the GPU test program.
noinst_LIBRARIES += tests/libtestutil.a
tests_libtestutil_a_SOURCES = tests/testutil.c tests/testutil.h \
	tests/checkmain.c tests/checkmain.h
tests_libtestutil_a_CFLAGS = $(TEST_CFLAGS)
# Check again after it: checkmain.o calls into the static libcheck.
TEST_LIBS += tests/libtestutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/test_cli tests/test_gpu_compile tests/gpu_tests
TESTS += tests/test_cli tests/test_gpu_compile tests/gpu_tests
tests_test_cli_SOURCES = tests/test_cli.c
tests_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_LDADD = $(TEST_LIBS)
tests_test_gpu_compile_SOURCES = tests/test_gpu_compile.c
tests_test_gpu_compile_CFLAGS = $(TEST_CFLAGS)
tests_test_gpu_compile_LDADD = $(TEST_LIBS)
tests_gpu_tests_SOURCES = tests/gpu_tests.c
tests_gpu_tests_CFLAGS = $(AM_CFLAGS)
tests_gpu_tests_LDADD = $(PT_LIBS)
