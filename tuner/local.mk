# tuner/: the CLI, error codes, option parsing, the GPU layer.
libpipetune_a_SOURCES += tuner/error.c tuner/error.h tuner/opts.c tuner/opts.h \
	tuner/gpu.c tuner/gpu.h tuner/gpu_impl.h
if HAVE_CUDA
libpipetune_a_SOURCES += tuner/gpu_cuda.c
endif
if HAVE_HIP
libpipetune_a_SOURCES += tuner/gpu_hip.c
endif

pipetune_SOURCES += tuner/main.c tuner/builtin.h tuner/cmd_devices.c \
	tuner/cmd_compile.c tuner/outfile.c tuner/outfile.h
