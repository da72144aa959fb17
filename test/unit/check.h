/* The unit tests' own small vocabulary on top of cmocka: CHECK, an assertion that says in
 * its own words what was wrong (a randomized trial names its seed and case, which
 * assert_true cannot), and COUNT, the length of an array. One copy, so every runner reads
 * the same. Include after <cmocka.h>. */
#ifndef WF_TEST_CHECK_H
#define WF_TEST_CHECK_H

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

#endif
