/* See csv.h. Spreadsheet formula injection (a field starting with "=") is not this module's
 * business: the export carries names as they were entered, which is what an auditor needs. */
#include "util/csv.h"

#include <string.h>

void csv_field(strbuf *out, const char *text, bool first)
{
    if (!first) {
        strbuf_append(out, ",", 1);
    }
    if (text == NULL) {
        return;
    }
    size_t len = strlen(text);
    if (strcspn(text, ",\"\r\n") == len) {
        strbuf_append(out, text, len);
        return;
    }
    strbuf_append(out, "\"", 1);
    for (const char *p = text; *p != '\0';) {
        size_t run = strcspn(p, "\"");
        strbuf_append(out, p, run);
        p += run;
        if (*p == '"') {
            strbuf_append(out, "\"\"", 2);
            p++;
        }
    }
    strbuf_append(out, "\"", 1);
}

void csv_end_record(strbuf *out)
{
    strbuf_append(out, "\r\n", 2);
}
