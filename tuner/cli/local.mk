# tuner/cli/: the pipetune command: one file per subcommand (git's builtin
# table in main.c), the option parser and atomic output files.
pipetune_SOURCES += tuner/cli/main.c tuner/cli/builtin.h \
	tuner/cli/opts.c tuner/cli/opts.h tuner/cli/outfile.c tuner/cli/outfile.h \
	tuner/cli/cmd_compile.c tuner/cli/cmd_db.c tuner/cli/cmd_devices.c \
	tuner/cli/cmd_diff.c tuner/cli/cmd_emit.c tuner/cli/cmd_families.c \
	tuner/cli/cmd_query.c tuner/cli/cmd_report.c tuner/cli/cmd_space.c \
	tuner/cli/cmd_tune.c tuner/cli/cmd_verify.c tuner/cli/cmd_worker.c

check_PROGRAMS += tests/test_cli tests/test_cli_space
TESTS += tests/test_cli tests/test_cli_space
tests_test_cli_SOURCES = tests/test_cli.c
tests_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_LDADD = $(TEST_LIBS)
tests_test_cli_space_SOURCES = tests/test_cli_space.c
tests_test_cli_space_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_space_LDADD = $(TEST_LIBS)
