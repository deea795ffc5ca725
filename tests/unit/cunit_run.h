/*
 * cunit_run.h: the shared main() body of every CUnit test executable.
 * PF_CUNIT_MAIN(suites) registers the given {name, tests} table, runs it verbosely and
 * exits non-zero when any assertion failed, so ctest sees the result.
 */
#ifndef PREFOPT_CUNIT_RUN_H
#define PREFOPT_CUNIT_RUN_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>

typedef struct {
    const char *name;
    CU_TestFunc func;
} pf_test_case;

/* Registers one suite holding the NULL-terminated cases and runs everything. */
static inline int pf_cunit_run(const char *suite_name, const pf_test_case *cases)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    if (!suite)
        return 1;
    for (const pf_test_case *c = cases; c->name; c++)
        if (!CU_add_test(suite, c->name, c->func))
            return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#endif
