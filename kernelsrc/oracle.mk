# kernelsrc/oracle.mk: build fragment included by Makefile.am (see HACKING.md).
