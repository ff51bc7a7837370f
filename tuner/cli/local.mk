# tuner/cli/: the pipetune command: one file per subcommand (git's builtin
# table in main.c), the option parser and atomic output files.
pipetune_SOURCES += tuner/cli/main.c tuner/cli/builtin.h \
	tuner/cli/opts.c tuner/cli/opts.h tuner/cli/outfile.c tuner/cli/outfile.h \
	tuner/cli/tuneopts.c tuner/cli/tuneopts.h tuner/cli/tunepairs.c tuner/cli/tunepairs.h \
	tuner/cli/regretout.c tuner/cli/regretout.h \
	tuner/cli/cmd_compile.c tuner/cli/cmd_db.c tuner/cli/cmd_devices.c \
	tuner/cli/cmd_diff.c tuner/cli/cmd_emit.c tuner/cli/cmd_families.c \
	tuner/cli/cmd_plan.c \
	tuner/cli/cmd_query.c tuner/cli/cmd_report.c tuner/cli/cmd_space.c \
	tuner/cli/cmd_status.c tuner/cli/cmd_tune.c tuner/cli/cmd_verify.c tuner/cli/cmd_worker.c

check_PROGRAMS += tests/test_cli tests/test_cli_space tests/test_cli_help \
	tests/test_cli_compile tests/test_cli_plan tests/test_escape tests/test_examples
TESTS += tests/test_cli tests/test_cli_space tests/test_cli_help \
	tests/test_cli_compile tests/test_cli_plan tests/test_escape tests/test_examples
tests_test_cli_SOURCES = tests/test_cli.c
tests_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_LDADD = $(TEST_LIBS)
tests_test_cli_space_SOURCES = tests/test_cli_space.c
tests_test_cli_space_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_space_LDADD = $(TEST_LIBS)
tests_test_cli_help_SOURCES = tests/test_cli_help.c
tests_test_cli_help_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_help_LDADD = $(TEST_LIBS)
# pipetune status beside a running tune, tune's progress lines (on a
# terminal through forkpty) and the infeasible counts.
check_PROGRAMS += tests/test_status
TESTS += tests/test_status
tests_test_status_SOURCES = tests/test_status.c
tests_test_status_CFLAGS = $(TEST_CFLAGS)
tests_test_status_LDADD = $(TEST_LIBS) -lutil
tests_test_cli_compile_SOURCES = tests/test_cli_compile.c
tests_test_cli_compile_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_compile_LDADD = $(TEST_LIBS)
tests_test_escape_SOURCES = tests/test_escape.c
tests_test_escape_CFLAGS = $(TEST_CFLAGS)
tests_test_escape_LDADD = $(TEST_LIBS)
tests_test_examples_SOURCES = tests/test_examples.c
tests_test_examples_CFLAGS = $(TEST_CFLAGS)
tests_test_examples_LDADD = $(TEST_LIBS)
tests_test_cli_plan_SOURCES = tests/test_cli_plan.c
tests_test_cli_plan_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_plan_LDADD = $(TEST_LIBS)

# The commit of the build, for --version: regenerated at every make, rewritten
# only when it changed (so main.c is not rebuilt for nothing).
BUILT_SOURCES += commit.h
tuner/cli/main.$(OBJEXT): commit.h
CLEANFILES += commit.h
EXTRA_DIST += build-aux/gen-commit.sh
commit.h: pt-commit-check
	@\
	$(SHELL) $(srcdir)/build-aux/gen-commit.sh $(srcdir) > $@-t && \
	{ cmp -s $@-t $@ && rm -f $@-t || mv $@-t $@; }
.PHONY: pt-commit-check
pt-commit-check:
dist-hook: pt-dist-commit
pt-dist-commit:
	$(SHELL) $(srcdir)/build-aux/gen-commit.sh $(srcdir) | \
	  sed -n 's/^#define PT_COMMIT "\(.*\)"/\1/p' > $(distdir)/.commit

# pipetune(1): fixed sections from tuner/cli/pipetune.1.in, and one section
# per command made from that command's --help (pipetune help --man-sections).
man1_MANS = tuner/cli/pipetune.1
CLEANFILES += tuner/cli/pipetune.1
EXTRA_DIST += tuner/cli/pipetune.1.in build-aux/gen-man.sh
tuner/cli/pipetune.1: $(srcdir)/tuner/cli/pipetune.1.in pipetune$(EXEEXT) $(srcdir)/build-aux/gen-man.sh
	$(AM_V_GEN)$(MKDIR_P) tuner/cli && \
	$(SHELL) $(srcdir)/build-aux/gen-man.sh ./pipetune$(EXEEXT) \
	  $(srcdir)/tuner/cli/pipetune.1.in $(PACKAGE_VERSION) > $@-t && mv $@-t $@
