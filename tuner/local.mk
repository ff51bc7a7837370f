# tuner/: the CLI, error codes, option parsing, the GPU layer.
libpipetune_a_SOURCES += tuner/error.c tuner/error.h

pipetune_SOURCES += tuner/main.c
