# base/: the lowest layer: error codes, the seeded RNG, hashing, the
# parsing rule for typed numbers and the escaping of untrusted bytes.
# Includes nothing else of the project.
libpipetune_a_SOURCES += base/error.c base/error.h \
	base/rng.c base/rng.h \
	base/hash.c base/hash.h \
	base/num.c base/num.h \
	base/escape.c base/escape.h

check_PROGRAMS += tests/test_base
TESTS += tests/test_base
tests_test_base_SOURCES = tests/test_base.c
tests_test_base_CFLAGS = $(TEST_CFLAGS)
tests_test_base_LDADD = $(TEST_LIBS)
