/* A runner's main, written once: every unit and integration runner whose tests form one group
 * ends with RUNNER_MAIN(group_setup, group_teardown, {tests...}) — the group's fixtures (NULL:
 * none) and its cmocka entries, in the order they run. Runners with several groups, or named
 * ones, write their own main. Include after <cmocka.h>. */
#ifndef WF_TEST_RUNNER_H
#define WF_TEST_RUNNER_H

/* The braces around the entries pass them as one argument (__VA_ARGS__, commas and all). */
#define RUNNER_MAIN(group_setup, group_teardown, ...)                                              \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest tests[] = __VA_ARGS__;                                             \
        return cmocka_run_group_tests(tests, (group_setup), (group_teardown));                     \
    }

#endif
