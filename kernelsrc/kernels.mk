# kernelsrc/kernels.mk: build fragment included by Makefile.am (see HACKING.md).
