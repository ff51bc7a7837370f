# emit/local.mk: build fragment included by Makefile.am (see HACKING.md).
# The outputs: result sets and query tables, the generated select_pipe_config
# table with its JSON/CSV exports, and the HTML report.
libpipetune_a_SOURCES += emit/query.c emit/query.h emit/emit.c emit/emit.h \
	emit/export.c emit/export.h

pipetune_SOURCES += tuner/cmd_emit.c tuner/cmd_query.c tuner/cmd_diff.c
