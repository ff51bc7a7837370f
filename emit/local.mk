# emit/local.mk: build fragment included by Makefile.am (see HACKING.md).
# The outputs: result sets and query tables, the generated select_pipe_config
# table with its JSON/CSV exports, and the HTML report.
libpipetune_a_SOURCES += emit/emit.c emit/emit.h \
	emit/export.c emit/export.h emit/report.c emit/report.h \
	emit/regret.c emit/regret.h

# The shipping-library test compiles tests/consumer_main.c against the
# generated table at test time.
check_PROGRAMS += tests/test_emit_consumer
TESTS += tests/test_emit_consumer
tests_test_emit_consumer_SOURCES = tests/test_emit_consumer.c tests/emitdb.c tests/emitdb.h
tests_test_emit_consumer_CFLAGS = $(TEST_CFLAGS)
tests_test_emit_consumer_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/consumer_main.c emit/README.md

check_PROGRAMS += tests/test_query
TESTS += tests/test_query
tests_test_query_SOURCES = tests/test_query.c tests/emitdb.c tests/emitdb.h
tests_test_query_CFLAGS = $(TEST_CFLAGS)
tests_test_query_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/test_emit
TESTS += tests/test_emit
tests_test_emit_SOURCES = tests/test_emit.c tests/emitdb.c tests/emitdb.h
tests_test_emit_CFLAGS = $(TEST_CFLAGS)
tests_test_emit_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/test_report
TESTS += tests/test_report
tests_test_report_SOURCES = tests/test_report.c tests/emitdb.c tests/emitdb.h
tests_test_report_CFLAGS = $(TEST_CFLAGS)
tests_test_report_LDADD = $(TEST_LIBS)

# Renders a report in headless Chromium; skips (77) with the reason when
# chromium is absent. Leaves the screenshot for people to look at.
check_PROGRAMS += tests/test_report_render
TESTS += tests/test_report_render
tests_test_report_render_SOURCES = tests/test_report_render.c tests/emitdb.c tests/emitdb.h
tests_test_report_render_CFLAGS = $(TEST_CFLAGS)
tests_test_report_render_LDADD = $(TEST_LIBS)
CLEANFILES += tests/report-screenshot.png
