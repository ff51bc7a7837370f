# kernelsrc/oracle.mk: the host side of the MoE pipeline: number formats,
# routing, sorting, the oracle, and problem setup (tuner/problem.c lives
# with the tuner but belongs to this area). See HACKING.md.
libpipetune_a_SOURCES += \
	kernelsrc/moe.h kernelsrc/moe.c
