/* JSON-lines logger. Every line carries a UTC timestamp, level and message; callers add
 * key/value pairs. Kept deliberately small: the event loop is single-threaded. */
#include "util/log.h"

#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static log_level current_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *text)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void log_set_level(log_level level)
{
    current_level = level;
}

int log_enabled(log_level level)
{
    return level >= current_level;
}

/* A JSON string of text; bytes that are not valid UTF-8 (a client's, echoed) become
 * U+FFFD, so every log line is valid UTF-8 and valid JSON. */
static void put_escaped(FILE *out, const char *text)
{
    fputc('"', out);
    size_t len = strlen(text);
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        if (p[i] >= 0x80) {
            size_t valid = utf8_sequence((const char *)p + i, len - i);
            if (valid == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(p + i, 1, valid, out);
                i += valid;
            }
            continue;
        }
        if (p[i] == '"' || p[i] == '\\') {
            fputc('\\', out);
            fputc(p[i], out);
        } else if (p[i] < 0x20) {
            fprintf(out, "\\u%04x", p[i]);
        } else {
            fputc(p[i], out);
        }
        i++;
    }
    fputc('"', out);
}

void log_event(log_level level, const char *message, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[40];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

    /* Build the line in memory so concurrent writers (two processes on one terminal)
     * never interleave half lines. */
    char *line = NULL;
    size_t line_len = 0;
    FILE *out = open_memstream(&line, &line_len);
    if (out == NULL) {
        return;
    }
    fprintf(out, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":", stamp,
            (long)(now.tv_usec / 1000), level_names[level]);
    put_escaped(out, message);
    va_list args;
    va_start(args, message);
    for (;;) {
        const char *key = va_arg(args, const char *);
        if (key == NULL) {
            break;
        }
        const char *value = va_arg(args, const char *);
        fputc(',', out);
        put_escaped(out, key);
        fputc(':', out);
        put_escaped(out, value != NULL ? value : "");
    }
    va_end(args);
    fputs("}\n", out);
    fclose(out);
    fwrite(line, 1, line_len, stderr);
    free(line);
}

int64_t clock_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t clock_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
