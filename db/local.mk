# db/local.mk: build fragment included by Makefile.am (see HACKING.md).
# The schema (db/schema.sql) is embedded as the list of migrations.
libpipetune_a_SOURCES += db/db.c db/db_record.c db/db_read.c db/db.h db/db_int.h \
	db/db_pairs.c db/query.c db/query.h db/runs.c db/runs.h db/searches.c db/searches.h
nodist_libpipetune_a_SOURCES += db/schema-sql.c
BUILT_SOURCES += db/schema-sql.c
CLEANFILES += db/schema-sql.c
EXTRA_DIST += db/schema.sql db/README.md build-aux/embed-sql.sh

db/schema-sql.c: $(srcdir)/db/schema.sql $(srcdir)/build-aux/embed-sql.sh
	@$(MKDIR_P) db
	$(AM_V_GEN)AWK='$(AWK)' $(SHELL) $(srcdir)/build-aux/embed-sql.sh \
	  $(srcdir)/db/schema.sql > $@-t && mv $@-t $@

check_PROGRAMS += tests/test_db
TESTS += tests/test_db
tests_test_db_SOURCES = tests/test_db.c
tests_test_db_CFLAGS = $(TEST_CFLAGS)
tests_test_db_LDADD = $(TEST_LIBS)

# Bad databases and bad outputs through the real binary (issue 14).
check_PROGRAMS += tests/test_dbread
TESTS += tests/test_dbread
tests_test_dbread_SOURCES = tests/test_dbread.c tests/emitdb.c tests/emitdb.h
tests_test_dbread_CFLAGS = $(TEST_CFLAGS)
tests_test_dbread_LDADD = $(TEST_LIBS)
