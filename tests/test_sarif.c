/*
 * Unit tests of the SARIF log (analyzer/sarif.c) on hand-built models: URI
 * encoding, where a result is placed (the site's file and line relative to
 * %SRCROOT%, an absolute file: URI outside it, a caller's line when the site
 * has none, the module when no frame has one), the messages, levels,
 * invocation and notifications. The JSON is squashed (newlines and
 * indentation removed) and compared by fragments; tests/cli/test_check.py
 * parses whole logs of real runs.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <heapgrow/format.h>

#include "gate.h"
#include "sarif.h"

static hg_frame_info_t a_frames[2] = {
    {"make_a", "/base/src/a.c", 10, "/base/app", 0x1000, 0x1000, false, false},
    {"main", "/base/src/main.c", 40, "/base/app", 0x2000, 0x2000, false, false},
};
/* A site in a library without line information, called from elsewhere. */
static hg_frame_info_t b_frames[2] = {
    {"lib_alloc", NULL, 0, "/usr/lib/libx.so.1", 0x7000, 0x700, false, false},
    {"caller", "/elsewhere/m c.c", 5, "/base/app", 0x2100, 0x2100, false, false},
};
/* No source anywhere, no function. */
static hg_frame_info_t c_frames[1] = {
    {NULL, NULL, 0, "/usr/lib/liby.so", 0x9000, 0x90, false, false},
};

static hg_site_t sites[3];
static hg_model_t model;

static void build(void)
{
    memset(sites, 0, sizeof(sites));
    memset(&model, 0, sizeof(model));
    hg_frame_info_t *fr[3] = {a_frames, b_frames, c_frames};
    size_t nfr[3] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        sites[i].frame = fr[i][0];
        sites[i].stacks[0].frames = fr[i];
        sites[i].stacks[0].nframes = nfr[i];
        sites[i].nstacks_shown = 1;
        sites[i].nstacks_total = 1;
    }
    sites[0].leak_kinds[HG_CAT_DEFINITE] = (hg_leak_t){100, 1};
    sites[0].leak_kinds[HG_CAT_INDIRECT] = (hg_leak_t){50, 2};
    sites[0].leaked = (hg_leak_t){150, 3};
    sites[1].leak_kinds[HG_CAT_POSSIBLE] = (hg_leak_t){64, 1};
    sites[1].leaked = (hg_leak_t){64, 1};
    sites[2].leak_kinds[HG_CAT_DEFINITE] = (hg_leak_t){8, 1};
    sites[2].leaked = (hg_leak_t){8, 1};
    model.pid = 42;
    model.ppid = 1;
    model.exe = "/base/app";
    model.has_final_live_set = true;
    model.has_reachability = true;
    model.sites = sites;
    model.nsites = 3;
}

/* The log without newlines and the indentation after them. */
static char *squash(char *s)
{
    char *o = s;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\n') {
            while (p[1] == ' ')
                p++;
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return s;
}

static char *sarif(const hg_gate_t *g, const hg_report_input_t *in, const char *base_dir,
                   const char *error, int exit_code)
{
    hg_gate_result_t res = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    if (in != NULL) {
        f = fopen("/dev/null", "w");
        hg_gate_evaluate(f, g, in, &res);
        fclose(f);
    }
    char *argv[] = {"check", "--", "/base/app"};
    hg_sarif_run_t run = {.gate = g,
                          .in = in,
                          .res = in != NULL ? &res : NULL,
                          .base_dir = base_dir,
                          .argv = argv,
                          .argc = 3,
                          .exit_code = exit_code,
                          .error = error};
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(hg_sarif_write(f, &run), 0);
    fclose(f);
    hg_gate_result_free(&res);
    return squash(buf);
}

#define HAS(s, frag) ck_assert_msg(strstr((s), (frag)) != NULL, "missing: %s\nin: %s", (frag), (s))

START_TEST(uris)
{
    char buf[64];
    ck_assert_int_eq(hg_sarif_path_uri("/a b/\xc3\xbc.c", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "file:///a%20b/%C3%BC.c");
    ck_assert_int_eq(hg_sarif_path_uri("src/x:y#1%.c", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "src/x%3Ay%231%25.c");
    ck_assert_int_eq(hg_sarif_path_uri("a-b_c.d~/e", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "a-b_c.d~/e");
    ck_assert_int_eq(hg_sarif_path_uri("/abc", buf, 12), 0); /* exactly fits */
    ck_assert_str_eq(buf, "file:///abc");
}
END_TEST

START_TEST(uri_too_long)
{
    char buf[11];
    ck_assert_int_eq(hg_sarif_path_uri("/abcd", buf, sizeof(buf)), -ENAMETOOLONG);
    ck_assert_int_eq(hg_sarif_path_uri(" ", buf, 3), -ENAMETOOLONG);
    ck_assert_int_eq(hg_sarif_path_uri("/", buf, 7), -ENAMETOOLONG);
}
END_TEST

START_TEST(results_and_locations)
{
    build();
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    hg_report_input_t in = {.main = &model};
    char *s = sarif(&g, &in, "/base", NULL, 23);
    HAS(s, "{\"$schema\": \"https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
           "sarif-schema-2.1.0.json\",\"version\": \"2.1.0\",\"runs\": [{\"tool\": {\"driver\": "
           "{\"name\": \"heapgrow\",");
    HAS(s, "\"originalUriBaseIds\": {\"%SRCROOT%\": {\"uri\": \"file:///base/\"}}");
    HAS(s, "\"executionSuccessful\": true,\"exitCode\": 23,\"arguments\": [\"check\",\"--\","
           "\"/base/app\"],\"workingDirectory\": {\"uri\": \"file:///base/\"},"
           "\"toolExecutionNotifications\": []");
    /* Rules: all six, in the order of their index. */
    const char *ids[] = {"heapgrow/definite-leak", "heapgrow/indirect-leak",
                         "heapgrow/possible-leak", "heapgrow/reachable",
                         "heapgrow/leak",          "heapgrow/growth"};
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        char frag[64];
        snprintf(frag, sizeof(frag), "{\"id\": \"%s\"", ids[i]);
        p = strstr(p, frag);
        ck_assert_msg(p != NULL, "rule %d %s", i, ids[i]);
    }
    /* Site a: under the base, its own file and line; indirect with it. */
    HAS(s, "{\"ruleId\": \"heapgrow/definite-leak\",\"ruleIndex\": 0,\"level\": \"error\","
           "\"message\": {\"text\": \"Direct leak of 100 byte(s) in 1 object(s) allocated from "
           "make_a, and 50 byte(s) in 2 object(s) reachable only through them (indirect leak), "
           "in process 42 /base/app.\"},\"locations\": [{\"physicalLocation\": "
           "{\"artifactLocation\": {\"uri\": \"src/a.c\",\"uriBaseId\": \"%SRCROOT%\"},"
           "\"region\": {\"startLine\": 10}},\"logicalLocations\": [{\"fullyQualifiedName\": "
           "\"make_a\",\"kind\": \"function\"}]}]");
    HAS(s, "\"properties\": {\"bytes\": 100,\"objects\": 1,\"indirectBytes\": 50,"
           "\"indirectObjects\": 2,\"pid\": 42,\"parentPid\": 1,\"exe\": \"/base/app\","
           "\"isDescendant\": false}");
    /* its stack, frame by frame */
    HAS(s, "\"stacks\": [{\"message\": {\"text\": \"Allocation stack 1 of 1\"},\"frames\": "
           "[{\"location\": {\"physicalLocation\": {\"artifactLocation\": {\"uri\": \"src/a.c\","
           "\"uriBaseId\": \"%SRCROOT%\"},\"region\": {\"startLine\": 10}},\"logicalLocations\": "
           "[{\"fullyQualifiedName\": \"make_a\",\"kind\": \"function\"}]},\"module\": \"app\"},"
           "{\"location\": {\"physicalLocation\": {\"artifactLocation\": {\"uri\": "
           "\"src/main.c\",\"uriBaseId\": \"%SRCROOT%\"},\"region\": {\"startLine\": 40}}");
    /* Site b: no line of its own: placed at its caller, outside the base. */
    HAS(s, "\"ruleId\": \"heapgrow/possible-leak\",\"ruleIndex\": 2,\"level\": \"error\","
           "\"message\": {\"text\": \"Possible leak of 64 byte(s) in 1 object(s) allocated from "
           "lib_alloc, in process 42 /base/app.\"},\"locations\": [{\"physicalLocation\": "
           "{\"artifactLocation\": {\"uri\": \"file:///elsewhere/m%20c.c\"},\"region\": "
           "{\"startLine\": 5}},\"logicalLocations\": [{\"fullyQualifiedName\": \"caller\"");
    /* Site c: no source, no function: the module stands for it. */
    HAS(s, "\"message\": {\"text\": \"Direct leak of 8 byte(s) in 1 object(s) allocated from "
           "liby.so+0x90, in process 42 /base/app.\"},\"locations\": [{\"physicalLocation\": "
           "{\"artifactLocation\": {\"uri\": \"file:///usr/lib/liby.so\"}}}]");
    HAS(s, "{\"location\": {\"message\": {\"text\": \"liby.so+0x90\"}},\"module\": \"liby.so\"}");
    free(s);

    /* No base directory: absolute URIs only, no originalUriBaseIds. */
    s = sarif(&g, &in, NULL, NULL, 23);
    HAS(s, "{\"uri\": \"file:///base/src/a.c\"}");
    ck_assert_ptr_null(strstr(s, "SRCROOT"));
    ck_assert_ptr_null(strstr(s, "workingDirectory"));
    free(s);
    /* "/" as the base: everything is below it. */
    s = sarif(&g, &in, "/", NULL, 23);
    HAS(s, "\"originalUriBaseIds\": {\"%SRCROOT%\": {\"uri\": \"file:///\"}}");
    HAS(s, "{\"uri\": \"base/src/a.c\",\"uriBaseId\": \"%SRCROOT%\"}");
    free(s);
    /* A base that is only a prefix of the name is not its directory. */
    s = sarif(&g, &in, "/bas", NULL, 23);
    HAS(s, "{\"uri\": \"file:///base/src/a.c\"}");
    free(s);
    hg_gate_free(&g);
}
END_TEST

START_TEST(levels_growth_descendants)
{
    build();
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    /* Under the limit: the sites are listed, the gate passes: warnings. */
    g.max_leak_bytes = 1000;
    hg_report_input_t in = {.main = &model};
    char *s = sarif(&g, &in, "/base", NULL, 0);
    HAS(s, "\"ruleIndex\": 0,\"level\": \"warning\"");
    HAS(s, "\"ruleIndex\": 2,\"level\": \"warning\"");
    ck_assert_ptr_null(strstr(s, "\"level\": \"error\",\"message\""));
    free(s);

    /* Growth, in a descendant; the main process left no final live set. */
    g.max_leak_bytes = 0;
    g.is_fail_on_growth = true;
    ck_assert_int_eq(hg_gate_add_rule(&g, "leak:*"), 0);
    sites[0].growth = (hg_growth_t){
        .is_growing = true, .slope_bytes_per_s = 1000, .confidence = 0.99, .net_gain_bytes = 8192};
    hg_model_t parent = {.pid = 41, .ppid = 1, .exe = "/bin/sh"};
    const hg_model_t *children[] = {&model};
    const char *warnings[] = {"/tmp/x.43.hgt: not a heapgrow trace"};
    hg_report_input_t fam = {.main = &parent,
                             .children = children,
                             .nchildren = 1,
                             .warnings = warnings,
                             .nwarnings = 1};
    s = sarif(&g, &fam, "/base", NULL, 23);
    HAS(s, "{\"ruleId\": \"heapgrow/growth\",\"ruleIndex\": 5,\"level\": \"error\",\"message\": "
           "{\"text\": \"Growth of 1000 byte(s)/s (confidence 99%, 8192 byte(s) gained) allocated "
           "from make_a, in descendant process 42 (child of 1) /base/app.\"}");
    HAS(s, "\"properties\": {\"slopeBytesPerSecond\": 1000,\"confidence\": 0.99,\"netGainBytes\": "
           "8192,\"pid\": 42,\"parentPid\": 1,\"exe\": \"/base/app\",\"isDescendant\": true}");
    HAS(s, "\"toolExecutionNotifications\": [{\"level\": \"warning\",\"message\": {\"text\": "
           "\"Leaks unknown for process 41 /bin/sh: it did not exit normally (killed by a signal, "
           "_exit or exec), so the tracer wrote no final live set.\"}},{\"level\": \"warning\","
           "\"message\": {\"text\": \"/tmp/x.43.hgt: not a heapgrow trace\"}}]");
    /* one result: the leaks are suppressed */
    const char *first = strstr(s, "\"ruleId\"");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "\"ruleId\""));
    free(s);
    hg_gate_free(&g);
}
END_TEST

/* A sampled process: its growth is an estimate, its leaks are not gated
 * (launch.c refuses a sampled leak gate; a sampled child of an exact run
 * can still get here), and a note says so. */
START_TEST(sampled_growth_only)
{
    build();
    model.sample_bytes = 524288;
    model.has_reachability = false;
    sites[0].growth = (hg_growth_t){
        .is_growing = true, .slope_bytes_per_s = 1000, .confidence = 0.99, .net_gain_bytes = 8192};
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    g.is_fail_on_growth = true;
    hg_report_input_t in = {.main = &model};
    char *s = sarif(&g, &in, "/base", NULL, 23);
    HAS(s, "{\"ruleId\": \"heapgrow/growth\",\"ruleIndex\": 5,\"level\": \"error\",\"message\": "
           "{\"text\": \"Estimated growth of 1000 byte(s)/s (confidence 99%, 8192 byte(s) "
           "gained) allocated from make_a, in process 42 /base/app.\"}");
    HAS(s, "\"toolExecutionNotifications\": [{\"level\": \"note\",\"message\": {\"text\": "
           "\"Leaks not checked for process 42 /base/app: it was sampled (one allocation per "
           "524288 bytes on average), so its growth is estimated and its leaks are not "
           "gated.\"}}]");
    /* the only result: the sites' leaks are not findings */
    const char *first = strstr(s, "\"ruleId\"");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "\"ruleId\""));
    free(s);
    hg_gate_free(&g);
}
END_TEST

START_TEST(nothing_checked)
{
    hg_gate_t g;
    ck_assert_int_eq(hg_gate_init(&g), 0);
    char *s = sarif(&g, NULL, "/base", "the program did not run", 127);
    HAS(s, "\"executionSuccessful\": false,\"exitCode\": 127,");
    HAS(s, "\"toolExecutionNotifications\": [{\"level\": \"error\",\"message\": {\"text\": "
           "\"the program did not run\"}}]}],\"results\": []}]}");
    free(s);
    hg_gate_free(&g);
}
END_TEST

static Suite *sarif_suite(void)
{
    Suite *s = suite_create("sarif");
    TCase *u = tcase_create("uri");
    tcase_add_test(u, uris);
    tcase_add_test(u, uri_too_long);
    suite_add_tcase(s, u);
    TCase *w = tcase_create("write");
    tcase_add_test(w, results_and_locations);
    tcase_add_test(w, levels_growth_descendants);
    tcase_add_test(w, sampled_growth_only);
    tcase_add_test(w, nothing_checked);
    suite_add_tcase(s, w);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sarif_suite());
    srunner_run_all(sr, CK_ENV);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
