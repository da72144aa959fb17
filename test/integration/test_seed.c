/* `wasteflow seed case1` against a fresh database and a running server: the picture's
 * distances through the API, the placement docs/design.md gives (placed automatically, as the
 * seeded organizations hand over full loads), and a second seed that changes nothing. Then
 * `wasteflow seed demo-keys`: a new file only its owner reads, reused by the next run, and
 * never a symbolic link followed or a file it did not write overwritten. */
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long long id_of(const char *table, const char *name)
{
    return it_sql_int("SELECT id FROM %s WHERE name = '%s'", table, name);
}

static int group_setup(void **state)
{
    (void)state;
    it_start(NULL);
    assert_int_equal(it_seed_case1(), 0);
    return 0;
}

static char demo_dir[] = "/tmp/wf-it-demo-keys-XXXXXX";

static int group_teardown(void **state)
{
    (void)state;
    if (strstr(demo_dir, "XXXXXX") == NULL) {
        char *remove = tu_format("rm -rf '%s'", demo_dir);
        if (system(remove) != 0) {
            fprintf(stderr, "cannot remove %s\n", demo_dir);
        }
        free(remove);
    }
    return it_stop();
}

/* Requirement 4 on the seeded picture: ОО1's view in (distance, id) order. */
static void test_seeded_distances(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        long long distance;
    } expected[] = {{"МНО2", 50},  {"МНО1", 100}, {"МНО5", 100}, {"МНО3", 600},
                    {"МНО8", 600}, {"МНО9", 610}, {"МНО7", 650}, {"МНО6", 1200}};
    it_response *view = it_get("/v1/organizations/%lld/storages", id_of("organizations", "ОО1"));
    EXPECT_STATUS(view, 200);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "items.%zu.name", i);
        assert_string_equal(it_json_str(view->json, path), expected[i].name);
        snprintf(path, sizeof path, "items.%zu.distance_m", i);
        assert_int_equal(it_json_int(view->json, path), expected[i].distance);
    }
    it_response_free(view);

    it_response *other = it_get("/v1/organizations/%lld/storages", id_of("organizations", "ОО2"));
    EXPECT_STATUS(other, 200);
    assert_string_equal(it_json_str(other->json, "items.0.name"), "МНО3");
    assert_int_equal(it_json_int(other->json, "items.0.distance_m"), 50);
    assert_string_equal(it_json_str(other->json, "items.1.name"), "МНО7");
    assert_int_equal(it_json_int(other->json, "items.1.distance_m"), 100);
    assert_string_equal(it_json_str(other->json, "items.2.name"), "МНО6");
    assert_int_equal(it_json_int(other->json, "items.2.distance_m"), 650);
    const cJSON *unreachable = it_json_at(other->json, "items.3.distance_m");
    assert_true(cJSON_IsNull(unreachable));
    it_response_free(other);
}

static long long shipped(const char *organization, const char *storage, const char *type)
{
    return it_sql_int("SELECT coalesce(sum(s.amount), 0) FROM shipments s "
                      "JOIN transfers t ON t.id = s.transfer_id "
                      "JOIN organizations o ON o.id = t.organization_id "
                      "JOIN storages st ON st.id = s.storage_id "
                      "WHERE o.name = '%s' AND st.name = '%s' AND s.waste_type = '%s'",
                      organization, storage, type);
}

/* The seeded full loads are placed without any request, as "No stranded waste" says
 * (docs/design.md). */
static void test_seeded_placement(void **state)
{
    (void)state;
    for (int i = 0; i < 50 && it_sql_int("SELECT count(*) FROM organizations "
                                         "WHERE pending_since IS NOT NULL") > 0;
         i++) {
        tu_sleep_ms(100);
    }
    assert_int_equal(it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste"), 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE trigger = 'auto'"), 2);
    assert_int_equal(shipped("ОО1", "МНО2", "bio"), 50);
    assert_int_equal(shipped("ОО1", "МНО1", "glass"), 50);
    assert_int_equal(shipped("ОО1", "МНО5", "glass"), 0);
    assert_int_equal(shipped("ОО1", "МНО2", "plastic"), 10);
    assert_int_equal(shipped("ОО2", "МНО3", "bio"), 50);
    assert_int_equal(shipped("ОО2", "МНО6", "glass"), 20);
    assert_int_equal(shipped("ОО2", "МНО3", "plastic"), 10);
    assert_int_equal(shipped("ОО2", "МНО7", "plastic"), 50);
    tu_assert_audit_clean();
}

/* Seeding again changes nothing at all. */
static void test_seed_is_idempotent(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    long long graph_version = it_sql_int("SELECT version FROM graph_state");
    assert_int_equal(it_seed_case1(), 0);
    char *after = it_db_fingerprint();
    /* Only the two version counters may move; every table of data is unchanged. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations"), 2);
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages"), 8);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), 9);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE trigger = 'request'"), 2);
    assert_true(it_sql_int("SELECT version FROM graph_state") >= graph_version);
    const char *tables[] = {
        "organizations=", "storages=",          "routes=", "transfers=", "shipments=",
        "storage_waste=", "organization_waste="};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const char *a = strstr(before, tables[i]);
        const char *b = strstr(after, tables[i]);
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a, b, strlen(tables[i]) + 32);
    }
    free(before);
    free(after);
}

/* ---- seed demo-keys ---- */

/* Runs `seed demo-keys --file path`; its exit code, and its output into *output (freed by
 * the caller) when output is not NULL. */
static int demo_keys(const char *path, char **output)
{
    const char *args[] = {"seed", "demo-keys", "--file", path, NULL};
    char *text = NULL;
    int code = it_run_command(args, NULL, &text);
    if (output != NULL) {
        *output = text;
    } else {
        free(text);
    }
    return code;
}

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t got = fread(text, 1, 65535, file);
    text[got] = '\0';
    fclose(file);
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

/* The value of NAME=... in a demo key file ("" when absent); caller frees. */
static char *variable_in(const char *text, const char *name)
{
    const char *at = strstr(text, name);
    if (at == NULL) {
        return strdup("");
    }
    at += strlen(name);
    return strndup(at, strcspn(at, " \n"));
}

/* The refusal: a non-zero exit, a message naming the path and why, and not one key made. */
static void expect_refused(const char *path, const char *why)
{
    long long keys_before = it_sql_int("SELECT count(*) FROM api_keys");
    char *output = NULL;
    int code = demo_keys(path, &output);
    if (code == 0 || strstr(output, path) == NULL || strstr(output, why) == NULL ||
        strstr(output, "ADMIN_KEY") != NULL) {
        fail_msg("demo-keys on %s: exit %d, expected a refusal naming \"%s\": %s", path, code, why,
                 output);
    }
    free(output);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys"), keys_before);
}

/* expect_refused, and the file kept (what the refused path points at, or the file itself)
 * holds kept_text afterwards, or, where kept_text is NULL, what it held before. */
static void expect_refused_keeping(const char *path, const char *why, const char *kept,
                                   const char *kept_text)
{
    char *before = read_text(kept);
    expect_refused(path, why);
    char *after = read_text(kept);
    assert_string_equal(after, kept_text != NULL ? kept_text : before);
    free(before);
    free(after);
}

/* A path in the demo directory (no allocation). */
typedef struct {
    char text[128];
} demo_path;

static demo_path in_demo_dir(const char *name)
{
    demo_path path;
    int n = snprintf(path.text, sizeof path.text, "%s/%s", demo_dir, name);
    assert_true(n > 0 && (size_t)n < sizeof path.text);
    return path;
}

static void test_demo_keys_new_file_and_reuse(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(demo_dir));
    char *path = tu_format("%s/run/demo-keys", demo_dir);
    assert_int_equal(demo_keys(path, NULL), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    char *first = read_text(path);
    assert_int_equal(strncmp(first, "# wasteflow demo API keys (wasteflow seed demo-keys)", 52), 0);
    char *admin = variable_in(first, "ADMIN_KEY=");
    assert_int_equal(strncmp(admin, "wf_", 3), 0);
    /* The next run (deploy/run.sh's next start) reuses the file and its keys. */
    long long keys = it_sql_int("SELECT count(*) FROM api_keys");
    assert_int_equal(demo_keys(path, NULL), 0);
    char *second = read_text(path);
    char *admin_again = variable_in(second, "ADMIN_KEY=");
    assert_string_equal(admin, admin_again);
    assert_string_equal(first, second);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys"), keys);
    free(first);
    free(second);
    free(admin);
    free(admin_again);
    free(path);
}

static void test_demo_keys_never_follows_a_symlink(void **state)
{
    (void)state;
    demo_path target = in_demo_dir("precious");
    demo_path to_target = in_demo_dir("demo-keys-link");
    write_text(target.text, "precious data\n");
    assert_int_equal(symlink(target.text, to_target.text), 0);
    expect_refused_keeping(to_target.text, "symbolic link", target.text, "precious data\n");
    /* A dangling link: its target is not created either. */
    demo_path nowhere = in_demo_dir("not-there");
    demo_path dangling = in_demo_dir("demo-keys-dangling");
    assert_int_equal(symlink(nowhere.text, dangling.text), 0);
    expect_refused(dangling.text, "symbolic link");
    struct stat st;
    assert_int_equal(lstat(nowhere.text, &st), -1);
    /* Even a link to a file the tool wrote itself. */
    demo_path own = in_demo_dir("run/demo-keys");
    demo_path own_link = in_demo_dir("demo-keys-own-link");
    assert_int_equal(symlink(own.text, own_link.text), 0);
    expect_refused_keeping(own_link.text, "symbolic link", own.text, NULL);
}

static void test_demo_keys_never_overwrites_a_foreign_file(void **state)
{
    (void)state;
    demo_path foreign = in_demo_dir("notes");
    write_text(foreign.text, "ADMIN_KEY=mine\nnot written by wasteflow\n");
    expect_refused_keeping(foreign.text, "not written by wasteflow seed demo-keys", foreign.text,
                           "ADMIN_KEY=mine\nnot written by wasteflow\n");
    /* A second name (hard link) of the tool's own file could be someone else's view of it. */
    demo_path own = in_demo_dir("run/demo-keys");
    demo_path hard = in_demo_dir("demo-keys-hard");
    assert_int_equal(link(own.text, hard.text), 0);
    expect_refused(hard.text, "hard links");
    unlink(hard.text);
    /* A directory or a FIFO at the path. */
    demo_path fifo = in_demo_dir("fifo");
    assert_int_equal(mkfifo(fifo.text, 0600), 0);
    expect_refused(fifo.text, "not a regular file");
    /* A file of another user, marker and all (only root can make one). */
    if (geteuid() == 0) {
        demo_path theirs = in_demo_dir("theirs");
        write_text(theirs.text, "# wasteflow demo API keys (wasteflow seed demo-keys)\n");
        assert_int_equal(chown(theirs.text, 65534, 65534), 0);
        expect_refused(theirs.text, "another user");
    }
}

RUNNER_MAIN(group_setup, group_teardown,
            {
                cmocka_unit_test(test_seeded_distances),
                cmocka_unit_test(test_seeded_placement),
                cmocka_unit_test(test_seed_is_idempotent),
                cmocka_unit_test(test_demo_keys_new_file_and_reuse),
                cmocka_unit_test(test_demo_keys_never_follows_a_symlink),
                cmocka_unit_test(test_demo_keys_never_overwrites_a_foreign_file),
            })
