# tuner/: the CLI, error codes, option parsing, the GPU layer.
libpipetune_a_SOURCES += tuner/error.c tuner/error.h tuner/opts.c tuner/opts.h \
	tuner/gpu.c tuner/gpu.h tuner/gpu_impl.h
libpipetune_a_SOURCES += tuner/verify.c tuner/verify.h
if HAVE_CUDA
libpipetune_a_SOURCES += tuner/gpu_cuda.c
endif
if HAVE_HIP
libpipetune_a_SOURCES += tuner/gpu_hip.c
endif

pipetune_SOURCES += tuner/main.c tuner/builtin.h tuner/cmd_devices.c \
	tuner/cmd_compile.c tuner/outfile.c tuner/outfile.h
pipetune_SOURCES += tuner/cmd_verify.c

check_PROGRAMS += tests/test_verify
TESTS += tests/test_verify
tests_test_verify_SOURCES = tests/test_verify.c
tests_test_verify_CFLAGS = $(TEST_CFLAGS)
tests_test_verify_LDADD = $(TEST_LIBS)
