/*
 * Unit tests of the CI gate (analyzer/gate.c) on hand-built models: rule
 * parsing, suppressions files (good and malformed), built-in suppressions
 * that apply to the site frame only, user rules that match any frame, the
 * leak limit, growth, and the exact LeakSanitizer-shaped output.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate.h"

static hg_frame_info_t user_frames[2] = {
    {"make_node", "list.c", 12, "/opt/app", 0x1000, 0x1000, false, false},
    {"main", "main.c", 40, "/opt/app", 0x2000, 0x2000, false, false},
};
static hg_frame_info_t locale_frames[2] = {
    {"_nl_intern_locale_data", "loadlocale.c", 156, "/lib/libc.so.6", 0x7000, 0x700, false, false},
    {"main", "main.c", 41, "/opt/app", 0x2100, 0x2100, false, false},
};
/* A leak of the program's own whose caller is a runtime function: the
 * built-in rule "_nl_*" must not hide it. */
static hg_frame_info_t via_frames[2] = {
    {"cb", "cb.c", 5, "/opt/app", 0x3000, 0x3000, false, false},
    {"_nl_walk", NULL, 0, "/lib/libc.so.6", 0x7100, 0x710, false, false},
};

static hg_site_t sites[3];
static hg_model_t model;

static void build(void)
{
    memset(sites, 0, sizeof(sites));
    memset(&model, 0, sizeof(model));
    hg_frame_info_t *fr[3] = {user_frames, locale_frames, via_frames};
    int64_t bytes[3] = {4096, 3000, 64};
    for (int i = 0; i < 3; i++) {
        sites[i].frame = fr[i][0];
        sites[i].stacks[0].frames = fr[i];
        sites[i].stacks[0].nframes = 2;
        sites[i].nstacks_shown = 1;
        sites[i].nstacks_total = 1;
        sites[i].leaked = (hg_leak_t){bytes[i], i + 1};
    }
    sites[0].growth = (hg_growth_t){
        .is_growing = true, .slope_bytes_per_s = 1000, .confidence = 0.99, .net_gain_bytes = 8192};
    model.pid = 42;
    model.ppid = 1;
    model.exe = "/opt/app";
    model.has_final_live_set = true;
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

START_TEST(rules)
{
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    size_t nbuiltin = g.nrules;
    ck_assert_uint_gt(nbuiltin, 0);
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:foo*"), 0);
    ck_assert_int_eq(hg_gate_add_rule(&g, "growth:bar"), 0);
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:"), -EINVAL);
    ck_assert_int_eq(hg_gate_add_rule(&g, "called_from_lib:x"), -EINVAL);
    ck_assert_int_eq(hg_gate_add_rule(&g, "foo"), -EINVAL);
    ck_assert_uint_eq(g.nrules, nbuiltin + 2);
    ck_assert_int_eq(g.rules[nbuiltin].kind, HG_GATE_LEAK);
    ck_assert_str_eq(g.rules[nbuiltin].pattern, "foo*");
    ck_assert(!g.rules[nbuiltin].is_builtin);
    ck_assert_int_eq(g.rules[nbuiltin + 1].kind, HG_GATE_GROWTH);
    hg_gate_free(&g);
}
END_TEST

START_TEST(suppressions_file)
{
    char path[] = "/tmp/hg_test_gate_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "# comment\n\n  leak:make_*  \r\n\tgrowth:x\nleak:ok\nbogus line\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    hg_gate_t g;
    char err[256];
    ck_assert_int_eq(hg_gate_init(&g), 0);
    size_t nbuiltin = g.nrules;
    ck_assert_int_eq(hg_gate_load_suppressions(&g, path, err, sizeof(err)), -EINVAL);
    char want[300];
    snprintf(want, sizeof(want), "%s:6: expected leak:PATTERN or growth:PATTERN", path);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(g.nrules, nbuiltin + 3);
    ck_assert_str_eq(g.rules[nbuiltin].pattern, "make_*");
    hg_gate_free(&g);
    unlink(path);
    ck_assert_int_eq(hg_gate_init(&g), 0);
    ck_assert_int_eq(hg_gate_load_suppressions(&g, path, err, sizeof(err)), -ENOENT);
    hg_gate_free(&g);
}
END_TEST

START_TEST(builtin_applies_to_the_site_frame_only)
{
    build();
    hg_gate_t g;
    hg_gate_result_t res = {0};
    ck_assert_int_eq(hg_gate_init(&g), 0);
    char *out = evaluate(&g, &res);
    ck_assert_str_eq(out, "heapgrow check: process 42 /opt/app\n"
                          "\n"
                          "Leak of 4096 byte(s) in 1 object(s) allocated from:\n"
                          "    #0 0x1000 in make_node list.c:12 (app)\n"
                          "    #1 0x2000 in main main.c:40 (app)\n"
                          "\n"
                          "Leak of 64 byte(s) in 3 object(s) allocated from:\n"
                          "    #0 0x3000 in cb cb.c:5 (app)\n"
                          "    #1 0x7100 in _nl_walk (libc.so.6)\n"
                          "\n"
                          "SUMMARY: heapgrow: 4160 byte(s) leaked in 4 allocation(s); 1 site "
                          "suppressed.\n");
    ck_assert(res.is_failed);
    ck_assert_uint_eq(res.leak_bytes, 4160);
    ck_assert_uint_eq(res.nleak_sites, 2);
    ck_assert_uint_eq(res.nsuppressed, 1);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

START_TEST(user_rules_match_any_frame_and_limits)
{
    build();
    hg_gate_t g;
    hg_gate_result_t res = {0};
    ck_assert_int_eq(hg_gate_init(&g), 0);
    /* "main.c" is the file of a caller of make_node (and of the locale
     * site): suppresses them; cb's stack has no main.c. */
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:main.c"), 0);
    char *out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(out, "SUMMARY: heapgrow: 64 byte(s) leaked in 3 allocation(s); "
                                      "2 sites suppressed.\n"));
    ck_assert(res.is_failed);
    free(out);
    g.max_leak_bytes = 64;
    out = evaluate(&g, &res);
    ck_assert(!res.is_failed);
    ck_assert_ptr_nonnull(strstr(out, "; limit 64 byte(s).\n"));
    free(out);
    /* a module path glob, on the full path */
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:/opt/*"), 0);
    g.max_leak_bytes = 0;
    out = evaluate(&g, &res);
    ck_assert_str_eq(out, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 3 sites "
                          "suppressed.\n");
    ck_assert(!res.is_failed);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

/* A sampled process is a growth gate only: its (estimated) leaks never fail
 * the gate, its growth does, and the summary says so. */
START_TEST(sampled_process_gates_growth_only)
{
    build();
    model.sample_bytes = 524288;
    hg_gate_t g;
    hg_gate_result_t res = {0};
    ck_assert_int_eq(hg_gate_init(&g), 0);
    char *out = evaluate(&g, &res);
    ck_assert_str_eq(out, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 1 sampled "
                          "process: growth estimated, leaks not checked.\n");
    ck_assert(!res.is_failed);
    ck_assert_uint_eq(res.nsampled, 1);
    free(out);
    g.is_fail_on_growth = true;
    g.leak_kinds = 0;
    out = evaluate(&g, &res);
    ck_assert_str_eq(out,
                     "heapgrow check: process 42 /opt/app\n"
                     "\n"
                     "Estimated growth of 1000 byte(s)/s (confidence 99%, 8192 byte(s) gained) "
                     "allocated from:\n"
                     "    #0 0x1000 in make_node list.c:12 (app)\n"
                     "    #1 0x2000 in main main.c:40 (app)\n"
                     "\n"
                     "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 1 growing site; "
                     "1 sampled process: growth estimated, leaks not checked.\n");
    ck_assert(res.is_failed);
    /* The growth is a finding for SARIF; no leak finding. */
    ck_assert_uint_eq(res.nfindings, 1);
    ck_assert_int_eq(res.findings[0].kind, HG_FINDING_GROWTH);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

START_TEST(growth_and_unknown_leaks)
{
    build();
    hg_gate_t g;
    hg_gate_result_t res = {0};
    ck_assert_int_eq(hg_gate_init(&g), 0);
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:*"), 0);
    g.is_fail_on_growth = true;
    char *out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(out, "Growth of 1000 byte(s)/s (confidence 99%, 8192 byte(s) "
                                      "gained) allocated from:\n"
                                      "    #0 0x1000 in make_node list.c:12 (app)\n"));
    ck_assert(res.is_failed);
    ck_assert_uint_eq(res.ngrowing_sites, 1);
    free(out);
    ck_assert_int_eq(hg_gate_add_rule(&g, "growth:make_node"), 0);
    out = evaluate(&g, &res);
    ck_assert(!res.is_failed);
    free(out);
    /* no final live set: leaks unknown, not a failure */
    model.has_final_live_set = false;
    for (int i = 0; i < 3; i++)
        sites[i].leaked = (hg_leak_t){-1, -1};
    hg_gate_free(&g);
    ck_assert_int_eq(hg_gate_init(&g), 0);
    out = evaluate(&g, &res);
    ck_assert_str_eq(out, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); leaks "
                          "unknown for a process that did not exit normally.\n");
    ck_assert(!res.is_failed);
    free(out);
    /* ... unless the tracer failed to write the trace: that fails the gate */
    char why[] = "write: No space left on device";
    model.write_error = why;
    out = evaluate(&g, &res);
    ck_assert_str_eq(out, "heapgrow check: process 42 /opt/app: its trace is incomplete (writing "
                          "it failed: write: No space left on device), so its leaks cannot be "
                          "checked\n"
                          "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 1 incomplete "
                          "trace.\n");
    ck_assert(res.is_failed);
    ck_assert_uint_eq(res.nincomplete, 1);
    model.write_error = NULL;
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

/* Names from the trace are escaped in the LSan-shaped lines: a terminal
 * running a CI job is never driven by them. */
START_TEST(output_escapes_trace_strings)
{
    build();
    static hg_frame_info_t bad[2] = {
        {"fn\x1b[2J", "src\x07.c", 3, "/opt/a\x1b[31mpp", 0x1000, 0x1000, false, false},
        {NULL, NULL, 0, "/lib/l\x01ib.so", 0x7000, 0x700, false, false},
    };
    sites[0].frame = bad[0];
    sites[0].stacks[0].frames = bad;
    model.exe = "/opt/a\x1b[31mpp";
    model.nsites = 1;
    hg_gate_t g;
    hg_gate_result_t res = {0};
    ck_assert_int_eq(hg_gate_init(&g), 0);
    char *out = evaluate(&g, &res);
    ck_assert_ptr_nonnull(strstr(out, "heapgrow check: process 42 /opt/a\\x1b[31mpp\n"));
    ck_assert_ptr_nonnull(strstr(out, "    #0 0x1000 in fn\\x1b[2J src\\x07.c:3 (a\\x1b[31mpp)\n"
                                      "    #1 0x7000 in l\\x01ib.so+0x700\n"));
    for (const char *p = out; *p; p++)
        ck_assert_msg(*p == '\n' || (unsigned char)*p >= 0x20, "%s", out);
    free(out);
    hg_gate_result_free(&res);
    hg_gate_free(&g);
}
END_TEST

/* Every built-in suppression is listed with its reason in docs/LEAKS.md, in
 * a table row "| `leak:PATTERN` | reason |" (the path comes from meson in
 * HG_DOCS_LEAKS), and the table lists no other. */
START_TEST(builtins_are_documented)
{
    const char *path = getenv("HG_DOCS_LEAKS");
    ck_assert_msg(path != NULL, "HG_DOCS_LEAKS is not set");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    char *doc = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&doc, &cap, '\0', f);
    fclose(f);
    ck_assert_int_gt(n, 0);
    const char *rule, *reason;
    size_t i = 0;
    for (; hg_gate_builtin(i, &rule, &reason); i++) {
        char row[512];
        snprintf(row, sizeof(row), "\n| `%s` | %s |", rule, reason);
        ck_assert_msg(strstr(doc, row) != NULL, "docs/LEAKS.md lacks the row: %s", row + 1);
    }
    ck_assert_uint_gt(i, 0);
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    ck_assert_uint_eq(g.nrules, i); /* the list hg_gate_init applies */
    hg_gate_free(&g);
    size_t rows = 0;
    for (const char *p = doc; (p = strstr(p, "\n| `leak:")) != NULL; p++)
        rows++;
    ck_assert_uint_eq(rows, i);
    free(doc);
}
END_TEST

static Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    TCase *r = tcase_create("rules");
    tcase_add_test(r, rules);
    tcase_add_test(r, suppressions_file);
    tcase_add_test(r, builtins_are_documented);
    suite_add_tcase(s, r);
    TCase *e = tcase_create("evaluate");
    tcase_add_test(e, builtin_applies_to_the_site_frame_only);
    tcase_add_test(e, user_rules_match_any_frame_and_limits);
    tcase_add_test(e, growth_and_unknown_leaks);
    tcase_add_test(e, output_escapes_trace_strings);
    tcase_add_test(e, sampled_process_gates_growth_only);
    suite_add_tcase(s, e);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gate_suite());
    srunner_run_all(sr, CK_ENV);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
