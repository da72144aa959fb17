/* Fill history and forecasts, the pure part (see history.h). */
#include "core/history.h"

#include <stddef.h>
#include <stdio.h>

#define US_PER_SECOND INT64_C(1000000)

/* Reads exactly count digits at *p, advancing it. */
static bool digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    *p += count;
    *value = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

static bool leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian; Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

bool history_parse_time(const char *text, int64_t *us)
{
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int year, month, day, hour, minute, second;
    if (p == NULL || !digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) ||
        !expect(&p, '-') || !digits(&p, 2, &day)) {
        return false;
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        return false;
    }
    p++;
    if (!digits(&p, 2, &hour) || !expect(&p, ':') || !digits(&p, 2, &minute) || !expect(&p, ':') ||
        !digits(&p, 2, &second)) {
        return false;
    }
    /* Year 0 is 1 BC, which PostgreSQL writes with a suffix no RFC 3339 reader expects. */
    if (year < 1 || month < 1 || month > 12 || day < 1 ||
        day > month_days[month - 1] + (month == 2 && leap(year)) || hour > 23 || minute > 59 ||
        second > 59) {
        return false;
    }
    int64_t fraction_us = 0;
    if (*p == '.') {
        p++;
        int scale = 100000, count = 0;
        while (*p >= '0' && *p <= '9') {
            fraction_us += (*p - '0') * scale;
            scale /= 10;
            p++;
            count++;
        }
        if (count == 0) {
            return false;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, offset_hour, offset_minute;
        p++;
        if (!digits(&p, 2, &offset_hour) || !expect(&p, ':') || !digits(&p, 2, &offset_minute) ||
            offset_hour > 23 || offset_minute > 59) {
            return false;
        }
        offset_s = sign * (offset_hour * 3600 + offset_minute * 60);
    } else {
        return false;
    }
    if (*p != '\0') {
        return false;
    }
    int64_t seconds =
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    *us = seconds * US_PER_SECOND + fraction_us;
    return true;
}

int64_t history_bucket_seconds(const char *name)
{
    static const struct {
        const char *name;
        int64_t seconds;
    } widths[] = {{"minute", 60}, {"hour", 3600}, {"day", 86400}};
    for (size_t i = 0; name != NULL && i < sizeof widths / sizeof widths[0]; i++) {
        const char *a = name, *b = widths[i].name;
        while (*a != '\0' && *a == *b) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0') {
            return widths[i].seconds;
        }
    }
    return 0;
}

history_layout history_lay_out(int64_t from_us, int64_t to_us, int64_t width_s,
                               history_buckets *out)
{
    if (to_us <= from_us) {
        return HISTORY_EMPTY;
    }
    int64_t width_us = width_s * US_PER_SECOND;
    int64_t first = from_us;
    /* Buckets whose start lies before to: ceil((to - from) / width). Compared before it is
     * narrowed, so a range of centuries cannot overflow the count. */
    int64_t count = (to_us - first + width_us - 1) / width_us;
    if (count > HISTORY_MAX_BUCKETS) {
        return HISTORY_TOO_MANY;
    }
    out->first_us = first;
    out->count = (int)count;
    return HISTORY_OK;
}

int64_t history_default_span_us(int64_t width_s)
{
    switch (width_s) {
    case 60:
        return 3600 * US_PER_SECOND;
    case 3600:
        return 86400 * US_PER_SECOND;
    default:
        return 30 * 86400 * US_PER_SECOND;
    }
}

bool forecast_seconds_to_full(int64_t remaining_kg, double rate_kg_per_day, double *seconds)
{
    if (!(rate_kg_per_day > 0)) {
        return false;
    }
    *seconds = remaining_kg <= 0 ? 0 : (double)remaining_kg / rate_kg_per_day * 86400.0;
    return true;
}

void history_format_time(int64_t us, char out[HISTORY_TIME_TEXT_SIZE])
{
    int64_t seconds = us / US_PER_SECOND, micros = us % US_PER_SECOND;
    int64_t days = seconds / 86400, of_day = seconds % 86400;
    /* civil_from_days (Howard Hinnant), for days since 1970-01-01 >= 0. */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = year_of_era + era * 400 + (month <= 2);
    snprintf(out, HISTORY_TIME_TEXT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)year,
             (int)month, (int)day, (int)(of_day / 3600), (int)(of_day / 60 % 60),
             (int)(of_day % 60), (int)micros);
}
