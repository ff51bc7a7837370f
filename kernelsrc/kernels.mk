# kernelsrc/kernels.mk: device sources, their embedding into the binary, and
# the tests that compile every variant (see HACKING.md).
PT_KERNEL_FILES = kernelsrc/pt_args.h kernelsrc/pt_sched.h \
	kernelsrc/pt_arch_nv.cuh kernelsrc/pt_arch_amd.cuh \
	kernelsrc/pt_common.cuh kernelsrc/pt_tile.cuh kernelsrc/pt_route.cuh \
	kernelsrc/pt_mainloop.cuh kernelsrc/pt_arch_sm90.cuh \
	kernelsrc/pt_wgmma.cuh kernelsrc/pt_epilogue.cuh \
	kernelsrc/pt_kernel.cuh kernelsrc/moe_gemm1.cu kernelsrc/moe_gemm2.cu \
	kernelsrc/moe_reduce.cu
EXTRA_DIST += $(PT_KERNEL_FILES) build-aux/embed.sh

libpipetune_a_SOURCES += kernelsrc/kernels.c kernelsrc/kernels.h \
	kernelsrc/pt_args.h kernelsrc/pt_sched.h
nodist_libpipetune_a_SOURCES += kernelsrc/kernels_embed.c
BUILT_SOURCES += kernelsrc/kernels_embed.c
CLEANFILES += kernelsrc/kernels_embed.c

kernelsrc/kernels_embed.c: $(PT_KERNEL_FILES) build-aux/embed.sh
	$(AM_V_GEN)$(MKDIR_P) kernelsrc && \
	$(SHELL) $(srcdir)/build-aux/embed.sh $(srcdir) $(PT_KERNEL_FILES) > $@.tmp && \
	mv $@.tmp $@

check_PROGRAMS += tests/test_kernels_compile
TESTS += tests/test_kernels_compile
tests_test_kernels_compile_SOURCES = tests/test_kernels_compile.c
tests_test_kernels_compile_CFLAGS = $(TEST_CFLAGS)
tests_test_kernels_compile_LDADD = $(TEST_LIBS)

# GPU verification of the kernels (exits 77 without a GPU).
check_PROGRAMS += tests/gpu_kernels
TESTS += tests/gpu_kernels
tests_gpu_kernels_SOURCES = tests/gpu_kernels.c
tests_gpu_kernels_CFLAGS = $(AM_CFLAGS)
tests_gpu_kernels_LDADD = $(PT_LIBS)

# Benchmark and whole-space verification driver (bench/NOTES.md).
EXTRA_PROGRAMS = bench/kbench bench/repack
bench_kbench_SOURCES = bench/kbench.c
bench_kbench_LDADD = $(PT_LIBS)
CLEANFILES += bench/kbench bench/repack
# Host time of the wgmma generation's weight repack (bench/NOTES.md).
bench_repack_SOURCES = bench/repack.c
bench_repack_LDADD = $(PT_LIBS)
EXTRA_DIST += bench/run bench/table.py bench/torch_ref.py bench/NOTES.md \
	bench/kernels-same
