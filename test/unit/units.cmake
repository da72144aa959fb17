# One cmocka runner per module: wf_unit_test(<file name without .c> <modules it links>)
wf_unit_test(test_graph core)
wf_unit_test(test_alloc core)
