# space/local.mk: build fragment included by Makefile.am (see HACKING.md).
# Knobs, constraints and model families (also from a Hugging Face
# config.json); the built-in families.json is embedded as a generated C file.
libpipetune_a_SOURCES += space/knobs.c space/knobs.h \
	space/constraints.c space/constraints.h \
	space/family.c space/family.h \
	space/hfconfig.c space/hfconfig.h
nodist_libpipetune_a_SOURCES += space/families-json.c

space/families-json.c: $(srcdir)/space/families.json $(srcdir)/build-aux/embed-json.sh
	$(AM_V_GEN)$(MKDIR_P) space && \
	$(SHELL) $(srcdir)/build-aux/embed-json.sh pt__family_builtin_json \
	  $(srcdir)/space/families.json > $@-t && mv $@-t $@
BUILT_SOURCES += space/families-json.c
CLEANFILES += space/families-json.c space/families-json.c-t
EXTRA_DIST += space/families.json build-aux/embed-json.sh

check_PROGRAMS += tests/test_knobs tests/test_constraints tests/test_family \
	tests/test_hfconfig
TESTS += tests/test_knobs tests/test_constraints tests/test_family \
	tests/test_hfconfig
# Every knob of the table reaches the defines, the kernels' guards, the
# database, the generated C and the exports (it reads them all back).
check_PROGRAMS += tests/test_knob_table
TESTS += tests/test_knob_table
tests_test_knob_table_SOURCES = tests/test_knob_table.c tests/emitdb.c tests/emitdb.h
tests_test_knob_table_CFLAGS = $(TEST_CFLAGS)
tests_test_knob_table_LDADD = $(TEST_LIBS)
tests_test_knobs_SOURCES = tests/test_knobs.c
tests_test_knobs_CFLAGS = $(TEST_CFLAGS)
tests_test_knobs_LDADD = $(TEST_LIBS)
tests_test_constraints_SOURCES = tests/test_constraints.c
tests_test_constraints_CFLAGS = $(TEST_CFLAGS)
tests_test_constraints_LDADD = $(TEST_LIBS)
tests_test_family_SOURCES = tests/test_family.c
tests_test_family_CFLAGS = $(TEST_CFLAGS)
tests_test_family_LDADD = $(TEST_LIBS)
tests_test_hfconfig_SOURCES = tests/test_hfconfig.c
tests_test_hfconfig_CFLAGS = $(TEST_CFLAGS)
tests_test_hfconfig_LDADD = $(TEST_LIBS)
# config.json files of public models (tests/test_hfconfig.c says which).
EXTRA_DIST += tests/data/configs/deepseek-v3.json \
	tests/data/configs/kimi-k2.json tests/data/configs/gpt-oss-120b.json \
	tests/data/configs/gpt-oss-20b.json tests/data/configs/qwen3-235b-a22b.json \
	tests/data/configs/qwen3-30b-a3b.json tests/data/configs/mixtral-8x7b.json \
	tests/data/configs/deepseek-v2-lite.json tests/data/configs/glm-4.5.json \
	tests/data/configs/qwen1.5-moe-a2.7b.json tests/data/configs/qwen3-8b.json
