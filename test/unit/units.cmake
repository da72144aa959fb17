# One cmocka runner per module: wf_unit_test(<file name without .c> <modules it links>)
wf_unit_test(test_graph core)
wf_unit_test(test_pmap core)
wf_unit_test(test_graph_versions core)
wf_unit_test(test_alloc core)
wf_unit_test(test_router http util)
wf_unit_test(test_json_input util)
wf_unit_test(test_config util)
wf_unit_test(test_strbuf util)
wf_unit_test(test_transfer_plan core)
# repr.c is pure, but it lives in lib/api, whose objects need every layer below to link.
wf_unit_test(test_repr api engine web http db auth util core)
wf_unit_test(test_statements engine http db auth util core)
wf_unit_test(test_auth auth util)
wf_unit_test(test_jwt auth util)
# Not a test: the road graph's memory and costs at regional scale (test/bench/graph_memory.c),
# built with the suite so it keeps compiling; run it by hand from a Release build.
add_executable(bench_graph_memory ${CMAKE_CURRENT_SOURCE_DIR}/bench/graph_memory.c)
target_link_libraries(bench_graph_memory PRIVATE wf_core)
