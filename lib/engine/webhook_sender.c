/* See webhook_sender.h. The rounds of one poll (on the control connection):
 *   1. ST_WH_LEASE + ST_WH_DUE: hold the lease? and what is due, per endpoint;
 *   2. (leader, something due) the entities' statements, one per message (the renderer's);
 *   then each message is signed and handed to curl; its outcome is recorded by ST_WH_RECORD
 *   in a transaction of its own, after which the message leaves the in-flight list.
 * A message's states, with the list that holds it:
 *   MSG_SENDING    s->flight, its easy handle in s->multi
 *   MSG_RECORDING  s->flight, ST_WH_RECORD on the control connection
 * The curl side follows curl's hiper/ephiperfifo examples: curl says which sockets to watch
 * (socket_cb) and when to call it back (timer_cb); libevent tells it what became ready. */
#include "engine/webhook_sender.h"
#include "engine/statements.h"
#include "util/digest.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/net_class.h"
#include "util/webhook_sign.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WEBHOOK_POLL_MS        200
#define WEBHOOK_IDLE_POLL_MS   2000 /* after polls that found nothing, at most this far apart */
#define WEBHOOK_LEASE_MS       6000
#define WEBHOOK_FLIGHT_MAX     256 /* messages in flight, all endpoints together */
#define WEBHOOK_RESPONSE_MAX   (64 * 1024)
#define WEBHOOK_CONNECT_MAX_MS 5000
#define WEBHOOK_PRUNE_EVERY_MS 60000

typedef enum {
    MSG_SENDING,
    MSG_RECORDING,
} msg_state;

typedef struct message {
    webhook_sender *sender;
    msg_state state;
    int64_t outbox_id;
    int64_t webhook_id;
    int attempts; /* before this one */
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t response_bytes;
    long status;  /* the HTTP status, 0 for none */
    bool refused; /* the guard refused every address */
} message;

/* One socket curl asked us to watch. */
typedef struct {
    struct event *ev;
} sock_watch;

struct webhook_sender {
    wf_app *app;
    const webhook_renderer *renderer;
    CURLM *multi;
    struct event *curl_timer;
    struct event *poll_timer;
    char holder[33];
    int64_t term;      /* 0: not the holder */
    int64_t pruned_ms; /* when finished messages were last pruned */
    bool polling;
    int quiet_polls; /* polls in a row that found nothing waiting */
    bool stopped;
    int releasing;
    int recording; /* ST_WH_RECORD transactions in flight */
    message *flight[WEBHOOK_FLIGHT_MAX];
    int flight_count;
    uint8_t seal_key[DIGEST_HMAC_BYTES];
};

static void schedule_poll(webhook_sender *s, int delay_ms)
{
    if (s->stopped) {
        return;
    }
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(s->poll_timer, &tv);
}

static void message_free(message *m)
{
    if (m->easy != NULL) {
        curl_multi_remove_handle(m->sender->multi, m->easy);
        curl_easy_cleanup(m->easy);
    }
    curl_slist_free_all(m->headers);
    free(m->body);
    free(m);
}

static void flight_remove(webhook_sender *s, message *m)
{
    for (int i = 0; i < s->flight_count; i++) {
        if (s->flight[i] == m) {
            s->flight[i] = s->flight[--s->flight_count];
            return;
        }
    }
}

static int in_flight_for(const webhook_sender *s, int64_t webhook_id)
{
    int n = 0;
    for (int i = 0; i < s->flight_count; i++) {
        n += s->flight[i]->webhook_id == webhook_id;
    }
    return n;
}

/* ---------------------------------------------------------------- recording an outcome */

static void record_read(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

static void record_done(tx *t, tx_outcome outcome)
{
    message *m = tx_user(t);
    webhook_sender *s = m->sender;
    s->recording--;
    if (outcome != TX_OK) {
        /* Not recorded: the message is still undelivered in the outbox, and goes again. */
        log_event(LOG_WARN, "webhooks: an attempt could not be recorded; it will be repeated",
                  NULL);
    }
    flight_remove(s, m);
    message_free(m);
    if (!s->stopped) {
        schedule_poll(s, 0); /* the endpoint may have more waiting behind this one */
    }
}

static double jitter(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) {
        return 0.5;
    }
    return (double)r / 4294967296.0;
}

static void record(message *m)
{
    webhook_sender *s = m->sender;
    bool delivered = m->status >= 200 && m->status < 300;
    int64_t wait_ms =
        delivered
            ? 0
            : webhook_retry_delay_ms(m->attempts + 1, s->app->cfg->webhook_retry_base_ms, jitter());
    if (m->easy != NULL) {
        curl_multi_remove_handle(s->multi, m->easy);
        curl_easy_cleanup(m->easy);
        m->easy = NULL;
    }
    m->state = MSG_RECORDING;
    s->recording++;
    tx *t = tx_background(s->app, clock_ms() + s->app->cfg->request_timeout_ms, record_done);
    tx_use_control(t);
    tx_set_user(t, m);
    char status[16];
    snprintf(status, sizeof status, "%ld", m->status);
    tx_q(t, ST_WH_RECORD, tx_int(t, m->outbox_id), m->status > 0 ? tx_text(t, status) : NULL,
         tx_bool(delivered), tx_int(t, wait_ms), s->holder, tx_int(t, s->term));
    tx_run(t, TX_ONE_ROUND, record_read);
}

/* ---------------------------------------------------------------- curl on the loop */

static void check_done(webhook_sender *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        message *m = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&m);
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        /* A response whose body passed the cap still says how it went. */
        m->status = code;
        if (code == 0) {
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)m->outbox_id);
            log_event(LOG_INFO, "webhooks: no answer", "message", id, "reason",
                      m->refused ? "address refused (private, loopback or link-local)"
                                 : curl_easy_strerror(msg->data.result),
                      NULL);
        }
        record(m);
    }
}

static void on_socket(evutil_socket_t fd, short kind, void *arg)
{
    webhook_sender *s = arg;
    int action =
        ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(s->multi, fd, action, &running);
    check_done(s);
    if (running <= 0) {
        evtimer_del(s->curl_timer);
    }
}

static void on_curl_timer(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    webhook_sender *s = arg;
    int running = 0;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl waits for, or stop watching it. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    webhook_sender *s = userp;
    sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(s->multi, fd, NULL);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (w == NULL) {
        w = xcalloc(1, sizeof *w);
        curl_multi_assign(s->multi, fd, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(s->app->base, fd, kind, on_socket, s);
    if (w->ev != NULL) {
        event_add(w->ev, NULL);
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: call curl back after timeout_ms (-1: never). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    webhook_sender *s = userp;
    if (timeout_ms < 0) {
        evtimer_del(s->curl_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(s->curl_timer, &tv);
    return 0;
}

/* The response body is not needed: counted, and the transfer stopped past the cap. */
static size_t discard_body(char *data, size_t size, size_t count, void *userp)
{
    (void)data;
    message *m = userp;
    m->response_bytes += size * count;
    return m->response_bytes > WEBHOOK_RESPONSE_MAX ? 0 : size * count;
}

/* CURLOPT_OPENSOCKETFUNCTION: the guard on the address curl resolved and is about to
 * connect to (every address it tries, so no name can resolve past it). */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    message *m = clientp;
    (void)purpose;
    if (!m->sender->app->cfg->webhook_allow_private) {
        net_class c = NET_RESERVED;
        if (addr->family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&addr->addr;
            c = net_class_v4((const uint8_t *)&in->sin_addr);
        } else if (addr->family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr->addr;
            c = net_class_v6(in6->sin6_addr.s6_addr);
        }
        if (c != NET_PUBLIC) {
            m->refused = true;
            return CURL_SOCKET_BAD;
        }
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static bool add_header(message *m, const char *name, const char *value)
{
    char line[256];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *grown = curl_slist_append(m->headers, line);
    if (grown == NULL) {
        return false;
    }
    m->headers = grown;
    return true;
}

/* Signs and starts one delivery; false when it cannot be sent (the message stays undelivered
 * and is tried at a later poll). */
static bool start_delivery(message *m, const char *url, const char *secret, const char *event_type,
                           const char *created_at_json, const char *data)
{
    webhook_sender *s = m->sender;
    strbuf body = {0};
    strbuf_puts(&body, "{\"type\":");
    strbuf_json_string(&body, event_type);
    strbuf_puts(&body, ",\"timestamp\":");
    strbuf_puts(&body, created_at_json);
    strbuf_puts(&body, ",\"data\":");
    strbuf_puts(&body, data);
    strbuf_puts(&body, "}");
    if (strbuf_failed(&body)) {
        strbuf_free(&body);
        return false;
    }
    size_t body_len = body.len;
    m->body = strbuf_take(&body);
    char message_id[32], timestamp[24], signature[WEBHOOK_SIGNATURE_MAX];
    snprintf(message_id, sizeof message_id, "msg_%lld", (long long)m->outbox_id);
    int64_t now = (int64_t)time(NULL);
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)now);
    if (webhook_sign(secret, message_id, now, m->body, body_len, signature) != 0 ||
        !add_header(m, "Content-Type", "application/json") ||
        !add_header(m, "User-Agent", "wasteflow-webhooks/1") ||
        !add_header(m, "webhook-id", message_id) ||
        !add_header(m, "webhook-timestamp", timestamp) ||
        !add_header(m, "webhook-signature", signature) || !add_header(m, "Expect", "")) {
        return false;
    }
    m->easy = curl_easy_init();
    if (m->easy == NULL) {
        return false;
    }
    const config *cfg = s->app->cfg;
    long timeout = cfg->webhook_timeout_ms;
    CURL *e = m->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout < WEBHOOK_CONNECT_MAX_MS ? timeout : WEBHOOK_CONNECT_MAX_MS);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, m->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, m);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, m);
    curl_easy_setopt(e, CURLOPT_PRIVATE, m);
    /* No proxy from the environment: the guard checks the address actually connected to. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        m->easy = NULL;
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- polling */

/* A due message as round 1 read it (copied: a round's results end with the round). */
typedef struct {
    int64_t outbox_id, webhook_id;
    int attempts;
    const char *event_type, *entity_id, *url, *secret, *created_at;
    int first_query; /* its entity's first statement in round 2, -1 when none */
} due_message;

typedef struct {
    webhook_sender *s;
    int count;
    due_message *due;
} poll_job;

static void poll_done(tx *t, tx_outcome outcome)
{
    poll_job *job = tx_user(t);
    webhook_sender *s = job->s;
    s->polling = false;
    if (outcome != TX_OK) {
        s->term = 0; /* not known to hold it: find out at the next poll */
    }
    /* An idle outbox is looked at less and less often, down to once a second: an idle
     * deployment costs the database one small transaction a second, not five. */
    int delay = WEBHOOK_POLL_MS;
    for (int i = 0; i < s->quiet_polls && delay < WEBHOOK_IDLE_POLL_MS; i++) {
        delay *= 2;
    }
    delay = delay < WEBHOOK_IDLE_POLL_MS ? delay : WEBHOOK_IDLE_POLL_MS;
    schedule_poll(s, s->term != 0 ? delay : WEBHOOK_LEASE_MS / 3);
}

static void send_one(webhook_sender *s, tx *t, const due_message *d, const db_result *result)
{
    strbuf data = {0};
    bool have = false;
    if (d->first_query >= 0 && result != NULL) {
        have = s->renderer->render(&data, t, d->event_type, result, d->first_query);
    }
    if (!have) {
        /* An entity the sender cannot read (an alert, or one gone): its id is the data. */
        strbuf_free(&data);
        strbuf_printf(&data, "{\"id\":%s}", d->entity_id);
    }
    strbuf created = {0};
    strbuf_json_string(&created, d->created_at);
    char secret[WEBHOOK_SECRET_MAX];
    message *m = xcalloc(1, sizeof *m);
    m->sender = s;
    m->state = MSG_SENDING;
    m->outbox_id = d->outbox_id;
    m->webhook_id = d->webhook_id;
    m->attempts = d->attempts;
    if (webhook_secret_open(s->seal_key, d->secret, secret) != 0) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)d->webhook_id);
        log_event(LOG_ERROR,
                  "webhooks: a secret does not open with this deployment's key; its messages wait",
                  "webhook", id, NULL);
        message_free(m);
    } else if (strbuf_failed(&data) || strbuf_failed(&created) ||
               !start_delivery(m, d->url, secret, d->event_type, created.data, data.data)) {
        message_free(m);
    } else {
        s->flight[s->flight_count++] = m;
    }
    strbuf_free(&data);
    strbuf_free(&created);
}

static void rendered(tx *t, const db_result *result)
{
    poll_job *job = tx_user(t);
    for (int i = 0; i < job->count && !job->s->stopped; i++) {
        send_one(job->s, t, &job->due[i], result);
    }
    tx_finish(t);
}

static void polled(tx *t, const db_result *result)
{
    poll_job *job = tx_user(t);
    webhook_sender *s = job->s;
    bool leads = db_rows(result, 0) == 1 && strcmp(db_text(result, 0, 0, 1), "t") == 0;
    s->term = leads ? db_int64(result, 0, 0, 0) : 0;
    int rows = db_rows(result, 1);
    s->quiet_polls = rows == 0 ? s->quiet_polls + 1 : 0;
    if (!leads || rows == 0 || s->stopped) {
        tx_finish(t);
        return;
    }
    /* Per endpoint, take due messages oldest first while there is room; one that is not due
     * yet holds back those after it (their order is the endpoint's). */
    job->due = TX_ARRAY(t, due_message, (size_t)rows);
    int64_t blocked = 0;
    int next_query = 0;
    for (int row = 0; row < rows && s->flight_count + job->count < WEBHOOK_FLIGHT_MAX; row++) {
        int64_t webhook_id = db_int64(result, 1, row, 1);
        if (webhook_id == blocked) {
            continue;
        }
        int taken = 0;
        for (int k = 0; k < job->count; k++) {
            taken += job->due[k].webhook_id == webhook_id;
        }
        bool is_due = strcmp(db_text(result, 1, row, 8), "t") == 0;
        if (!is_due || in_flight_for(s, webhook_id) + taken >= s->app->cfg->webhook_max_in_flight) {
            blocked = webhook_id;
            continue;
        }
        due_message *d = &job->due[job->count++];
        d->outbox_id = db_int64(result, 1, row, 0);
        d->webhook_id = webhook_id;
        d->event_type = tx_text(t, db_text(result, 1, row, 2));
        d->entity_id = tx_text(t, db_text(result, 1, row, 3));
        d->attempts = (int)db_int64(result, 1, row, 4);
        d->url = tx_text(t, db_text(result, 1, row, 5));
        d->secret = tx_text(t, db_text(result, 1, row, 6));
        d->created_at = tx_text(t, db_text(result, 1, row, 7));
        int queued = s->renderer->queue(t, d->event_type, d->entity_id);
        d->first_query = queued > 0 ? next_query : -1;
        next_query += queued;
    }
    if (next_query == 0) {
        rendered(t, NULL); /* nothing to read: the ids are the data */
        return;
    }
    tx_next(t, rendered);
}

/* The in-flight outbox ids as a Postgres bigint[] literal. */
static const char *flight_ids(tx *t, const webhook_sender *s)
{
    strbuf ids = {0};
    strbuf_puts(&ids, "{");
    for (int i = 0; i < s->flight_count; i++) {
        if (i > 0) {
            strbuf_puts(&ids, ",");
        }
        strbuf_int(&ids, s->flight[i]->outbox_id);
    }
    strbuf_puts(&ids, "}");
    const char *text = tx_text(t, strbuf_failed(&ids) ? "{}" : ids.data);
    strbuf_free(&ids);
    return text;
}

static void on_poll(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    webhook_sender *s = arg;
    if (s->polling || s->stopped) {
        return;
    }
    s->polling = true;
    tx *t = tx_background(s->app, clock_ms() + s->app->cfg->request_timeout_ms, poll_done);
    tx_use_control(t);
    poll_job *job = TX_NEW(t, poll_job);
    job->s = s;
    tx_set_user(t, job);
    tx_q(t, ST_WH_LEASE, s->holder, tx_int(t, WEBHOOK_LEASE_MS));
    tx_q(t, ST_WH_DUE, tx_int(t, s->app->cfg->webhook_max_in_flight), flight_ids(t, s));
    int64_t now = clock_ms();
    if (s->term != 0 && now - s->pruned_ms >= WEBHOOK_PRUNE_EVERY_MS) {
        s->pruned_ms = now;
        tx_q(t, ST_WH_PRUNE, s->holder);
    }
    tx_run(t, TX_READ, polled);
}

/* ---------------------------------------------------------------- life */

webhook_sender *webhook_sender_new(wf_app *app, const webhook_renderer *renderer)
{
    webhook_sender *s = xcalloc(1, sizeof *s);
    s->app = app;
    s->renderer = renderer;
    uint8_t id[16];
    if (RAND_bytes(id, sizeof id) != 1) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof id; i++) {
        snprintf(s->holder + 2 * i, 3, "%02x", id[i]);
    }
    digest_derive_key(app->deployment_key, DEPLOYMENT_KEY_BYTES, WEBHOOK_SEAL_LABEL, s->seal_key);
    s->multi = curl_multi_init();
    s->curl_timer = evtimer_new(app->base, on_curl_timer, s);
    s->poll_timer = evtimer_new(app->base, on_poll, s);
    if (s->multi == NULL || s->curl_timer == NULL || s->poll_timer == NULL) {
        webhook_sender_free(s);
        return NULL;
    }
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    schedule_poll(s, 0);
    return s;
}

static void released(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

static void release_done(tx *t, tx_outcome outcome)
{
    (void)outcome; /* not released: it expires by itself */
    webhook_sender *s = tx_user(t);
    s->releasing--;
}

void webhook_sender_stop(webhook_sender *s)
{
    if (s == NULL || s->stopped) {
        return;
    }
    s->stopped = true;
    evtimer_del(s->poll_timer);
    /* Deliveries on their way are dropped unrecorded: still undelivered in the outbox, the
     * next holder sends them again (at least once). */
    for (int i = s->flight_count - 1; i >= 0; i--) {
        if (s->flight[i]->state == MSG_SENDING) {
            message *m = s->flight[i];
            flight_remove(s, m);
            message_free(m);
        }
    }
    if (s->term != 0) {
        s->releasing++;
        tx *t = tx_background(s->app, clock_ms() + s->app->cfg->request_timeout_ms, release_done);
        tx_use_control(t);
        tx_set_user(t, s);
        tx_q(t, ST_WH_RELEASE, s->holder, tx_int(t, s->term));
        tx_run(t, TX_ONE_ROUND, released);
        s->term = 0;
    }
}

bool webhook_sender_busy(const webhook_sender *s)
{
    return s != NULL && (s->polling || s->recording > 0 || s->releasing > 0);
}

void webhook_sender_free(webhook_sender *s)
{
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < s->flight_count; i++) {
        message_free(s->flight[i]);
    }
    if (s->multi != NULL) {
        curl_multi_cleanup(s->multi);
    }
    if (s->curl_timer != NULL) {
        event_free(s->curl_timer);
    }
    if (s->poll_timer != NULL) {
        event_free(s->poll_timer);
    }
    free(s);
}
