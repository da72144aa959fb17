/* Unit tests of api/repr: every representation's exact JSON text, the timestamp conversion
 * and the compaction of jsonb text, from plain structs (no database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/repr.h"
#include "check.h"
#include "runner.h"

#define ASSERT_TEXT(sb, expected)                                                                  \
    do {                                                                                           \
        assert_false(strbuf_failed(&(sb)));                                                        \
        assert_string_equal((sb).data, (expected));                                                \
        strbuf_free(&(sb));                                                                        \
    } while (0)

/* A text in, the text repr writes for it. */
typedef struct {
    const char *in;
    const char *out;
} text_case;

/* Each case's in through write, into one buffer reused as the handlers do. */
static void assert_texts(void (*write)(strbuf *, const char *), const text_case *cases,
                         size_t count)
{
    strbuf sb = {0};
    for (size_t i = 0; i < count; i++) {
        write(&sb, cases[i].in);
        ASSERT_TEXT(sb, cases[i].out);
    }
}

static void test_timestamp(void **state)
{
    (void)state;
    static const text_case cases[] = {
        {"2026-12-01 19:30:16.123456+00", "\"2026-12-01T19:30:16.123456Z\""},
        {"2026-12-01 19:30:16.1234+00", "\"2026-12-01T19:30:16.123400Z\""},
        {"2026-01-02 03:04:05+00", "\"2026-01-02T03:04:05.000000Z\""},
        {"2026-12-01 19:30:16.5+00", "\"2026-12-01T19:30:16.500000Z\""},
    };
    assert_texts(repr_timestamp, cases, COUNT(cases));
}

static void test_json_compact(void **state)
{
    (void)state;
    static const text_case cases[] = {
        {"{\"bio\": 50, \"glass\": 20}", "{\"bio\":50,\"glass\":20}"},
        {"{}", "{}"},
        /* Spaces inside strings stay, escaped quotes do not end them. */
        {"{\"a b\": \"c \\\" d\" }", "{\"a b\":\"c \\\" d\"}"},
    };
    assert_texts(repr_json_compact, cases, COUNT(cases));
}

static const repr_type storage_types[] = {{"glass", 300, 120, 30}, {"plastic", 100, 0, 0}};

static void test_storage(void **state)
{
    (void)state;
    repr_holder storage = {3, "МНО1", "2026-12-01 10:00:00.5+00", storage_types, 2, "weighed"};
    strbuf sb = {0};
    repr_storage(&sb, &storage);
    /* Remaining is capacity - stock - reserved: 300 - 120 - 30. */
    ASSERT_TEXT(sb, "{\"id\":3,\"name\":\"МНО1\",\"intake\":\"weighed\",\"capacity\":{\"glass\":"
                    "300,\"plastic\":100},\"stock\":{\"glass\":120,\"plastic\":0},\"reserved\":{"
                    "\"glass\":30,\"plastic\":0},\"remaining\":{\"glass\":150,\"plastic\":100},"
                    "\"created_at\":\"2026-12-01T10:00:00.500000Z\"}");
}

static void test_organization_lists_limits_and_pending_only(void **state)
{
    (void)state;
    const repr_type types[] = {{"bio", REPR_NO_LIMIT, 7, 0},
                               {"glass", 50, 0, 0},
                               {"plastic", 10, 10, 0},
                               {"paper", 0, 0, 0}};
    repr_holder organization = {1, "Bakery \"North\"", "2026-12-01 10:00:00+00", types, 4, NULL};
    strbuf sb = {0};
    repr_organization(&sb, &organization);
    ASSERT_TEXT(sb, "{\"id\":1,\"name\":\"Bakery \\\"North\\\"\",\"capacity\":{\"glass\":50,"
                    "\"plastic\":10,\"paper\":0},\"pending\":{\"bio\":7,\"plastic\":10},"
                    "\"created_at\":\"2026-12-01T10:00:00.000000Z\"}");
    repr_holder empty = {2, "E", "2026-12-01 10:00:00+00", NULL, 0, NULL};
    repr_organization(&sb, &empty);
    ASSERT_TEXT(sb, "{\"id\":2,\"name\":\"E\",\"capacity\":{},\"pending\":{},"
                    "\"created_at\":\"2026-12-01T10:00:00.000000Z\"}");
}

static void test_route(void **state)
{
    (void)state;
    repr_route_row route = {9,  {NODE_ORG, 1}, {NODE_STORAGE, 4},
                            50, true,          "2026-12-01 10:00:00.000001+00"};
    strbuf sb = {0};
    repr_route(&sb, &route);
    ASSERT_TEXT(sb, "{\"id\":9,\"from\":{\"organization_id\":1},\"to\":{\"storage_id\":4},"
                    "\"distance_m\":50,\"two_way\":true,"
                    "\"created_at\":\"2026-12-01T10:00:00.000001Z\"}");
}

static void test_transfer_and_dry_run(void **state)
{
    (void)state;
    const repr_shipment_row shipments[] = {{3, "plastic", 10, 50, 65, "accepted"},
                                           {6, "plastic", 50, 100, 66, "in_transit"}};
    repr_transfer_row transfer = {
        .id = 12,
        .organization_id = 2,
        .trigger = "auto",
        .actor = "dispatcher",
        .created_at = "2026-12-01 10:00:00.25+00",
        .received = "{}",
        .pending = "{\"plastic\": 0}",
        .shipments = shipments,
        .shipment_count = 2,
    };
    strbuf sb = {0};
    repr_transfer(&sb, &transfer);
    ASSERT_TEXT(sb, "{\"id\":12,\"organization_id\":2,\"trigger\":\"auto\",\"actor\":"
                    "\"dispatcher\",\"created_at\":"
                    "\"2026-12-01T10:00:00.250000Z\",\"received\":{},\"shipments\":["
                    "{\"storage_id\":3,\"waste_type\":\"plastic\",\"amount\":10,\"distance_m\":50,"
                    "\"movement_id\":65,\"status\":\"accepted\"},"
                    "{\"storage_id\":6,\"waste_type\":\"plastic\",\"amount\":50,\"distance_m\":100,"
                    "\"movement_id\":66,\"status\":\"in_transit\"}"
                    "],\"pending\":{\"plastic\":0}}");
    transfer.dry_run = true;
    transfer.shipment_count = 0;
    repr_transfer(&sb, &transfer);
    ASSERT_TEXT(sb, "{\"organization_id\":2,\"dry_run\":true,\"received\":{},\"shipments\":[],"
                    "\"pending\":{\"plastic\":0}}");
}

/* A storage's principal sees its own shipments of a transfer, and neither what the
 * organization handed over nor what it kept; everyone else sees the whole transfer. */
static void test_transfer_seen_by_a_storage(void **state)
{
    (void)state;
    const repr_shipment_row shipments[] = {{3, "bio", 50, 50, 1, "accepted"},
                                           {5, "glass", 20, 650, 2, "accepted"},
                                           {3, "plastic", 7, 50, 3, "rejected"},
                                           {6, "plastic", 43, 100, 0, "accepted"}};
    repr_transfer_row transfer = {
        .id = 5,
        .organization_id = 2,
        .trigger = "request",
        .actor = "key:3",
        .created_at = "2026-12-01 10:00:00+00",
        .received = "{\"bio\": 50, \"glass\": 20, \"plastic\": 60}",
        .pending = "{\"plastic\": 10}",
        .shipments = shipments,
        .shipment_count = 4,
    };
    /* Each storage the transfer shipped to sees its own shipments; a storage it did not ship
     * to (the handlers never show it one) sees nothing of it; 0, everyone else, sees the
     * whole transfer. */
    static const struct {
        int64_t seen_by;
        const char *text;
    } views[] = {
        {3, "{\"id\":5,\"organization_id\":2,\"trigger\":\"request\",\"actor\":"
            "\"key:3\",\"created_at\":\"2026-12-01T10:00:00.000000Z\",\"shipments\":["
            "{\"storage_id\":3,\"waste_type\":\"bio\",\"amount\":50,\"distance_m\":50,"
            "\"movement_id\":1,\"status\":\"accepted\"},"
            "{\"storage_id\":3,\"waste_type\":\"plastic\",\"amount\":7,\"distance_m\":50,"
            "\"movement_id\":3,\"status\":\"rejected\"}"
            "]}"},
        {6, "{\"id\":5,\"organization_id\":2,\"trigger\":\"request\",\"actor\":"
            "\"key:3\",\"created_at\":\"2026-12-01T10:00:00.000000Z\",\"shipments\":["
            "{\"storage_id\":6,\"waste_type\":\"plastic\",\"amount\":43,"
            "\"distance_m\":100,\"movement_id\":null,\"status\":\"accepted\"}]}"},
        {9, "{\"id\":5,\"organization_id\":2,\"trigger\":\"request\",\"actor\":"
            "\"key:3\",\"created_at\":\"2026-12-01T10:00:00.000000Z\",\"shipments\":[]}"},
        {0, "{\"id\":5,\"organization_id\":2,\"trigger\":\"request\",\"actor\":"
            "\"key:3\",\"created_at\":\"2026-12-01T10:00:00.000000Z\",\"received\":"
            "{\"bio\":50,\"glass\":20,\"plastic\":60},\"shipments\":["
            "{\"storage_id\":3,\"waste_type\":\"bio\",\"amount\":50,\"distance_m\":50,"
            "\"movement_id\":1,\"status\":\"accepted\"},"
            "{\"storage_id\":5,\"waste_type\":\"glass\",\"amount\":20,\"distance_m\":650,"
            "\"movement_id\":2,\"status\":\"accepted\"},"
            "{\"storage_id\":3,\"waste_type\":\"plastic\",\"amount\":7,\"distance_m\":50,"
            "\"movement_id\":3,\"status\":\"rejected\"},"
            "{\"storage_id\":6,\"waste_type\":\"plastic\",\"amount\":43,"
            "\"distance_m\":100,\"movement_id\":null,\"status\":\"accepted\"}],\"pending\":"
            "{\"plastic\":10}}"},
    };
    strbuf sb = {0};
    for (size_t i = 0; i < COUNT(views); i++) {
        transfer.seen_by_storage = views[i].seen_by;
        repr_transfer(&sb, &transfer);
        ASSERT_TEXT(sb, views[i].text);
    }
}

/* A movement in transit (receipt members null), received (partially rejected), and one an
 * automatic storage took at once (received in full when handed over). */
static void test_movement(void **state)
{
    (void)state;
    repr_movement_row m = {
        .id = 129,
        .transfer_id = 7,
        .organization_id = 2,
        .storage_id = 3,
        .waste_type = "glass",
        .planned_kg = 40,
        .distance_m = 50,
        .in_transit = true,
        .carrier = "Acme \"Haulage\"",
        .created_at = "2026-12-01 10:00:00.25+00",
    };
    strbuf sb = {0};
    repr_movement(&sb, &m, false);
    ASSERT_TEXT(sb, "{\"id\":129,\"transfer_id\":7,\"organization_id\":2,\"storage_id\":3,"
                    "\"waste_type\":\"glass\",\"planned_kg\":40,\"distance_m\":50,\"status\":"
                    "\"in_transit\",\"carrier\":\"Acme \\\"Haulage\\\"\",\"vehicle\":null,"
                    "\"received_kg\":null,\"accepted_kg\":null,\"rejected_kg\":null,"
                    "\"rejection_reason\":null,\"ticket\":null,\"received_at\":null,"
                    "\"received_by\":null,\"created_at\":\"2026-12-01T10:00:00.250000Z\"}");
    m.received = true;
    m.received_kg = 50;
    m.rejected_kg = 20;
    m.accepted_kg = 30;
    m.rejection_reason = "metal";
    m.ticket = "WB-2";
    m.received_at = "2026-12-01 11:00:00+00";
    m.received_by = "key:4";
    repr_movement(&sb, &m, true);
    ASSERT_TEXT(sb, "{\"id\":129,\"transfer_id\":7,\"organization_id\":2,\"storage_id\":3,"
                    "\"waste_type\":\"glass\",\"planned_kg\":40,\"distance_m\":50,\"status\":"
                    "\"partially_rejected\",\"carrier\":\"Acme \\\"Haulage\\\"\",\"vehicle\":null,"
                    "\"received_kg\":50,\"accepted_kg\":30,\"rejected_kg\":20,"
                    "\"rejection_reason\":\"metal\",\"ticket\":\"WB-2\",\"received_at\":"
                    "\"2026-12-01T11:00:00.000000Z\",\"received_by\":\"key:4\",\"created_at\":"
                    "\"2026-12-01T10:00:00.250000Z\"");
    repr_movement_row automatic = {
        .id = 65,
        .transfer_id = 6,
        .organization_id = 2,
        .storage_id = 1,
        .waste_type = "bio",
        .planned_kg = 12,
        .distance_m = 5,
        .created_at = "2026-12-01 10:00:00+00",
    };
    repr_movement(&sb, &automatic, false);
    ASSERT_TEXT(sb, "{\"id\":65,\"transfer_id\":6,\"organization_id\":2,\"storage_id\":1,"
                    "\"waste_type\":\"bio\",\"planned_kg\":12,\"distance_m\":5,\"status\":"
                    "\"accepted\",\"carrier\":null,\"vehicle\":null,\"received_kg\":12,"
                    "\"accepted_kg\":12,\"rejected_kg\":0,\"rejection_reason\":null,"
                    "\"ticket\":null,\"received_at\":\"2026-12-01T10:00:00.000000Z\","
                    "\"received_by\":null,\"created_at\":\"2026-12-01T10:00:00.000000Z\"}");
}

/* An alert rule, with and without its storage and type; and a firing, the one JSON the
 * alert event and the alert.fired webhook share. */
static void test_alert_and_firing(void **state)
{
    (void)state;
    strbuf sb = {0};
    repr_alert_row rule = {4, 3, "plastic", "0.9", "2026-12-07 04:00:00+00"};
    repr_alert(&sb, &rule);
    ASSERT_TEXT(sb,
                "{\"id\":4,\"storage_id\":3,\"waste_type\":\"plastic\",\"fill_ratio_above\":0.9,"
                "\"created_at\":\"2026-12-07T04:00:00.000000Z\"}");
    repr_alert_row any = {5, 0, NULL, "1", "2026-12-07 04:00:00.25+00"};
    repr_alert(&sb, &any);
    ASSERT_TEXT(sb, "{\"id\":5,\"storage_id\":null,\"waste_type\":null,\"fill_ratio_above\":1,"
                    "\"created_at\":\"2026-12-07T04:00:00.250000Z\"}");
    repr_firing_row firing = {7, 4, 3, "plastic", "0.92", "0.9", "2026-12-07 04:00:00.2+00"};
    repr_alert_firing(&sb, &firing);
    ASSERT_TEXT(
        sb, "{\"id\":7,\"alert_id\":4,\"storage_id\":3,\"waste_type\":\"plastic\","
            "\"fill_ratio\":0.92,\"threshold\":0.9,\"fired_at\":\"2026-12-07T04:00:00.200000Z\"}");
}

static void test_page(void **state)
{
    (void)state;
    strbuf sb = {0};
    repr_page_begin(&sb);
    for (size_t i = 0; i < 3; i++) {
        repr_page_item(&sb, i);
        repr_waste_type(&sb, i == 1 ? "glass" : "bio", "Bio \\ waste");
    }
    repr_page_end(&sb, "glass");
    ASSERT_TEXT(sb, "{\"items\":[{\"code\":\"bio\",\"name\":\"Bio \\\\ waste\"},"
                    "{\"code\":\"glass\",\"name\":\"Bio \\\\ waste\"},"
                    "{\"code\":\"bio\",\"name\":\"Bio \\\\ waste\"}],\"next_cursor\":\"glass\"}");
    repr_page_begin(&sb);
    repr_page_end(&sb, NULL);
    ASSERT_TEXT(sb, "{\"items\":[],\"next_cursor\":null}");
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_timestamp),
                cmocka_unit_test(test_json_compact),
                cmocka_unit_test(test_storage),
                cmocka_unit_test(test_organization_lists_limits_and_pending_only),
                cmocka_unit_test(test_route),
                cmocka_unit_test(test_transfer_and_dry_run),
                cmocka_unit_test(test_transfer_seen_by_a_storage),
                cmocka_unit_test(test_movement),
                cmocka_unit_test(test_alert_and_firing),
                cmocka_unit_test(test_page),
            })
