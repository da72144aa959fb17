/* Load client of the failover test (test/failover/run.sh): several threads POST the same
 * JSON body to one URL, each request with its own Idempotency-Key, and write one line per
 * answer, so the script can tell which transfers were acknowledged, when, and how the
 * others were refused. A shell loop forking curl managed ~20 requests a second here.
 *
 *   loadgen load  URL BODY CLIENTS PREFIX STOP_FILE MAX_SECONDS
 *       keys PREFIX-<client>-<n>, until STOP_FILE exists or MAX_SECONDS pass; one line
 *       per answer on stdout:  start_ms end_ms key status id retry_after replayed
 *   loadgen retry URL BODY CLIENTS KEYS_FILE
 *       each key of KEYS_FILE (one per line) once; lines:  key status id replayed
 *   loadgen blackhole PORT MAX_SECONDS
 *       once 127.0.0.1:PORT is free (retrying the bind for 10 s, so it can be started while
 *       the server on it is being killed), listens there with a full accept queue that is
 *       never served: Linux then drops every SYN, as for a machine that is gone. Prints
 *       "ready" and holds it until killed or MAX_SECONDS pass. No root, no firewall rule.
 *
 * After a 503 a load client pauses 100 ms before its next request.
 * status is the HTTP status (000: no answer within 12 s or no connection), id the
 * top-level "id" of the answer or "-", retry_after and replayed 1 when the answer carried
 * Retry-After or "Idempotent-Replayed: true". Times are epoch milliseconds. The
 * environment variable LOADGEN_AUTHORIZATION, when set, is sent as the Authorization
 * header (kept out of the command line). Exit status 0 unless setup failed. */
#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS          64
#define MAX_BODY_BYTES       65536
#define REQUEST_TIMEOUT_MS   12000
#define MAX_KEY_BYTES        256
#define UNAVAILABLE_PAUSE_MS 100

typedef struct {
    char body[MAX_BODY_BYTES + 1];
    size_t body_len;
    bool retry_after;
    bool replayed;
} answer;

typedef struct {
    const char *url;
    const char *request_body;
    const char *authorization; /* full header line, or NULL */
    /* load mode */
    const char *prefix;
    const char *stop_file;
    long long deadline_ms;
    /* retry mode */
    char **keys;
    size_t key_count;
    atomic_size_t next_key;
    pthread_mutex_t out_lock;
} run;

typedef struct {
    run *shared;
    int client;
} client_arg;

static long long epoch_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    answer *a = arg;
    size_t bytes = size * count;
    size_t room = MAX_BODY_BYTES - a->body_len;
    size_t kept = bytes < room ? bytes : room;
    memcpy(a->body + a->body_len, data, kept);
    a->body_len += kept;
    a->body[a->body_len] = '\0';
    return bytes;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    return len > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':';
}

static size_t on_header(char *line, size_t size, size_t count, void *arg)
{
    answer *a = arg;
    size_t len = size * count;
    if (header_is(line, len, "Retry-After")) {
        a->retry_after = true;
    }
    if (header_is(line, len, "Idempotent-Replayed")) {
        const char *value = line + strlen("Idempotent-Replayed:");
        while (*value == ' ') {
            value++;
        }
        a->replayed = strncasecmp(value, "true", 4) == 0;
    }
    return len;
}

/* The top-level "id" of a transfer answer: its first "id" member (shipments carry only
 * storage_id). Writes "-" when there is none or it is null. */
static void answer_id(const answer *a, char *out, size_t out_size)
{
    const char *p = strstr(a->body, "\"id\":");
    snprintf(out, out_size, "-");
    if (p == NULL) {
        return;
    }
    p += strlen("\"id\":");
    while (*p == ' ') {
        p++;
    }
    char *end;
    long long id = strtoll(p, &end, 10);
    if (end != p && id > 0) {
        snprintf(out, out_size, "%lld", id);
    }
}

/* One POST with the given key; returns the HTTP status, 0 when there was no answer. */
static long post(CURL *curl, run *r, const char *key, answer *a)
{
    char key_header[MAX_KEY_BYTES + 32];
    snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, key_header);
    if (r->authorization != NULL) {
        headers = curl_slist_append(headers, r->authorization);
    }
    memset(a, 0, sizeof *a);
    curl_easy_setopt(curl, CURLOPT_URL, r->url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->request_body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(headers);
    return status;
}

/* What a client thread holds: its curl handle and its answer buffer. */
typedef struct {
    CURL *curl;
    answer *a;
} client;

/* Exits the program when out of memory. */
static client client_start(void)
{
    client c = {curl_easy_init(), malloc(sizeof(answer))};
    if (c.curl == NULL || c.a == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return c;
}

static void client_end(client c)
{
    free(c.a);
    curl_easy_cleanup(c.curl);
}

static void *load_client(void *arg)
{
    client_arg *ca = arg;
    run *r = ca->shared;
    client c = client_start();
    for (long n = 0; access(r->stop_file, F_OK) != 0 && epoch_ms() < r->deadline_ms; n++) {
        char key[MAX_KEY_BYTES], id[32];
        snprintf(key, sizeof key, "%s-%d-%ld", r->prefix, ca->client, n);
        long long started = epoch_ms();
        long status = post(c.curl, r, key, c.a);
        long long ended = epoch_ms();
        answer_id(c.a, id, sizeof id);
        pthread_mutex_lock(&r->out_lock);
        printf("%lld %lld %s %03ld %s %d %d\n", started, ended, key, status, id, c.a->retry_after,
               c.a->replayed);
        fflush(stdout);
        pthread_mutex_unlock(&r->out_lock);
        if (status == 503) {
            /* A polite client waits before trying again. Less than the Retry-After of 1 s,
             * so that the end of the outage is seen to within a tenth of a second. */
            usleep(UNAVAILABLE_PAUSE_MS * 1000);
        }
    }
    client_end(c);
    return NULL;
}

static void *retry_client(void *arg)
{
    client_arg *ca = arg;
    run *r = ca->shared;
    client c = client_start();
    for (;;) {
        size_t i = atomic_fetch_add(&r->next_key, 1);
        if (i >= r->key_count) {
            break;
        }
        char id[32];
        long status = post(c.curl, r, r->keys[i], c.a);
        answer_id(c.a, id, sizeof id);
        pthread_mutex_lock(&r->out_lock);
        printf("%s %03ld %s %d\n", r->keys[i], status, id, c.a->replayed);
        pthread_mutex_unlock(&r->out_lock);
    }
    client_end(c);
    return NULL;
}

static int read_keys(run *r, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        perror(path);
        return -1;
    }
    size_t capacity = 0;
    char line[MAX_KEY_BYTES];
    while (fgets(line, sizeof line, in) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        if (r->key_count == capacity) {
            capacity = capacity ? capacity * 2 : 1024;
            char **grown = realloc(r->keys, capacity * sizeof *grown);
            if (grown == NULL) {
                fclose(in);
                return -1;
            }
            r->keys = grown;
        }
        r->keys[r->key_count] = strdup(line);
        if (r->keys[r->key_count] == NULL) {
            fclose(in);
            return -1;
        }
        r->key_count++;
    }
    fclose(in);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: loadgen load URL BODY CLIENTS PREFIX STOP_FILE MAX_SECONDS\n"
                    "       loadgen retry URL BODY CLIENTS KEYS_FILE\n"
                    "       loadgen blackhole PORT MAX_SECONDS\n");
    return 2;
}

static int blackhole(int port, int max_seconds)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        perror("loadgen: socket");
        return 2;
    }
    long long give_up = epoch_ms() + 10000;
    while (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (errno != EADDRINUSE || epoch_ms() > give_up) {
            perror("loadgen: bind");
            return 2;
        }
        usleep(5000);
    }
    /* Backlog 0 holds one connection: ours, never accepted. */
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    if (listen(listener, 0) != 0 || filler < 0 ||
        connect(filler, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("loadgen: listen");
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    sleep((unsigned)max_seconds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "blackhole") == 0) {
        return blackhole(atoi(argv[2]), atoi(argv[3]));
    }
    bool load = argc == 8 && strcmp(argv[1], "load") == 0;
    bool retry = argc == 6 && strcmp(argv[1], "retry") == 0;
    if (!load && !retry) {
        return usage();
    }
    static run r;
    r.url = argv[2];
    r.request_body = argv[3];
    int clients = atoi(argv[4]);
    if (clients < 1 || clients > MAX_CLIENTS) {
        return usage();
    }
    static char authorization[4096];
    const char *auth = getenv("LOADGEN_AUTHORIZATION");
    if (auth != NULL && auth[0] != '\0') {
        snprintf(authorization, sizeof authorization, "Authorization: %s", auth);
        r.authorization = authorization;
    }
    pthread_mutex_init(&r.out_lock, NULL);
    if (load) {
        r.prefix = argv[5];
        r.stop_file = argv[6];
        r.deadline_ms = epoch_ms() + atoll(argv[7]) * 1000;
    } else if (read_keys(&r, argv[5]) != 0) {
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        return 2;
    }
    pthread_t threads[MAX_CLIENTS];
    client_arg args[MAX_CLIENTS];
    for (int i = 0; i < clients; i++) {
        args[i] = (client_arg){.shared = &r, .client = i + 1};
        if (pthread_create(&threads[i], NULL, load ? load_client : retry_client, &args[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start a thread\n");
            return 2;
        }
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
    }
    fflush(stdout);
    curl_global_cleanup();
    return 0;
}
