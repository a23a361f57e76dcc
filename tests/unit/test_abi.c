/* The promises pa_plugin.h makes in code (ABI 1.3): one test each, see docs/ABI.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "pa_plugin.h"

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(pa_status_name(PA_OK), "PA_OK");
    assert_string_equal(pa_status_name(PA_ERR_STALE_LEASE), "PA_ERR_STALE_LEASE");
    assert_string_equal(pa_status_name(PA_ERR_AUTH), "PA_ERR_AUTH");
    assert_string_equal(pa_status_name(-1), "PA_UNKNOWN_STATUS");
    assert_string_equal(pa_status_name(PA_ERR_CONSTRAINT), "PA_ERR_CONSTRAINT");
    assert_string_equal(pa_status_name(PA_ERR_UNSUPPORTED), "PA_ERR_UNSUPPORTED");
    assert_string_equal(pa_status_name(PA_ERR_UNSUPPORTED + 1), "PA_UNKNOWN_STATUS");
    for (int s = PA_OK; s <= PA_ERR_UNSUPPORTED; s++)
        assert_true(strncmp(pa_status_name(s), "PA_", 3) == 0);
}

static void noop_defer(pa_host_ctx *ctx, int64_t earliest_ms)
{
    (void)ctx, (void)earliest_ms;
}

/* A 1.0 table lacks defer_next_poll; a 1.3 table may carry it NULL or set. */
static void test_host_has_checks_size_and_pointer(void **state)
{
    (void)state;
    pa_host_api api = {.abi_version = PA_ABI_VERSION, .struct_size = sizeof api};
    assert_false(PA_HOST_HAS(&api, defer_next_poll));
    api.defer_next_poll = noop_defer;
    assert_true(PA_HOST_HAS(&api, defer_next_poll));
    api.struct_size = (uint32_t)offsetof(pa_host_api, defer_next_poll); /* an ABI 1.0 host */
    assert_false(PA_HOST_HAS(&api, defer_next_poll));
    const pa_host_api *none = NULL;
    assert_false(PA_HOST_HAS(none, log));
}

static void test_initialisers_fill_the_version_header(void **state)
{
    (void)state;
    pa_item item = PA_ITEM_INIT;
    assert_int_equal(item.abi_version, PA_ABI_VERSION);
    assert_int_equal(item.struct_size, sizeof(pa_item));
    assert_null(item.title);
    pa_http_report report = PA_HTTP_REPORT_INIT;
    assert_int_equal(report.struct_size, sizeof(pa_http_report));
    static const pa_plugin_info info = PA_PLUGIN_INFO_INIT("name", "1.0.0", "what it does");
    assert_int_equal(info.abi_version, PA_ABI_VERSION);
    assert_int_equal(info.struct_size, sizeof(pa_plugin_info));
    assert_string_equal(info.name, "name");
    assert_string_equal(info.description, "what it does");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_host_has_checks_size_and_pointer),
        cmocka_unit_test(test_initialisers_fill_the_version_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
