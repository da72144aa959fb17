/* Unit tests of auth/principal: role names both ways, unknown names, the scope
 * rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "auth/principal.h"

/* ---- principal ---- */

static void test_role_names_both_ways(void **state) {
  (void)state;
  const struct {
    auth_role role;
    const char *name;
    int value;
  } roles[] = {
      {ROLE_ADMIN, "admin", 1},      {ROLE_AUDITOR, "auditor", 2},
      {ROLE_MONITOR, "monitor", 4},  {ROLE_ORGANIZATION, "organization", 8},
      {ROLE_STORAGE, "storage", 16},
  };
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
    assert_int_equal(roles[i].role, roles[i].value);
    assert_int_equal(auth_role_parse(roles[i].name), roles[i].role);
    assert_non_null(auth_role_name(roles[i].role));
    assert_string_equal(auth_role_name(roles[i].role), roles[i].name);
  }
}

static void test_role_parse_unknown(void **state) {
  (void)state;
  const char *unknown[] = {"",
                           "Admin",
                           "ADMIN",
                           "admin ",
                           " admin",
                           "admins",
                           "adm",
                           "root",
                           "owner",
                           "organisation",
                           "storage\n",
                           "auditor\t",
                           "monitor\x01",
                           "admin,auditor",
                           "1",
                           "\303\241dmin" /* \u00e1dmin */};
  assert_int_equal(auth_role_parse(NULL), 0);
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    if (auth_role_parse(unknown[i]) != 0) {
      fail_msg("\"%s\" parsed as role %d", unknown[i],
               auth_role_parse(unknown[i]));
    }
  }
}

static void test_role_name_unknown(void **state) {
  (void)state;
  const int values[] = {0, 3, 5, 6, 7, 15, 17, 31, 32, -1, 1 << 30};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    assert_null(auth_role_name((auth_role)values[i]));
  }
}

static void test_scope_rules(void **state) {
  (void)state;
  const struct {
    int role;
    int64_t organization_id, storage_id;
    const char *problem; /* NULL: consistent */
  } cases[] = {
      {ROLE_ORGANIZATION, 1, 0, NULL},
      {ROLE_ORGANIZATION, INT64_MAX, 0, NULL},
      {ROLE_ORGANIZATION, 0, 0,
       "the organization role needs a positive organization_id"},
      {ROLE_ORGANIZATION, -5, 0,
       "the organization role needs a positive organization_id"},
      {ROLE_ORGANIZATION, INT64_MIN, 0,
       "the organization role needs a positive organization_id"},
      {ROLE_ORGANIZATION, 0, 3,
       "the organization role needs a positive organization_id"},
      {ROLE_ORGANIZATION, 2, 3, "the organization role takes no storage_id"},
      {ROLE_ORGANIZATION, 2, -3, "the organization role takes no storage_id"},
      {ROLE_STORAGE, 0, 1, NULL},
      {ROLE_STORAGE, 0, INT64_MAX, NULL},
      {ROLE_STORAGE, 0, 0, "the storage role needs a positive storage_id"},
      {ROLE_STORAGE, 0, -1, "the storage role needs a positive storage_id"},
      {ROLE_STORAGE, 4, 0, "the storage role needs a positive storage_id"},
      {ROLE_STORAGE, 4, 9, "the storage role takes no organization_id"},
      {ROLE_STORAGE, -4, 9, "the storage role takes no organization_id"},
      {ROLE_ADMIN, 0, 0, NULL},
      {ROLE_AUDITOR, 0, 0, NULL},
      {ROLE_MONITOR, 0, 0, NULL},
      {ROLE_ADMIN, 1, 0, "this role takes no organization_id"},
      {ROLE_ADMIN, 0, 1, "this role takes no storage_id"},
      {ROLE_ADMIN, -1, 0, "this role takes no organization_id"},
      {ROLE_AUDITOR, 7, 0, "this role takes no organization_id"},
      {ROLE_AUDITOR, 0, 7, "this role takes no storage_id"},
      {ROLE_MONITOR, 7, 7, "this role takes no organization_id"},
      {ROLE_MONITOR, 0, -7, "this role takes no storage_id"},
      {0, 0, 0, "unknown role"},
      {3, 0, 0, "unknown role"},
      {32, 1, 0, "unknown role"},
      {-1, 0, 1, "unknown role"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *problem =
        auth_scope_problem((auth_role)cases[i].role, cases[i].organization_id,
                           cases[i].storage_id);
    if (cases[i].problem == NULL && problem != NULL) {
      fail_msg("case %zu: expected no problem, got \"%s\"", i, problem);
    }
    if (cases[i].problem != NULL) {
      if (problem == NULL) {
        fail_msg("case %zu: expected \"%s\", got none", i, cases[i].problem);
      }
      assert_string_equal(problem, cases[i].problem);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_role_names_both_ways),
      cmocka_unit_test(test_role_parse_unknown),
      cmocka_unit_test(test_role_name_unknown),
      cmocka_unit_test(test_scope_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
