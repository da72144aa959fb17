/* `wasteflow keys create|list|revoke` — API keys from the command line, each printing one
 * JSON object on stdout (errors: a message on stderr and a non-zero exit) — and the demo
 * keys of `wasteflow seed demo-keys`. Plain blocking libpq: a command-line tool. */
#include "commands.h"

#include "api/repr.h"
#include "auth/api_key.h"
#include "auth/principal.h"
#include "db/migrate.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_COLUMNS                                                                                \
    "id, role, organization_id, storage_id, name, created_at, expires_at, revoked_at"

static PGconn *connect_db(const config *cfg)
{
    char error[512];
    PGconn *pg = db_connect_waiting(cfg->database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
    if (pg == NULL) {
        fprintf(stderr, "wasteflow keys: %s\n", error);
        return NULL;
    }
    /* Timestamps come back as UTC text, which the representations turn into RFC 3339. */
    PQclear(PQexec(pg, "SET TimeZone = 'UTC'"));
    PQclear(PQexec(pg, "SET DateStyle = 'ISO, YMD'"));
    return pg;
}

static bool query_ok(PGresult *r, const char *what)
{
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        return true;
    }
    fprintf(stderr, "wasteflow keys: %s: %s", what, PQresultErrorMessage(r));
    return false;
}

static repr_key_row key_row(PGresult *r, int row)
{
    const char *values[8];
    for (int col = 0; col < 8; col++) {
        values[col] = PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
    }
    return (repr_key_row){
        .id = strtoll(values[0], NULL, 10),
        .role = values[1],
        .organization_id = values[2] != NULL ? strtoll(values[2], NULL, 10) : 0,
        .storage_id = values[3] != NULL ? strtoll(values[3], NULL, 10) : 0,
        .name = values[4],
        .created_at = values[5],
        .expires_at = values[6],
        .revoked_at = values[7],
    };
}

static void print_buffer(strbuf *out)
{
    strbuf_puts(out, "\n");
    fputs(out->data, stdout);
    strbuf_free(out);
}

typedef struct {
    auth_role role;
    int64_t organization_id, storage_id;
    const char *name;
    int expires_in_days; /* 0: never */
} key_request;

/* Creates the key; fills token (API_KEY_TOKEN_MAX) and the stored row's result. NULL (with
 * a message on stderr) on failure. */
static PGresult *create_key(PGconn *pg, const key_request *request, char *token)
{
    char secret[2 * API_KEY_SECRET_BYTES + 1];
    uint8_t hash[API_KEY_HASH_BYTES];
    if (api_key_new_secret(secret, hash) != 0) {
        fprintf(stderr, "wasteflow keys: no random bytes: %s\n", strerror(errno));
        return NULL;
    }
    char hash_hex[2 * API_KEY_HASH_BYTES + 1], organization[24], storage[24], days[24];
    for (size_t i = 0; i < API_KEY_HASH_BYTES; i++) {
        snprintf(hash_hex + 2 * i, 3, "%02x", hash[i]);
    }
    snprintf(organization, sizeof organization, "%lld", (long long)request->organization_id);
    snprintf(storage, sizeof storage, "%lld", (long long)request->storage_id);
    snprintf(days, sizeof days, "%d", request->expires_in_days);
    const char *params[6] = {
        hash_hex,
        auth_role_name(request->role),
        request->organization_id ? organization : NULL,
        request->storage_id ? storage : NULL,
        request->name,
        request->expires_in_days ? days : NULL,
    };
    PGresult *r = PQexecParams(
        pg,
        "INSERT INTO api_keys (secret_hash, role, organization_id, storage_id, name, expires_at) "
        "VALUES (decode($1, 'hex'), $2, $3::bigint, $4::bigint, $5, "
        "now() + make_interval(days => $6::int)) RETURNING " KEY_COLUMNS,
        6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *constraint = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        if (constraint != NULL && strcmp(constraint, "api_keys_organization_id_fkey") == 0) {
            fprintf(stderr, "wasteflow keys: no organization %s\n", organization);
        } else if (constraint != NULL && strcmp(constraint, "api_keys_storage_id_fkey") == 0) {
            fprintf(stderr, "wasteflow keys: no storage %s\n", storage);
        } else {
            fprintf(stderr, "wasteflow keys: cannot create the key: %s", PQresultErrorMessage(r));
        }
        PQclear(r);
        return NULL;
    }
    int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (api_key_format(id, secret, token, API_KEY_TOKEN_MAX) != 0) {
        fprintf(stderr, "wasteflow keys: cannot write the key out\n");
        PQclear(r);
        return NULL;
    }
    return r;
}

static bool parse_id(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1) {
        return false;
    }
    *out = value;
    return true;
}

static int keys_create(const config *cfg, int argc, char **argv)
{
    key_request request = {0};
    const char *role = NULL;
    for (int i = 0; i < argc; i++) {
        const char *option = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = value != NULL;
        if (ok && strcmp(option, "--role") == 0) {
            role = value;
        } else if (ok && strcmp(option, "--organization") == 0) {
            ok = parse_id(value, &request.organization_id);
        } else if (ok && strcmp(option, "--storage") == 0) {
            ok = parse_id(value, &request.storage_id);
        } else if (ok && strcmp(option, "--name") == 0) {
            request.name = value;
            ok = value[0] != '\0' && strlen(value) <= 200;
        } else if (ok && strcmp(option, "--expires-in") == 0) {
            int64_t days = 0;
            ok = parse_id(value, &days) && days <= 36500;
            request.expires_in_days = (int)days;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "wasteflow keys create: bad option \"%s\"%s\n", option,
                    value == NULL ? " (it needs a value)" : "");
            return 2;
        }
        i++;
    }
    request.role = role != NULL ? auth_role_parse(role) : 0;
    if (request.role == 0) {
        fprintf(stderr, "wasteflow keys create: --role must be one of admin, auditor, monitor, "
                        "organization, storage\n");
        return 2;
    }
    const char *scope =
        auth_scope_problem(request.role, request.organization_id, request.storage_id);
    if (scope != NULL) {
        fprintf(stderr, "wasteflow keys create: %s (--organization ID / --storage ID)\n", scope);
        return 2;
    }
    PGconn *pg = connect_db(cfg);
    if (pg == NULL) {
        return 1;
    }
    char token[API_KEY_TOKEN_MAX];
    PGresult *r = create_key(pg, &request, token);
    int status = 1;
    if (r != NULL) {
        repr_key_row key = key_row(r, 0);
        strbuf out = {0};
        /* Exactly the members docs/design.md ("Access control") names for this command. */
        strbuf_printf(&out, "{\"id\":%lld,\"key\":", (long long)key.id);
        strbuf_json_string(&out, token);
        strbuf_puts(&out, ",\"role\":");
        strbuf_json_string(&out, key.role);
        strbuf_puts(&out, ",\"organization_id\":");
        strbuf_puts(&out, key.organization_id ? PQgetvalue(r, 0, 2) : "null");
        strbuf_puts(&out, ",\"storage_id\":");
        strbuf_puts(&out, key.storage_id ? PQgetvalue(r, 0, 3) : "null");
        strbuf_puts(&out, ",\"name\":");
        if (key.name != NULL) {
            strbuf_json_string(&out, key.name);
        } else {
            strbuf_puts(&out, "null");
        }
        strbuf_puts(&out, ",\"expires_at\":");
        if (key.expires_at != NULL) {
            repr_timestamp(&out, key.expires_at);
        } else {
            strbuf_puts(&out, "null");
        }
        strbuf_puts(&out, "}");
        print_buffer(&out);
        PQclear(r);
        status = 0;
    }
    PQfinish(pg);
    return status;
}

static int keys_list(const config *cfg)
{
    PGconn *pg = connect_db(cfg);
    if (pg == NULL) {
        return 1;
    }
    PGresult *r = PQexec(pg, "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY id");
    int status = 1;
    if (query_ok(r, "cannot list the keys")) {
        strbuf out = {0};
        repr_page_begin(&out);
        for (int row = 0; row < PQntuples(r); row++) {
            repr_key_row key = key_row(r, row);
            repr_page_item(&out, (size_t)row);
            repr_api_key(&out, &key);
        }
        repr_page_end(&out, NULL);
        print_buffer(&out);
        status = 0;
    }
    PQclear(r);
    PQfinish(pg);
    return status;
}

static int keys_revoke(const config *cfg, int argc, char **argv)
{
    int64_t id;
    if (argc != 1 || !parse_id(argv[0], &id)) {
        fprintf(stderr, "usage: wasteflow keys revoke ID\n");
        return 2;
    }
    PGconn *pg = connect_db(cfg);
    if (pg == NULL) {
        return 1;
    }
    const char *params[1] = {argv[0]};
    PGresult *r = PQexecParams(pg,
                               "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                               "WHERE id = $1::bigint RETURNING " KEY_COLUMNS,
                               1, NULL, params, NULL, NULL, 0);
    int status = 1;
    if (query_ok(r, "cannot revoke the key")) {
        if (PQntuples(r) == 0) {
            fprintf(stderr, "wasteflow keys revoke: no key %s\n", argv[0]);
        } else {
            repr_key_row key = key_row(r, 0);
            strbuf out = {0};
            repr_api_key(&out, &key);
            print_buffer(&out);
            status = 0;
        }
    }
    PQclear(r);
    PQfinish(pg);
    return status;
}

int keys_main(const config *cfg, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0) {
        return keys_create(cfg, argc - 1, argv + 1);
    }
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        return keys_list(cfg);
    }
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0) {
        return keys_revoke(cfg, argc - 1, argv + 1);
    }
    fprintf(stderr, "usage: wasteflow keys create --role ROLE [--organization ID | --storage ID] "
                    "[--name TEXT] [--expires-in DAYS]\n"
                    "       wasteflow keys list\n"
                    "       wasteflow keys revoke ID\n");
    return 2;
}

/* ---- demo keys (`wasteflow seed demo-keys`) ---- */

typedef struct {
    char variable[32]; /* ADMIN_KEY, ORG_1_KEY, STORAGE_3_KEY */
    char label[256];   /* "admin", "organization 1 (ОО1)" */
    key_request request;
    char name[256];
    char token[API_KEY_TOKEN_MAX];
} demo_key;

/* The token text holds for variable, or "" (lines "NAME=token # label"). */
static void token_in_text(const char *text, const char *variable, char *out, size_t size)
{
    out[0] = '\0';
    size_t len = strlen(variable);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, variable, len) == 0 && line[len] == '=') {
            size_t token = strcspn(line + len + 1, " \t\r\n#");
            snprintf(out, size, "%.*s", (int)token, line + len + 1);
            return;
        }
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
}

/* The first line of every file seed demo-keys writes: a file without it was not written by
 * this tool, and is never overwritten. */
#define DEMO_KEYS_MARKER "# wasteflow demo API keys (wasteflow seed demo-keys)"
#define DEMO_KEYS_MAX    65536 /* bytes of a demo key file read back */

/* The demo key file as found before anything is written. The file holds secrets, and its
 * path may sit in a directory others can write to (a shared checkout): whoever planted a
 * symbolic link or a file of theirs there must not get the keys written to where it points,
 * nor have a file of the user's replaced. So it is opened without following a symbolic
 * link, and reused only when it is a regular file of the current user, with one name, that
 * this tool wrote (its marker line); else the command stops before changing anything. */
typedef struct {
    int fd; /* the existing file, opened for writing; -1 when there is none yet */
    char text[DEMO_KEYS_MAX + 1];
} demo_file;

static const char *demo_file_open(const char *path, demo_file *file)
{
    file->fd = -1;
    file->text[0] = '\0';
    /* O_NONBLOCK: a FIFO planted at the path must not hang the open. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return NULL; /* made later, with O_CREAT | O_EXCL */
        }
        return errno == ELOOP ? "it is a symbolic link" : strerror(errno);
    }
    struct stat st;
    const char *refusal = NULL;
    if (fstat(fd, &st) != 0) {
        refusal = strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        refusal = "it is not a regular file";
    } else if (st.st_uid != geteuid()) {
        refusal = "it belongs to another user";
    } else if (st.st_nlink != 1) {
        refusal = "it has other names (hard links)";
    } else {
        ssize_t got = pread(fd, file->text, DEMO_KEYS_MAX, 0);
        file->text[got > 0 ? got : 0] = '\0';
        if (strncmp(file->text, DEMO_KEYS_MARKER, strlen(DEMO_KEYS_MARKER)) != 0) {
            refusal = "it was not written by wasteflow seed demo-keys";
        }
    }
    if (refusal != NULL) {
        close(fd);
        return refusal;
    }
    file->fd = fd;
    return NULL;
}

/* Whether token is a live key of the demo key's role and scope in this database. */
static bool token_still_good(PGconn *pg, const demo_key *key, const char *token)
{
    int64_t id;
    uint8_t hash[API_KEY_HASH_BYTES];
    if (token[0] == '\0' || api_key_parse(token, &id, hash) != 0) {
        return false;
    }
    char id_text[24], hash_hex[2 * API_KEY_HASH_BYTES + 1];
    snprintf(id_text, sizeof id_text, "%lld", (long long)id);
    for (size_t i = 0; i < API_KEY_HASH_BYTES; i++) {
        snprintf(hash_hex + 2 * i, 3, "%02x", hash[i]);
    }
    const char *params[2] = {id_text, hash_hex};
    PGresult *r = PQexecParams(
        pg,
        "SELECT role, coalesce(organization_id, 0), coalesce(storage_id, 0) FROM api_keys "
        "WHERE id = $1::bigint AND secret_hash = decode($2, 'hex') AND revoked_at IS NULL AND "
        "(expires_at IS NULL OR expires_at > now())",
        2, NULL, params, NULL, NULL, 0);
    bool good = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                auth_role_parse(PQgetvalue(r, 0, 0)) == key->request.role &&
                strtoll(PQgetvalue(r, 0, 1), NULL, 10) == key->request.organization_id &&
                strtoll(PQgetvalue(r, 0, 2), NULL, 10) == key->request.storage_id;
    PQclear(r);
    return good;
}

/* The picture's organizations and storages, each with its demo key. */
static size_t demo_keys_wanted(PGconn *pg, demo_key *keys, size_t capacity)
{
    size_t count = 0;
    keys[count] = (demo_key){.variable = "ADMIN_KEY",
                             .label = "admin",
                             .request = {.role = ROLE_ADMIN},
                             .name = "demo admin"};
    count++;
    PGresult *r = PQexec(pg, "SELECT 'o', id, name FROM organizations WHERE name IN ('ОО1', "
                             "'ОО2') UNION ALL SELECT 's', id, name FROM storages "
                             "WHERE name LIKE 'МНО%' ORDER BY 1, 2");
    for (int row = 0; query_ok(r, "cannot read the demo data") && row < PQntuples(r); row++) {
        if (count == capacity) {
            break;
        }
        bool organization = PQgetvalue(r, row, 0)[0] == 'o';
        int64_t id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
        const char *name = PQgetvalue(r, row, 2);
        demo_key *key = &keys[count++];
        *key = (demo_key){.request = {.role = organization ? ROLE_ORGANIZATION : ROLE_STORAGE}};
        snprintf(key->variable, sizeof key->variable, "%s_%lld_KEY",
                 organization ? "ORG" : "STORAGE", (long long)id);
        snprintf(key->label, sizeof key->label, "%s %lld (%s)",
                 organization ? "organization" : "storage", (long long)id, name);
        snprintf(key->name, sizeof key->name, "demo %s", name);
        if (organization) {
            key->request.organization_id = id;
        } else {
            key->request.storage_id = id;
        }
    }
    PQclear(r);
    return count;
}

int keys_demo(const config *cfg, const char *path)
{
    /* Nothing is asked of the database, and nothing written, before the file is known safe
     * to write. */
    static demo_file file;
    const char *refusal = demo_file_open(path, &file);
    if (refusal != NULL) {
        fprintf(stderr,
                "wasteflow seed demo-keys: refusing to write the keys to %s: %s; remove "
                "it or name another file with --file\n",
                path, refusal);
        return 1;
    }
    PGconn *pg = connect_db(cfg);
    if (pg == NULL) {
        if (file.fd >= 0) {
            close(file.fd);
        }
        return 1;
    }
    demo_key keys[32];
    size_t count = demo_keys_wanted(pg, keys, sizeof keys / sizeof keys[0]);
    int status = 0;
    for (size_t i = 0; i < count && status == 0; i++) {
        demo_key *key = &keys[i];
        token_in_text(file.text, key->variable, key->token, sizeof key->token);
        if (token_still_good(pg, key, key->token)) {
            continue; /* the file's key still works: keep it */
        }
        key->request.name = key->name;
        PGresult *r = create_key(pg, &key->request, key->token);
        status = r != NULL ? 0 : 1;
        PQclear(r);
    }
    PQfinish(pg);
    if (status != 0) {
        if (file.fd >= 0) {
            close(file.fd);
        }
        return status;
    }
    int fd = file.fd;
    if (fd < 0) {
        char directory[1024];
        snprintf(directory, sizeof directory, "%s", path);
        char *slash = strrchr(directory, '/');
        if (slash != NULL) {
            *slash = '\0';
            mkdir(directory, 0700);
        }
        /* A new file, only readable by its owner; O_EXCL: whatever appeared at the path since
         * it was checked (a symbolic link included) is left alone. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    } else if (ftruncate(fd, 0) != 0 || fchmod(fd, 0600) != 0) {
        close(fd);
        fd = -1;
    }
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "wasteflow seed demo-keys: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    fprintf(out, DEMO_KEYS_MARKER "; `. %s` sets them.\n", path);
    printf("demo API keys (also in %s; `. %s` sets them in a shell):\n", path, path);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "%s=%s # %s\n", keys[i].variable, keys[i].token, keys[i].label);
        /* Padded by characters, not bytes: the labels carry Cyrillic names. */
        int pad = 28 - (int)utf8_length(keys[i].label);
        printf("  %-16s %s%*s %s\n", keys[i].variable, keys[i].label, pad > 0 ? pad : 0, "",
               keys[i].token);
    }
    if (fclose(out) != 0) {
        fprintf(stderr, "wasteflow seed demo-keys: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}
