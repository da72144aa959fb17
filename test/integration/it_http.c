/* The harness's HTTP client (libcurl, test thread only): requests to a server, the parsed
 * response (status, body, JSON, headers) and the printf-style shortcuts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "testutil.h"

#define REQUEST_TIMEOUT_S        60L
#define REQUEST_TIMEOUT_VALGRIND 300L

/* The public response followed by what it_header needs; it_response must stay first. */
typedef struct {
    it_response pub;
    char *request_line; /* "POST /v1/organizations", for failure messages */
    size_t body_cap;
    size_t headers_len;
    size_t headers_cap;
    size_t header_count;
    char **header_names;
    char **header_values;
} response_impl;

static bool curl_ready; /* curl_global_init done */

static long request_timeout_s(void)
{
    return tu_under_valgrind() ? REQUEST_TIMEOUT_VALGRIND : REQUEST_TIMEOUT_S;
}

void harness_curl_init(void)
{
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fail_msg("harness: curl_global_init failed");
        }
        curl_ready = true;
    }
}

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    response_impl *response = context;
    size_t length = size * count;
    harness_append_text(&response->pub.body, &response->pub.body_len, &response->body_cap, data,
                        length);
    return length;
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    response_impl *response = context;
    size_t length = size * count;
    /* A new status line (after an interim 1xx) starts a new header block. */
    if (length >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        response->headers_len = 0;
        if (response->pub.headers != NULL) {
            response->pub.headers[0] = '\0';
        }
    }
    harness_append_text(&response->pub.headers, &response->headers_len, &response->headers_cap,
                        data, length);
    return length;
}

static void index_headers(response_impl *response)
{
    size_t lines = 0;
    for (const char *c = response->pub.headers; c && *c; c++) {
        lines += *c == '\n';
    }
    response->header_names = harness_xmalloc((lines + 1) * sizeof(char *));
    response->header_values = harness_xmalloc((lines + 1) * sizeof(char *));
    const char *line = response->pub.headers;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t line_len = end ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', line_len);
        if (colon != NULL && strncmp(line, "HTTP/", 5) != 0) {
            const char *value = colon + 1;
            const char *value_end = line + line_len;
            while (value < value_end && (*value == ' ' || *value == '\t')) {
                value++;
            }
            while (value_end > value && isspace((unsigned char)value_end[-1])) {
                value_end--;
            }
            size_t i = response->header_count++;
            response->header_names[i] = strndup(line, (size_t)(colon - line));
            response->header_values[i] = strndup(value, (size_t)(value_end - value));
            if (!response->header_names[i] || !response->header_values[i]) {
                fail_msg("harness: out of memory");
            }
        }
        line = end ? end + 1 : NULL;
    }
}

it_response *it_request_to(const char *base_url, const char *method, const char *path,
                           const char *body, const char *const *headers)
{
    harness_curl_init();
    response_impl *response = calloc(1, sizeof *response);
    if (response == NULL) {
        fail_msg("harness: out of memory");
    }
    harness_append_text(&response->pub.body, &response->pub.body_len, &response->body_cap, "", 0);
    harness_append_text(&response->pub.headers, &response->headers_len, &response->headers_cap, "",
                        0);
    response->request_line = tu_format("%s %s", method, path);

    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        fail_msg("harness: curl_easy_init failed");
    }
    /* Prism parses every body it proxies and answers malformed JSON itself, so the
     * suite's deliberately malformed bodies go straight to the server. */
    const char *direct_url = harness_direct_url(base_url);
    if (direct_url != NULL && body != NULL && body[0] != '\0') {
        cJSON *parsed = cJSON_Parse(body);
        if (parsed == NULL) {
            base_url = direct_url;
        }
        cJSON_Delete(parsed);
    }
    char *url = tu_format("%s%s", base_url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, request_timeout_s());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
    /* Keep the path exactly as the test wrote it ("/v1/./x" stays). */
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);

    struct curl_slist *header_list = NULL;
    bool has_content_type = false;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (strncasecmp(headers[i], "Content-Type:", 13) == 0) {
            has_content_type = true;
        }
        header_list = curl_slist_append(header_list, headers[i]);
    }
    bool sends_body = body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                      strcmp(method, "PATCH") == 0;
    if (body != NULL && !has_content_type) {
        header_list = curl_slist_append(header_list, "Content-Type: application/json");
    } else if (sends_body && !has_content_type) {
        /* An empty body: keep curl from inventing a form content type. */
        header_list = curl_slist_append(header_list, "Content-Type:");
    }
    /* No "Expect: 100-continue" round trip for larger bodies. */
    header_list = curl_slist_append(header_list, "Expect:");

    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (sends_body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    }

    CURLcode result = it_http_perform(curl, header_list);
    if (result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        response->pub.status = (int)code;
    } else {
        fprintf(stderr, "harness: %s %s%s: transport error: %s\n", method, base_url, path,
                curl_easy_strerror(result));
        response->pub.status = 0;
    }
    curl_easy_cleanup(curl);
    free(url);

    index_headers(response);
    if (response->pub.body_len > 0) {
        response->pub.json = cJSON_ParseWithLength(response->pub.body, response->pub.body_len);
    }
    return &response->pub;
}

CURLcode it_http_perform(CURL *curl, struct curl_slist *headers)
{
    /* Every request carries the runner's admin key unless the caller set Authorization (an
     * empty "Authorization:" makes curl send none). */
    bool has_authorization = false;
    for (const struct curl_slist *h = headers; h != NULL; h = h->next) {
        has_authorization = has_authorization || strncasecmp(h->data, "Authorization:", 14) == 0;
    }
    if (!has_authorization && it_admin_key()[0] != '\0') {
        char line[256];
        snprintf(line, sizeof line, "Authorization: Bearer %s", it_admin_key());
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode result = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return result;
}

it_response *it_request(const char *method, const char *path, const char *body,
                        const char *const *headers)
{
    const char *base_url = it_base_url();
    if (base_url[0] == '\0') {
        fail_msg("harness: no server (it_start not called)");
    }
    return it_request_to(base_url, method, path, body, headers);
}

it_response *it_request_fmt(const char *method, const char *path, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = tu_vformat(fmt, args);
    va_end(args);
    it_response *response =
        path != NULL ? it_request(method, path, text, NULL) : it_request(method, text, NULL, NULL);
    free(text);
    return response;
}

void it_response_free(it_response *public_response)
{
    if (public_response == NULL) {
        return;
    }
    response_impl *response = (response_impl *)public_response;
    for (size_t i = 0; i < response->header_count; i++) {
        free(response->header_names[i]);
        free(response->header_values[i]);
    }
    free(response->header_names);
    free(response->header_values);
    free(response->request_line);
    cJSON_Delete(public_response->json);
    free(public_response->body);
    free(public_response->headers);
    free(response);
}

const char *it_header(const it_response *public_response, const char *name)
{
    const response_impl *response = (const response_impl *)public_response;
    for (size_t i = 0; i < response->header_count; i++) {
        if (strcasecmp(response->header_names[i], name) == 0) {
            return response->header_values[i];
        }
    }
    return NULL;
}

const char *it_request_line(const it_response *public_response)
{
    return ((const response_impl *)public_response)->request_line;
}

char *it_url_escape(const char *text)
{
    harness_curl_init();
    char *escaped = curl_easy_escape(NULL, text, 0);
    if (escaped == NULL) {
        fail_msg("harness: curl_easy_escape failed");
    }
    char *copy = harness_xstrdup(escaped);
    curl_free(escaped);
    return copy;
}
