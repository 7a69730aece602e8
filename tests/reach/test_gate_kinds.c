/*
 * Unit tests of the gate's reachability rules (analyzer/gate.c,
 * docs/LEAKS.md): --leak-kinds parsing, the default (definite and possible
 * fail, indirect shown with direct leaks, reachable passes), the exact
 * LeakSanitizer-shaped blocks and SUMMARY, the limit, and the findings that
 * the SARIF log is made of.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <heapgrow/format.h>

#include "gate.h"

static hg_frame_info_t list_frames[1] = {
    {"make_list", "list.c", 12, "/opt/app", 0x1000, 0x1000, false, false},
};
static hg_frame_info_t cache_frames[1] = {
    {"cache_put", "cache.c", 7, "/opt/app", 0x2000, 0x2000, false, false},
};
static hg_frame_info_t ptr_frames[1] = {
    {"make_view", "view.c", 3, "/opt/app", 0x3000, 0x3000, false, false},
};

static hg_site_t sites[3];
static hg_model_t model;

/* list: 48/1 definite + 432/9 indirect; cache: 700/2 reachable; view:
 * 200/1 possible. */
static void build(void)
{
    memset(sites, 0, sizeof(sites));
    memset(&model, 0, sizeof(model));
    hg_frame_info_t *fr[3] = {list_frames, cache_frames, ptr_frames};
    for (int i = 0; i < 3; i++) {
        sites[i].frame = fr[i][0];
        sites[i].stacks[0].frames = fr[i];
        sites[i].stacks[0].nframes = 1;
        sites[i].nstacks_shown = 1;
        sites[i].nstacks_total = 1;
    }
    sites[0].leak_kinds[HG_CAT_DEFINITE] = (hg_leak_t){48, 1};
    sites[0].leak_kinds[HG_CAT_INDIRECT] = (hg_leak_t){432, 9};
    sites[0].leaked = (hg_leak_t){480, 10};
    sites[1].leak_kinds[HG_CAT_REACHABLE] = (hg_leak_t){700, 2};
    sites[1].leaked = (hg_leak_t){700, 2};
    sites[2].leak_kinds[HG_CAT_POSSIBLE] = (hg_leak_t){200, 1};
    sites[2].leaked = (hg_leak_t){200, 1};
    model.pid = 7;
    model.ppid = 1;
    model.exe = "/opt/app";
    model.has_final_live_set = true;
    model.has_reachability = true;
    model.sites = sites;
    model.nsites = 3;
}

static char *evaluate(const hg_gate_t *g, hg_gate_result_t *res)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    hg_report_input_t in = {.main = &model};
    hg_gate_result_free(res); /* the previous evaluation's findings */
    hg_gate_evaluate(f, g, &in, res);
    fclose(f);
    return buf;
}

START_TEST(parse_kinds)
{
    unsigned k = 99;
    ck_assert_int_eq(hg_gate_parse_kinds("definite", &k), 0);
    ck_assert_uint_eq(k, 1u << HG_CAT_DEFINITE);
    ck_assert_int_eq(hg_gate_parse_kinds("possible,reachable,indirect", &k), 0);
    ck_assert_uint_eq(k,
                      (1u << HG_CAT_POSSIBLE) | (1u << HG_CAT_REACHABLE) | (1u << HG_CAT_INDIRECT));
    ck_assert_int_eq(hg_gate_parse_kinds("all", &k), 0);
    ck_assert_uint_eq(k, 0xfu);
    ck_assert_int_eq(hg_gate_parse_kinds("none", &k), 0);
    ck_assert_uint_eq(k, 0u);
    ck_assert_int_eq(hg_gate_parse_kinds("definite,", &k), -EINVAL);
    ck_assert_int_eq(hg_gate_parse_kinds("", &k), -EINVAL);
    ck_assert_int_eq(hg_gate_parse_kinds("definitely", &k), -EINVAL);
    ck_assert_int_eq(hg_gate_parse_kinds("all,definite", &k), -EINVAL);
}
END_TEST

START_TEST(default_fails_on_definite_and_possible)
{
    hg_gate_t g;
    hg_gate_result_t res = {0};
    build();
    ck_assert_int_eq(hg_gate_init(&g), 0);
    ck_assert_uint_eq(g.leak_kinds, (1u << HG_CAT_DEFINITE) | (1u << HG_CAT_POSSIBLE));
    char *out = evaluate(&g, &res);
    ck_assert_str_eq(out, "heapgrow check: process 7 /opt/app\n"
                          "\n"
                          "Direct leak of 48 byte(s) in 1 object(s) allocated from:\n"
                          "    #0 0x1000 in make_list list.c:12 (app)\n"
                          "\n"
                          "Indirect leak of 432 byte(s) in 9 object(s) allocated from:\n"
                          "    #0 0x1000 in make_list list.c:12 (app)\n"
                          "\n"
                          "Possible leak of 200 byte(s) in 1 object(s) allocated from:\n"
                          "    #0 0x3000 in make_view view.c:3 (app)\n"
                          "\n"
                          "SUMMARY: heapgrow: 680 byte(s) leaked in 11 allocation(s).\n");
    ck_assert(res.is_failed);
    ck_assert_uint_eq(res.nleak_sites, 2);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

START_TEST(kinds_select_what_fails)
{
    hg_gate_t g;
    hg_gate_result_t res = {0};
    build();
    ck_assert_int_eq(hg_gate_init(&g), 0);
    /* Only reachable: the global cache fails, the lost list does not. */
    g.leak_kinds = 1u << HG_CAT_REACHABLE;
    char *out = evaluate(&g, &res);
    ck_assert_str_eq(out, "heapgrow check: process 7 /opt/app\n"
                          "\n"
                          "Reachable of 700 byte(s) in 2 object(s) allocated from:\n"
                          "    #0 0x2000 in cache_put cache.c:7 (app)\n"
                          "\n"
                          "SUMMARY: heapgrow: 700 byte(s) leaked in 2 allocation(s).\n");
    ck_assert(res.is_failed);
    free(out);
    /* Only indirect: the list fails on its 9 indirect blocks alone. */
    g.leak_kinds = 1u << HG_CAT_INDIRECT;
    out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(out, "\nIndirect leak of 432 byte(s) in 9 object(s)"));
    ck_assert_ptr_null(strstr(out, "Direct leak"));
    ck_assert_ptr_nonnull(strstr(out, "SUMMARY: heapgrow: 432 byte(s) leaked in 9 allocation(s)."));
    free(out);
    /* None: passes. */
    g.leak_kinds = 0;
    out = evaluate(&g, &res);
    ck_assert_str_eq(out, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s).\n");
    ck_assert(!res.is_failed);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

START_TEST(limit_and_suppression)
{
    hg_gate_t g;
    hg_gate_result_t res = {0};
    build();
    ck_assert_int_eq(hg_gate_init(&g), 0);
    g.max_leak_bytes = 680; /* exactly what the default shows: passes */
    char *out = evaluate(&g, &res);
    ck_assert(!res.is_failed);
    free(out);
    g.max_leak_bytes = 679;
    out = evaluate(&g, &res);
    ck_assert(res.is_failed);
    free(out);
    g.max_leak_bytes = 0;
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:view.c"), 0);
    out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(
        out, "SUMMARY: heapgrow: 480 byte(s) leaked in 10 allocation(s); 1 site suppressed."));
    free(out);
    /* Without a classification: everything still allocated fails. */
    model.has_reachability = false;
    out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(out, "\nLeak of 700 byte(s) in 2 object(s) allocated from:\n"));
    ck_assert_ptr_nonnull(strstr(
        out, "SUMMARY: heapgrow: 1180 byte(s) leaked in 12 allocation(s); 1 site suppressed."));
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

/* The findings (what SARIF results are made of): one per selected kind a
 * site has bytes of; indirect leaks go with the definite finding unless
 * selected themselves; in the order printed (largest site first). */
START_TEST(findings)
{
    hg_gate_t g;
    hg_gate_result_t res = {0};
    build();
    ck_assert_int_eq(hg_gate_init(&g), 0);
    char *out = evaluate(&g, &res);
    free(out);
    ck_assert_uint_eq(res.nfindings, 2);
    const hg_gate_finding_t *f = &res.findings[0];
    ck_assert_int_eq(f->kind, HG_FINDING_DEFINITE);
    ck_assert_ptr_eq(f->site, &sites[0]);
    ck_assert_ptr_eq(f->process, &model);
    ck_assert(!f->is_descendant);
    ck_assert_int_eq(f->leak.bytes, 48);
    ck_assert_int_eq(f->leak.count, 1);
    ck_assert_int_eq(f->indirect.bytes, 432);
    ck_assert_int_eq(f->indirect.count, 9);
    f = &res.findings[1];
    ck_assert_int_eq(f->kind, HG_FINDING_POSSIBLE);
    ck_assert_ptr_eq(f->site, &sites[2]);
    ck_assert_int_eq(f->leak.bytes, 200);
    ck_assert_int_eq(f->indirect.bytes, 0);

    /* definite and indirect selected: two findings for the list. */
    g.leak_kinds = (1u << HG_CAT_DEFINITE) | (1u << HG_CAT_INDIRECT);
    out = evaluate(&g, &res);
    free(out);
    ck_assert_uint_eq(res.nfindings, 2);
    ck_assert_int_eq(res.findings[0].kind, HG_FINDING_DEFINITE);
    ck_assert_int_eq(res.findings[0].indirect.bytes, 0);
    ck_assert_int_eq(res.findings[1].kind, HG_FINDING_INDIRECT);
    ck_assert_int_eq(res.findings[1].leak.bytes, 432);
    ck_assert_int_eq(res.findings[1].leak.count, 9);

    /* Without a classification: one unclassified finding per site. */
    g.leak_kinds = (1u << HG_CAT_DEFINITE) | (1u << HG_CAT_POSSIBLE);
    model.has_reachability = false;
    out = evaluate(&g, &res);
    free(out);
    ck_assert_uint_eq(res.nfindings, 3);
    ck_assert_int_eq(res.findings[0].kind, HG_FINDING_LEAK);
    ck_assert_int_eq(res.findings[0].leak.bytes, 700);
    ck_assert_int_eq(res.findings[2].leak.bytes, 200);

    /* Growth: a finding of its own, after the leaks. */
    model.has_reachability = true;
    sites[1].growth.is_growing = true;
    g.is_fail_on_growth = true;
    out = evaluate(&g, &res);
    free(out);
    ck_assert_uint_eq(res.nfindings, 3);
    ck_assert_int_eq(res.findings[2].kind, HG_FINDING_GROWTH);
    ck_assert_ptr_eq(res.findings[2].site, &sites[1]);

    /* A descendant's findings say so. */
    g.is_fail_on_growth = false;
    hg_model_t parent = {.pid = 6, .ppid = 1, .exe = "/bin/sh", .has_final_live_set = true};
    const hg_model_t *children[] = {&model};
    hg_report_input_t in = {.main = &parent, .children = children, .nchildren = 1};
    hg_gate_result_free(&res);
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    hg_gate_evaluate(mf, &g, &in, &res);
    fclose(mf);
    ck_assert_ptr_nonnull(
        strstr(buf, "heapgrow check: descendant process 7 (child of 1) /opt/app\n"));
    free(buf);
    ck_assert_uint_eq(res.nfindings, 2);
    ck_assert(res.findings[0].is_descendant);
    ck_assert_ptr_eq(res.findings[0].process, &model);
    hg_gate_result_free(&res);
    ck_assert_ptr_null(res.findings);
    ck_assert_uint_eq(res.nfindings, 0);
    hg_gate_free(&g);
}
END_TEST

static Suite *kinds_suite(void)
{
    Suite *s = suite_create("gate_kinds");
    TCase *t = tcase_create("kinds");
    tcase_add_test(t, parse_kinds);
    tcase_add_test(t, default_fails_on_definite_and_possible);
    tcase_add_test(t, kinds_select_what_fails);
    tcase_add_test(t, limit_and_suppression);
    tcase_add_test(t, findings);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kinds_suite());
    srunner_run_all(sr, CK_ENV);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
