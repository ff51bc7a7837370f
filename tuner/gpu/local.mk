# tuner/gpu/: the GPU layer: one interface, one file per backend.
libpipetune_a_SOURCES += tuner/gpu/gpu.c tuner/gpu/gpu.h tuner/gpu/gpu_impl.h
if HAVE_CUDA
libpipetune_a_SOURCES += tuner/gpu/gpu_cuda.c
endif
if HAVE_HIP
libpipetune_a_SOURCES += tuner/gpu/gpu_hip.c
endif
