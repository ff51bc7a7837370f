# kernelsrc/oracle.mk: the host side of the MoE pipeline: number formats,
# routing, sorting and the oracle. See HACKING.md.
libpipetune_a_SOURCES += \
	kernelsrc/moe.h kernelsrc/moe.c \
	kernelsrc/mx.h kernelsrc/mx.c \
	kernelsrc/repack.h kernelsrc/repack.c \
	kernelsrc/routing.h kernelsrc/routing.c \
	kernelsrc/moe_sort.h kernelsrc/moe_sort.c \
	kernelsrc/oracle.h kernelsrc/oracle.c

check_PROGRAMS += tests/test_mx tests/test_routing tests/test_moe_sort \
	tests/test_oracle tests/test_repack
TESTS += tests/test_mx tests/test_routing tests/test_moe_sort \
	tests/test_oracle tests/test_repack

tests_test_mx_SOURCES = tests/test_mx.c
tests_test_mx_CFLAGS = $(TEST_CFLAGS)
tests_test_mx_LDADD = $(TEST_LIBS)

tests_test_repack_SOURCES = tests/test_repack.c
tests_test_repack_CFLAGS = $(TEST_CFLAGS)
tests_test_repack_LDADD = $(TEST_LIBS)

tests_test_routing_SOURCES = tests/test_routing.c
tests_test_routing_CFLAGS = $(TEST_CFLAGS)
tests_test_routing_LDADD = $(TEST_LIBS)

tests_test_moe_sort_SOURCES = tests/test_moe_sort.c
tests_test_moe_sort_CFLAGS = $(TEST_CFLAGS)
tests_test_moe_sort_LDADD = $(TEST_LIBS)

tests_test_oracle_SOURCES = tests/test_oracle.c
tests_test_oracle_CFLAGS = $(TEST_CFLAGS)
tests_test_oracle_LDADD = $(TEST_LIBS)
