/* core/history: reading times, laying out buckets, formatting times and the forecast's
 * seconds to full, with exact values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/history.h"
#include "runner.h"

#define S INT64_C(1000000) /* a second in microseconds */

static void parses_rfc3339(void **state)
{
    (void)state;
    int64_t us = -1;
    assert_true(history_parse_time("1970-01-01T00:00:00Z", &us));
    assert_int_equal(us, 0);
    /* 2026-12-07 is day 20,794 since the epoch. */
    assert_true(history_parse_time("2026-12-07T04:00:00Z", &us));
    assert_int_equal(us, (INT64_C(20794) * 86400 + 4 * 3600) * S);
    assert_true(history_parse_time("2026-12-07T06:30:00.25+02:30", &us));
    assert_int_equal(us, (INT64_C(20794) * 86400 + 4 * 3600) * S + 250000);
    assert_true(history_parse_time("2024-02-29t23:59:59.1234567z", &us));
    assert_int_equal(us, (INT64_C(19782) * 86400 + 86399) * S + 123456);
    assert_true(history_parse_time("1969-12-31T23:59:59Z", &us));
    assert_int_equal(us, -S);
    /* 0001-01-01 is day -719,162. */
    assert_true(history_parse_time("0001-01-01T00:00:00Z", &us));
    assert_int_equal(us, INT64_C(-719162) * 86400 * S);
    assert_int_equal(us, HISTORY_TIME_MIN_US);
}

static void refuses_what_is_not_a_time(void **state)
{
    (void)state;
    int64_t us = 0;
    const char *bad[] = {
        "",
        "2026-12-07",
        "2026-12-07T04:00:00",       /* no offset */
        "2026-12-07T04:00Z",         /* no seconds */
        "2026-13-01T00:00:00Z",      /* month 13 */
        "2025-02-29T00:00:00Z",      /* not a leap year */
        "2026-12-07T24:00:00Z",      /* hour 24 */
        "2026-12-07T04:00:00.Z",     /* empty fraction */
        "2026-12-07T04:00:00+0200",  /* offset without colon */
        "2026-12-07T04:00:00Z junk", /* trailing */
        "now",
        "0000-12-31T00:00:00Z", /* 1 BC */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(history_parse_time(bad[i], &us));
    }
    assert_false(history_parse_time(NULL, &us));
}

static void names_bucket_widths(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        long long seconds;
    } widths[] = {
        {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"week", 0},
        {"hours", 0},   {"hou", 0},     {"", 0},        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        assert_int_equal(history_bucket_seconds(widths[i].name), widths[i].seconds);
    }
}

static void lays_out_buckets_from_from(void **state)
{
    (void)state;
    history_buckets b = {0};
    /* 04:10..05:00 in hours: one bucket, starting at 04:10. */
    assert_int_equal(history_lay_out(4 * 3600 * S + 600 * S, 5 * 3600 * S, 3600, &b), HISTORY_OK);
    assert_int_equal(b.first_us, 4 * 3600 * S + 600 * S);
    assert_int_equal(b.count, 1);
    /* 04:10..05:10 exactly one hour: one; a microsecond more: two. */
    assert_int_equal(history_lay_out(4 * 3600 * S + 600 * S, 5 * 3600 * S + 600 * S, 3600, &b),
                     HISTORY_OK);
    assert_int_equal(b.count, 1);
    assert_int_equal(history_lay_out(4 * 3600 * S + 600 * S, 5 * 3600 * S + 600 * S + 1, 3600, &b),
                     HISTORY_OK);
    assert_int_equal(b.count, 2);
    /* A day of hours: 24, wherever it starts. */
    assert_int_equal(history_lay_out(1234567, 1234567 + 86400 * S, 3600, &b), HISTORY_OK);
    assert_int_equal(b.first_us, 1234567);
    assert_int_equal(b.count, 24);
    /* Before the epoch too. */
    assert_int_equal(history_lay_out(-30 * S, 30 * S, 60, &b), HISTORY_OK);
    assert_int_equal(b.first_us, -30 * S);
    assert_int_equal(b.count, 1);
}

static void refuses_empty_and_too_long_ranges(void **state)
{
    (void)state;
    history_buckets b = {0};
    assert_int_equal(history_lay_out(10 * S, 10 * S, 60, &b), HISTORY_EMPTY);
    assert_int_equal(history_lay_out(10 * S, 5 * S, 60, &b), HISTORY_EMPTY);
    /* Exactly 1000 minutes is allowed, one microsecond more is not, wherever they start. */
    assert_int_equal(history_lay_out(0, 1000 * 60 * S, 60, &b), HISTORY_OK);
    assert_int_equal(b.count, 1000);
    assert_int_equal(history_lay_out(0, 1000 * 60 * S + 1, 60, &b), HISTORY_TOO_MANY);
    assert_int_equal(history_lay_out(7 * S + 3, 7 * S + 3 + 1000 * 60 * S, 60, &b), HISTORY_OK);
    assert_int_equal(b.count, 1000);
    /* Centuries of minutes: refused, not overflowed. */
    int64_t far = 0;
    assert_true(history_parse_time("9999-12-31T23:59:59Z", &far));
    assert_int_equal(history_lay_out(-far, far, 60, &b), HISTORY_TOO_MANY);
}

static void default_spans(void **state)
{
    (void)state;
    assert_int_equal(history_default_span_us(60), 3600 * S);
    assert_int_equal(history_default_span_us(3600), 86400 * S);
    assert_int_equal(history_default_span_us(86400), 30 * 86400 * S);
}

static void formats_times(void **state)
{
    (void)state;
    char text[HISTORY_TIME_TEXT_SIZE];
    history_format_time(0, text);
    assert_string_equal(text, "1970-01-01T00:00:00.000000Z");
    history_format_time((INT64_C(19782) * 86400 + 86399) * S + 123456, text);
    assert_string_equal(text, "2024-02-29T23:59:59.123456Z");
    history_format_time(HISTORY_TIME_MAX_US, text);
    assert_string_equal(text, "9999-12-31T23:59:59.999999Z");
    /* Round trip. */
    int64_t us = 0;
    assert_true(history_parse_time("2026-12-07T04:05:06.000007Z", &us));
    history_format_time(us, text);
    assert_string_equal(text, "2026-12-07T04:05:06.000007Z");
}

static void seconds_to_full(void **state)
{
    (void)state;
    double seconds = -1;
    /* 50 kg left at 100 kg a day: half a day. */
    assert_true(forecast_seconds_to_full(50, 100.0, &seconds));
    assert_true(seconds == 43200.0);
    /* No room left: full now. */
    assert_true(forecast_seconds_to_full(0, 1.0, &seconds));
    assert_true(seconds == 0.0);
    /* Not filling: never. */
    assert_false(forecast_seconds_to_full(50, 0.0, &seconds));
    assert_false(forecast_seconds_to_full(50, -3.5, &seconds));
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(parses_rfc3339),
                cmocka_unit_test(refuses_what_is_not_a_time),
                cmocka_unit_test(names_bucket_widths),
                cmocka_unit_test(lays_out_buckets_from_from),
                cmocka_unit_test(refuses_empty_and_too_long_ranges),
                cmocka_unit_test(default_spans),
                cmocka_unit_test(formats_times),
                cmocka_unit_test(seconds_to_full),
            })
