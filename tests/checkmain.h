/* The end of every Check test program's main(): run the suite, report. */
#ifndef PT_CHECKMAIN_H
#define PT_CHECKMAIN_H

#include <check.h>

/* Runs every test of s (CK_NORMAL output), frees the runner and the suite;
 * returns EXIT_SUCCESS when none failed, else EXIT_FAILURE. */
int pt_test_run_suite(Suite *s);

#endif
