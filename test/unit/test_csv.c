/* Unit tests of util/csv: RFC 4180 quoting of commas, quotes, CR and LF; plain fields as
 * they are; empty fields; records ending with CRLF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runner.h"
#include "util/csv.h"

static void test_quoting(void **state)
{
    (void)state;
    strbuf out = {0};
    csv_field(&out, "plain", true);
    csv_field(&out, "a,b", false);
    csv_field(&out, "say \"hi\"", false);
    csv_field(&out, "", false);
    csv_field(&out, "two\nlines", false);
    csv_field(&out, "cr\rhere", false);
    csv_field(&out, "\"", false);
    csv_field(&out, "Ёлка 1", false);
    csv_end_record(&out);
    assert_string_equal(out.data, "plain,\"a,b\",\"say \"\"hi\"\"\",,\"two\nlines\",\"cr\rhere\","
                                  "\"\"\"\",Ёлка 1\r\n");
    strbuf_free(&out);
}

/* A movement in transit has no receipt figures: its NULL columns are empty fields. */
static void test_null_is_empty(void **state)
{
    (void)state;
    strbuf out = {0};
    csv_field(&out, "7", true);
    csv_field(&out, NULL, false);
    csv_field(&out, NULL, false);
    csv_field(&out, "key:2", false);
    csv_end_record(&out);
    csv_field(&out, NULL, true);
    csv_end_record(&out);
    assert_string_equal(out.data, "7,,,key:2\r\n\r\n");
    strbuf_free(&out);
}

static void test_empty_record(void **state)
{
    (void)state;
    strbuf out = {0};
    csv_field(&out, "", true);
    csv_field(&out, "", false);
    csv_end_record(&out);
    assert_string_equal(out.data, ",\r\n");
    strbuf_free(&out);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_quoting),
                cmocka_unit_test(test_empty_record),
                cmocka_unit_test(test_null_is_empty),
            })
