# base/: the lowest layer: error codes, the seeded RNG and hashing. Includes
# nothing else of the project.
libpipetune_a_SOURCES += base/error.c base/error.h
