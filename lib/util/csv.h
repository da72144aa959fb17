/* RFC 4180 fields: a field holding a comma, a double quote, CR or LF is quoted, with its
 * double quotes doubled; every other field is written as it is. Records end with CRLF. */
#ifndef WF_UTIL_CSV_H
#define WF_UTIL_CSV_H

#include "util/strbuf.h"

#include <stdbool.h>

/* Appends one field, preceded by a comma unless first. NULL (an SQL NULL, such as the receipt
 * figures of a movement still in transit) is written as an empty field. */
void csv_field(strbuf *out, const char *text, bool first);
/* Ends the record. */
void csv_end_record(strbuf *out);

#endif
