# kernelsrc/kernels.mk: device sources, their embedding into the binary, the
# kernel-variant compile front end and its tests (see HACKING.md).
KERNEL_SOURCES = kernelsrc/pt_args.h kernelsrc/pt_sched.h \
	kernelsrc/pt_arch_nv.cuh kernelsrc/pt_arch_amd.cuh \
	kernelsrc/pt_common.cuh kernelsrc/pt_tile.cuh kernelsrc/pt_route.cuh \
	kernelsrc/pt_mainloop.cuh kernelsrc/pt_epilogue.cuh \
	kernelsrc/pt_kernel.cuh kernelsrc/moe_gemm1.cu kernelsrc/moe_gemm2.cu \
	kernelsrc/moe_reduce.cu
EXTRA_DIST += $(KERNEL_SOURCES) build-aux/embed.sh

libpipetune_a_SOURCES += kernelsrc/kernels.c kernelsrc/kernels.h \
	kernelsrc/pt_args.h kernelsrc/pt_sched.h
nodist_libpipetune_a_SOURCES += kernelsrc/kernels_embed.c
BUILT_SOURCES += kernelsrc/kernels_embed.c
CLEANFILES += kernelsrc/kernels_embed.c

kernelsrc/kernels_embed.c: $(KERNEL_SOURCES) build-aux/embed.sh
	$(AM_V_GEN)$(MKDIR_P) kernelsrc && \
	$(SHELL) $(srcdir)/build-aux/embed.sh $(srcdir) $(KERNEL_SOURCES) > $@.tmp && \
	mv $@.tmp $@

check_PROGRAMS += tests/test_kernels_compile
TESTS += tests/test_kernels_compile
tests_test_kernels_compile_SOURCES = tests/test_kernels_compile.c
tests_test_kernels_compile_CFLAGS = $(TEST_CFLAGS)
tests_test_kernels_compile_LDADD = $(TEST_LIBS)
