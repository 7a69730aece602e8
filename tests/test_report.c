/*
 * Unit tests of the text and JSON reports (analyzer/report_text.c,
 * analyzer/report_json.c) on hand-built models: exact JSON text for the
 * fields, string escaping, null for unknown values, the parsed document
 * checked by python3's json module, and the text report's lines with and
 * without colour.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "heapgrow/format.h"
#include "report.h"

/* A model with three sites: a growing one (cache_put), a leaking one whose
 * function is unknown, and a quiet one with awkward strings. */
static hg_series_point_t grow_pts[4] = {
    {0.0, 1.0, 100, 150, 120},
    {1.0, 2.0, 200, 260, 220},
    {2.0, 3.0, 300, 330, 300},
    {3.0, 4.0, 400, 450, 410},
};
static hg_frame_info_t grow_frames[4] = {
    {"cache_put", "cache.c", 42, "/opt/app/bin/server", 0x401234, 0x1234, false, false},
    {"handle_request", "server.c", 88, "/opt/app/bin/server", 0x402000, 0x2000, true, false},
    {"main", "server.c", 120, "/opt/app/bin/server", 0x403000, 0x3000, false, false},
    {"__libc_start_call_main", NULL, 0, "/lib/libc.so.6", 0x7f00, 0x7f00, false, false},
};
static hg_frame_info_t leak_frames[2] = {
    {NULL, NULL, 0, "/usr/lib/libfoo.so.1", 0x7f0000001000, 0xabc, false, false},
    {"main", "server.c", 130, "/opt/app/bin/server", 0x403100, 0x3100, false, false},
};
static hg_frame_info_t odd_frame = {
    "say \"hi\"\\\n\t\x01\xff\xc3\xa9", "dir/\xe2\x82\xac.c", 7, NULL, 0x10, 0, false, true};
static char *warnings[] = {"module /lib/x.so: build-id differs"};
static char *argv_[] = {"./server", "--port", "80 80"};

static hg_model_t model;
static hg_site_t sites[3];

static void build_model(void)
{
    memset(&model, 0, sizeof(model));
    memset(sites, 0, sizeof(sites));
    hg_site_t *g = &sites[0];
    g->frame = grow_frames[0];
    g->stacks[0].frames = grow_frames;
    g->stacks[0].nframes = 4;
    g->stacks[0].end_live_bytes = 410;
    g->stacks[0].alloc_bytes = 5000;
    g->nstacks_shown = 1;
    g->nstacks_total = 1;
    g->alloc_count = 50;
    g->alloc_bytes = 5000;
    g->peak_live_bytes = 450;
    g->end_live_bytes = 410;
    g->end_live_count = 41;
    g->leaked = (hg_leak_t){410, 41};
    g->series = (hg_series_t){grow_pts, 4};
    g->growth = (hg_growth_t){.is_growing = true,
                              .reason = "floor rises",
                              .n_windows = 4,
                              .slope_bytes_per_s = 100,
                              .mk_z = 2.5,
                              .p_value = 0.01,
                              .late_slope_bytes_per_s = 100,
                              .late_p_value = 0.02,
                              .net_gain_bytes = 3145728,
                              .confidence = 0.98};
    hg_site_t *l = &sites[1];
    l->frame = leak_frames[0];
    l->stacks[0].frames = leak_frames;
    l->stacks[0].nframes = 2;
    l->nstacks_shown = 1;
    l->nstacks_total = 4;
    l->alloc_count = 3;
    l->alloc_bytes = 3072;
    l->peak_live_bytes = 3072;
    l->end_live_bytes = 3072;
    l->end_live_count = 3;
    l->leaked = (hg_leak_t){3072, 3};
    l->growth = (hg_growth_t){
        .reason = "too few snapshots", .p_value = NAN, .mk_z = INFINITY, .slope_bytes_per_s = -0.0};
    hg_site_t *o = &sites[2];
    o->frame = odd_frame;
    o->leaked = (hg_leak_t){0, 0};
    o->growth = (hg_growth_t){.reason = "no trend"};

    model.path = "out.hgt";
    model.pid = 1234;
    model.ppid = 1;
    model.exe = "/opt/app/bin/server";
    model.argv = argv_;
    model.argc = 3;
    model.interval_ms = 100;
    model.wrappers = "xmalloc";
    model.duration_s = 10.25;
    model.has_end = true;
    model.end_reason = HG_END_EXIT;
    model.end_status = 3;
    model.has_final_live_set = true;
    model.totals = (hg_totals_t){.alloc_count = 12345,
                                 .alloc_bytes = 1048576,
                                 .free_count = 12000,
                                 .free_bytes = 1000000,
                                 .peak_live_bytes = 60000,
                                 .end_live_bytes = 48576,
                                 .end_live_count = 345,
                                 .end_rss_bytes = 40000,
                                 .peak_rss_bytes = 2097152,
                                 .dropped_count = 0};
    model.nsnapshots = 40;
    model.sites = sites;
    model.nsites = 3;
    model.warnings = warnings;
    model.nwarnings = 1;
}

/* Runs a report into a string (caller frees). */
static char *render(bool is_json, const hg_report_input_t *in, const hg_report_opts_t *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    int rc = is_json ? hg_report_json(f, in, o) : hg_report_text(f, in, o);
    ck_assert_int_eq(rc, 0);
    fclose(f);
    return buf;
}

/* Checks a JSON document with python3: `script` gets it as `d` and must
 * assert; returns the exit status of python3. */
static int python_check(const char *json, const char *script)
{
    char path[] = "/tmp/hg_test_report_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys,math\nd=json.load(open(sys.argv[1]))\n%s' %s", script,
             path);
    int rc = system(cmd);
    unlink(path);
    return rc;
}

START_TEST(json_exact_fields)
{
    build_model();
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    ck_assert_msg(strncmp(j, "{\n  \"format\": \"heapgrow-report\",\n  \"version\": 1,\n", 49) == 0,
                  "%s", j);
    ck_assert_ptr_nonnull(strstr(j, "\n    \"argv\": [\n      \"./server\",\n      \"--port\",\n"
                                    "      \"80 80\"\n    ],\n"));
    ck_assert_ptr_nonnull(strstr(j, "\"exit_status\": 3,\n    \"signal\": null,\n"));
    ck_assert_ptr_nonnull(strstr(j, "\"rss_minus_live_bytes\": -8576,"));
    ck_assert_ptr_nonnull(strstr(j, "\"duration_s\": 10.25,"));
    ck_assert_ptr_nonnull(strstr(j, "[0, 1, 100, 150, 120]"));
    /* unknown function and file are null, line 0 is null */
    ck_assert_ptr_nonnull(strstr(j, "\"function\": null,\n      \"file\": null,\n"
                                    "      \"line\": null,\n"
                                    "      \"module\": \"/usr/lib/libfoo.so.1\",\n"
                                    "      \"address\": 139637976731648,\n"));
    /* NaN and infinities are null; -0 prints as 0 */
    ck_assert_ptr_nonnull(strstr(j, "\"slope_bytes_per_s\": 0,"));
    ck_assert_ptr_nonnull(strstr(j, "\"p_value\": null,"));
    ck_assert_ptr_nonnull(strstr(j, "\"mk_z\": null,"));
    ck_assert_ptr_nonnull(strstr(j, "\"processes\": []\n}\n"));
    free(j);
}
END_TEST

START_TEST(json_escaping)
{
    build_model();
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    /* quote, backslash, newline, tab, a control byte, an invalid byte (0xff)
     * and a valid two-byte sequence (é) */
    ck_assert_ptr_nonnull(
        strstr(j, "\"function\": \"say \\\"hi\\\"\\\\\\n\\t\\u0001\\ufffd\xc3\xa9\""));
    ck_assert_ptr_nonnull(strstr(j, "\"file\": \"dir/\xe2\x82\xac.c\""));
    ck_assert_int_eq(
        python_check(j, "f=d[\"sites\"][2][\"function\"]\n"
                        "assert f==\"say \\\"hi\\\"\\\\\\n\\t\\x01\\ufffd\\u00e9\", repr(f)"),
        0);
    free(j);
}
END_TEST

START_TEST(json_truncated_utf8)
{
    build_model();
    /* a three-byte sequence cut short at the end of the string, and a
     * surrogate encoded in UTF-8 (invalid) */
    sites[2].frame.function = "ab\xe2\x82";
    sites[2].frame.file = "\xed\xa0\x80z";
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    ck_assert_ptr_nonnull(strstr(j, "\"function\": \"ab\\ufffd\\ufffd\""));
    ck_assert_ptr_nonnull(strstr(j, "\"file\": \"\\ufffd\\ufffd\\ufffdz\""));
    free(j);
}
END_TEST

START_TEST(json_parses_with_values)
{
    build_model();
    hg_model_t child = model;
    child.path = "out.1235.hgt";
    child.pid = 1235;
    child.ppid = 1234;
    child.is_fork_child = true;
    child.has_end = false;
    child.has_final_live_set = false;
    child.ended_early = "trace ends at 1.5 s without an end marker (process killed?)";
    child.nsites = 0;
    child.nwarnings = 0;
    const hg_model_t *children[] = {&child};
    const char *extra[] = {"out.99.hgt: not a trace"};
    hg_report_input_t in = {
        .main = &model, .children = children, .nchildren = 1, .warnings = extra, .nwarnings = 1};
    hg_report_opts_t o = {.top = 2, .group_by = HG_GROUP_FUNCTION};
    char *j = render(true, &in, &o);
    ck_assert_int_eq(
        python_check(
            j,
            "assert d[\"format\"]==\"heapgrow-report\" and d[\"version\"]==1\n"
            "assert d[\"group_by\"]==\"function\"\n"
            "p=d[\"process\"]\n"
            "assert p[\"pid\"]==1234 and p[\"exe\"]==\"/opt/app/bin/server\"\n"
            "assert p[\"ended_cleanly\"] is True and p[\"end_reason\"]==\"exit\"\n"
            "assert p[\"ended_early\"] is None and p[\"wrappers\"] == \"xmalloc\"\n"
            "assert d[\"nsites\"]==3 and len(d[\"sites\"])==2\n"
            "s=d[\"sites\"][0]\n"
            "assert (s[\"function\"],s[\"file\"],s[\"line\"])==(\"cache_put\",\"cache.c\",42)\n"
            "assert [f[\"function\"] for f in "
            "s[\"stack\"]]==[\"cache_put\",\"handle_request\",\"main\",\"__libc_start_call_main\"]"
            "\n"
            "assert s[\"stack\"][1][\"inlined\"] is True\n"
            "assert s[\"leaked\"]=={\"bytes\":410,\"count\":41}\n"
            "assert s[\"growth\"][\"growing\"] is True and "
            "s[\"growth\"][\"net_gain_bytes\"]==3145728\n"
            "assert s[\"growth\"][\"reason\"]==\"floor rises\"\n"
            "assert d[\"sites\"][1][\"nstacks\"]==4\n"
            "assert d[\"totals\"][\"alloc_count\"]==12345\n"
            "assert d[\"warnings\"]==[\"module /lib/x.so: build-id differs\",\"out.99.hgt: not a "
            "trace\"]\n"
            "c=d[\"processes\"][0]\n"
            "assert (c[\"pid\"],c[\"parent_pid\"],c[\"is_fork_child\"])==(1235,1234,True)\n"
            "assert c[\"sites\"]==[] and c[\"end_reason\"] is None and c[\"exit_status\"] is None\n"
            "assert c[\"ended_early\"].startswith(\"trace ends at 1.5 s\")\n"
            "assert c[\"totals\"][\"free_count\"]==12000\n"),
        0);
    free(j);
}
END_TEST

START_TEST(json_unknown_leaks_are_null)
{
    build_model();
    model.has_end = false;
    model.has_final_live_set = false;
    for (size_t i = 0; i < 3; i++)
        sites[i].leaked = (hg_leak_t){-1, -1};
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    ck_assert_ptr_nonnull(
        strstr(j, "\"leaked\": {\n        \"bytes\": null,\n        \"count\": null\n"));
    ck_assert_ptr_nonnull(strstr(j, "\"end_reason\": null,\n    \"exit_status\": null,\n"));
    ck_assert_int_eq(python_check(j, "assert all(s[\"leaked\"]=={\"bytes\":None,\"count\":None} "
                                     "for s in d[\"sites\"])"),
                     0);
    free(j);
}
END_TEST

/* Totals over time: three windows of live bytes and of RSS, whole. */
static hg_series_point_t live_pts[3] = {
    {0.0, 0.5, 100, 300, 200},
    {0.6, 1.0, 200, 1024, 900},
    {1.1, 1.5, 800, 2048, 2048},
};
static hg_series_point_t rss_pts[3] = {
    {0.0, 0.5, 1048576, 1048576, 1048576},
    {0.6, 1.0, 1048576, 2097152, 2097152},
    {1.1, 1.5, 2097152, 3145728, 3145728},
};

START_TEST(json_totals_series)
{
    build_model();
    model.live_series = (hg_series_t){live_pts, 3};
    model.rss_series = (hg_series_t){rss_pts, 3};
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    ck_assert_msg(strstr(j, "    \"dropped_count\": 0,\n"
                            "    \"live_series\": [\n"
                            "      [0, 0.5, 100, 300, 200],\n"
                            "      [0.6, 1, 200, 1024, 900],\n"
                            "      [1.1, 1.5, 800, 2048, 2048]\n"
                            "    ],\n"
                            "    \"rss_series\": [\n"
                            "      [0, 0.5, 1048576, 1048576, 1048576],\n"
                            "      [0.6, 1, 1048576, 2097152, 2097152],\n"
                            "      [1.1, 1.5, 2097152, 3145728, 3145728]\n"
                            "    ],\n"
                            "    \"samples\": null\n"
                            "  },\n") != NULL,
                  "%s", j);
    free(j);
    /* No snapshot: empty arrays, not null. */
    model.live_series = (hg_series_t){NULL, 0};
    model.rss_series = (hg_series_t){NULL, 0};
    j = render(true, &in, &o);
    ck_assert_ptr_nonnull(strstr(j, "\"live_series\": [],\n    \"rss_series\": [],\n"
                                    "    \"samples\": null\n  },\n"));
    free(j);
}
END_TEST

/* A series longer than HG_REPORT_SERIES_POINTS is merged down: 200 windows
 * into 64 groups of 3 or 4 (i * 200 / 64 boundaries). */
START_TEST(json_series_bounded)
{
    static hg_series_point_t many[200];
    for (int i = 0; i < 200; i++)
        many[i] = (hg_series_point_t){i, i + 0.5, 1000 + i % 7, 5000 - i, 2000 + i};
    build_model();
    sites[0].series = (hg_series_t){many, 200};
    model.rss_series = (hg_series_t){many, 200};
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    /* group 0: windows 0..2; group 1: 3..5; group 2: 6..8; ...; group 63: 196..199 */
    ck_assert_ptr_nonnull(strstr(j, "\"series\": [\n        [0, 2.5, 1000, 5000, 2002],\n"
                                    "        [3, 5.5, 1003, 4997, 2005],\n"
                                    "        [6, 8.5, 1000, 4994, 2008],\n"));
    ck_assert_int_eq(python_check(j, "s=d[\"sites\"][0][\"series\"]\n"
                                     "r=d[\"totals\"][\"rss_series\"]\n"
                                     "assert len(s)==64 and r==s, (len(s),len(r))\n"
                                     "assert s[-1]==[196,199.5,1000,4804,2199], s[-1]\n"
                                     "assert all(s[i][1]<s[i+1][0] for i in range(63))\n"),
                     0);
    free(j);
}
END_TEST

START_TEST(json_sites_omitted)
{
    build_model();
    hg_model_t child = model;
    child.pid = 1235;
    const hg_model_t *children[] = {&child};
    hg_report_input_t in = {.main = &model, .children = children, .nchildren = 1};
    hg_report_opts_t o = {.top = 1};
    char *j = render(true, &in, &o);
    ck_assert_ptr_nonnull(
        strstr(j, "\n  \"nsites\": 3,\n  \"sites_omitted\": 2,\n  \"sites\": [\n"));
    ck_assert_int_eq(python_check(j, "assert (d[\"nsites\"],d[\"sites_omitted\"],len(d[\"sites\"]))"
                                     "==(3,2,1)\n"
                                     "c=d[\"processes\"][0]\n"
                                     "assert (c[\"nsites\"],c[\"sites_omitted\"],len(c[\"sites\"]))"
                                     "==(3,2,1)\n"),
                     0);
    free(j);
    o.top = 0; /* all */
    j = render(true, &in, &o);
    ck_assert_ptr_nonnull(strstr(j, "\n  \"nsites\": 3,\n  \"sites_omitted\": 0,\n"));
    free(j);
}
END_TEST

/* A growth verdict reached without enough windows: what was not computed is
 * null, never 0 or 1 (hg_growth_analyze leaves it NaN). */
START_TEST(json_too_few_is_null)
{
    build_model();
    sites[2].growth = (hg_growth_t){.is_too_few = true,
                                    .reason = "too few snapshots",
                                    .n_windows = 1,
                                    .slope_bytes_per_s = NAN,
                                    .mk_z = NAN,
                                    .mk_s = NAN,
                                    .p_value = NAN,
                                    .late_slope_bytes_per_s = NAN,
                                    .late_p_value = NAN,
                                    .net_gain_bytes = NAN,
                                    .confidence = NAN};
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *j = render(true, &in, &o);
    ck_assert_msg(strstr(j, "\"growth\": {\n"
                            "        \"growing\": false,\n"
                            "        \"slope_bytes_per_s\": null,\n"
                            "        \"confidence\": null,\n"
                            "        \"p_value\": null,\n"
                            "        \"late_slope_bytes_per_s\": null,\n"
                            "        \"late_p_value\": null,\n"
                            "        \"mk_z\": null,\n"
                            "        \"net_gain_bytes\": null,\n"
                            "        \"n_windows\": 1,\n"
                            "        \"reason\": \"too few snapshots\"\n"
                            "      },\n") != NULL,
                  "%s", j);
    free(j);
}
END_TEST

START_TEST(headline_verdicts)
{
    char h[256];
    build_model();
    ck_assert_str_eq(hg_report_headline(&model, h, sizeof(h)),
                     "1 site grows, 2 sites leak 3.4 KiB: 3.0 MiB gained in 10.2 s");
    sites[0].growth.is_growing = false;
    sites[0].leaked = (hg_leak_t){0, 0};
    ck_assert_str_eq(hg_report_headline(&model, h, sizeof(h)), "no growth, 1 site leaks 3.0 KiB");
    sites[1].leaked = (hg_leak_t){0, 0};
    ck_assert_str_eq(hg_report_headline(&model, h, sizeof(h)), "no growth, no leaks");
    model.has_final_live_set = false;
    for (size_t i = 0; i < 3; i++)
        sites[i].leaked = (hg_leak_t){-1, -1};
    ck_assert_str_eq(hg_report_headline(&model, h, sizeof(h)), "no growth, leaks unknown");
}
END_TEST

START_TEST(text_lines)
{
    build_model();
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {.top = 10};
    char *t = render(false, &in, &o);
    ck_assert_msg(
        strncmp(t,
                "heapgrow: process 1234 /opt/app/bin/server, 10.2 s, exited with 3\n"
                "1 site grows, 2 sites leak 3.4 KiB: 3.0 MiB gained in 10.2 s\n"
                "\nGrowing sites (by rate)\n"
                "  1. +100 B/s  confidence 98%  gained 3.0 MiB  live 410 B  "
                "\xe2\x96\x81\xe2\x96\x83\xe2\x96\x86\xe2\x96\x88\n"
                "     cache_put at cache.c:42 (server)\n"
                "         from handle_request at server.c:88 (server) [inlined]\n"
                "         from main at server.c:120 (server)\n"
                "\nLeaked at exit (by bytes)\n"
                "  1. 3.0 KiB in 3 blocks  libfoo.so.1+0xabc\n"
                "         from main at server.c:130 (server)\n"
                "         (4 distinct stacks meet here)\n"
                "  2. 410 B in 41 blocks  cache_put at cache.c:42 (server)\n",
                strlen("heapgrow: process 1234 /opt/app/bin/server, 10.2 s, exited with 3\n")) == 0,
        "%s", t);
    ck_assert_ptr_nonnull(strstr(t,
                                 "\nGrowing sites (by rate)\n"
                                 "  1. +100 B/s  confidence 98%  gained 3.0 MiB  live 410 B  "
                                 "\xe2\x96\x81\xe2\x96\x83\xe2\x96\x86\xe2\x96\x88\n"
                                 "     cache_put at cache.c:42 (server)\n"
                                 "         from handle_request at server.c:88 (server) [inlined]\n"
                                 "         from main at server.c:120 (server)\n"
                                 "\nLeaked at exit"));
    ck_assert_ptr_nonnull(strstr(t, "\nLeaked at exit (by bytes)\n"
                                    "  1. 3.0 KiB in 3 blocks  libfoo.so.1+0xabc\n"
                                    "         from main at server.c:130 (server)\n"
                                    "         (4 distinct stacks meet here)\n"
                                    "  2. 410 B in 41 blocks  cache_put at cache.c:42 (server)\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "\nTotals\n  allocations 12,345 (1.0 MiB), frees 12,000 (976.6 KiB)\n"
                  "  live: highest at a snapshot 58.6 KiB, at end 47.4 KiB in 345 blocks\n"
                  "  RSS: highest at a snapshot 2.0 MiB, at end 39.1 KiB; RSS - live -8.4 KiB\n"));
    ck_assert_ptr_nonnull(strstr(t, "warning: module /lib/x.so: build-id differs\n"));
    ck_assert_ptr_null(strchr(t, '\033'));
    free(t);
}
END_TEST

START_TEST(text_totals_over_time)
{
    build_model();
    model.live_series = (hg_series_t){live_pts, 3};
    model.rss_series = (hg_series_t){rss_pts, 3};
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *t = render(false, &in, &o);
    /* each window's highest value, scaled between the lowest and highest */
    ck_assert_msg(strstr(t, "  RSS: highest at a snapshot 2.0 MiB, at end 39.1 KiB; RSS - live -8.4 KiB\n"
                            "  live over time  \xe2\x96\x81\xe2\x96\x84\xe2\x96\x88"
                            "  (300 B .. 2.0 KiB)\n"
                            "  RSS  over time  \xe2\x96\x81\xe2\x96\x85\xe2\x96\x88"
                            "  (1.0 MiB .. 3.0 MiB)\n") != NULL,
                  "%s", t);
    free(t);
    /* one window: no line */
    model.live_series.n = 1;
    model.rss_series.n = 1;
    t = render(false, &in, &o);
    ck_assert_ptr_null(strstr(t, "over time"));
    free(t);
}
END_TEST

START_TEST(text_too_few_snapshots)
{
    char h[256];
    build_model();
    for (size_t i = 0; i < 3; i++) {
        sites[i].growth = (hg_growth_t){.is_too_few = true, .reason = "too few snapshots"};
        sites[i].leaked = (hg_leak_t){0, 0};
    }
    ck_assert_str_eq(hg_report_headline(&model, h, sizeof(h)),
                     "growth unknown (too few snapshots), no leaks");
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {0};
    char *t = render(false, &in, &o);
    ck_assert_ptr_nonnull(strstr(t, "\ngrowth unknown (too few snapshots), no leaks\n"));
    free(t);
}
END_TEST

START_TEST(text_top_and_brief)
{
    build_model();
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {.top = 1};
    char *t = render(false, &in, &o);
    ck_assert_ptr_nonnull(strstr(t, "     ... 1 more leaking site (--top)\n"));
    ck_assert_ptr_null(strstr(t, "  2. 410 B"));
    free(t);
    o = (hg_report_opts_t){.is_brief = true};
    t = render(false, &in, &o);
    ck_assert_ptr_null(strstr(t, "Totals"));
    ck_assert_ptr_null(strstr(t, "from main at server.c:120"));
    ck_assert_ptr_nonnull(strstr(t, "from handle_request at server.c:88"));
    free(t);
}
END_TEST

START_TEST(text_colour_only_when_asked)
{
    build_model();
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {.is_color = true};
    char *t = render(false, &in, &o);
    ck_assert_ptr_nonnull(strstr(t, "\033[1;31m1 site grows"));
    ck_assert_ptr_nonnull(strstr(t, "\033[1mcache_put\033[0m at cache.c:42"));
    free(t);
}
END_TEST

START_TEST(text_children)
{
    build_model();
    hg_model_t child = model;
    child.pid = 1300;
    child.ppid = 1234;
    child.exe = "/bin/worker";
    child.is_fork_child = false;
    child.has_end = false;
    child.has_final_live_set = false;
    child.ended_early = "trace ends at 1.5 s without an end marker (process killed?)";
    child.nsites = 0;
    child.nwarnings = 0;
    const hg_model_t *children[] = {&child};
    hg_report_input_t in = {.main = &model, .children = children, .nchildren = 1};
    hg_report_opts_t o = {0};
    char *t = render(false, &in, &o);
    ck_assert_ptr_nonnull(
        strstr(t, "\nProcess 1300 (child of 1234) /bin/worker, 10.2 s\n"
                  "no growth, leaks unknown\n"
                  "\nnote: trace ends at 1.5 s without an end marker (process killed?)\n"));
    free(t);
}
END_TEST

START_TEST(text_quiet_children_counted)
{
    build_model();
    hg_model_t quiet = model, noisy = model;
    quiet.pid = 1400;
    quiet.nsites = 0;
    quiet.nwarnings = 0;
    noisy.pid = 1500;
    noisy.nwarnings = 0;
    const hg_model_t *children[] = {&quiet, &noisy, &noisy, &noisy, &noisy, &quiet};
    hg_report_input_t in = {.main = &model, .children = children, .nchildren = 6};
    hg_report_opts_t o = {0};
    char *t = render(false, &in, &o);
    ck_assert_ptr_null(strstr(t, "Process 1400"));
    ck_assert_ptr_nonnull(strstr(t, "\n2 other descendant processes: no growth, no leaks\n"));
    ck_assert_ptr_null(strstr(t, "more descendant"));
    free(t);
    o.is_brief = true;
    t = render(false, &in, &o);
    ck_assert_ptr_nonnull(strstr(t,
                                 "\n... 1 more descendant process with growth, leaks or warnings\n"
                                 "\n2 other descendant processes: no growth, no leaks\n"));
    free(t);
    const hg_model_t *only_quiet[] = {&quiet};
    in = (hg_report_input_t){.main = &model, .children = only_quiet, .nchildren = 1};
    t = render(false, &in, &o);
    ck_assert_ptr_nonnull(strstr(t, "\n1 descendant process: no growth, no leaks\n"));
    free(t);
}
END_TEST

/* ---- terminal-safe text (escape.h) ---- */

START_TEST(escape_cases)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain_name", "plain_name"},
        {"esc\x1b[31mred", "esc\\x1b[31mred"},
        {"back\\slash", "back\\\\slash"},
        {"tab\tnl\ncr\rdel\x7f", "tab\\x09nl\\x0acr\\x0ddel\\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"c1 \xc2\x9b[2J", "c1 \\xc2\\x9b[2J"}, /* U+009B, CSI */
        {"nbsp \xc2\xa0", "nbsp \xc2\xa0"},     /* U+00A0 is text */
        {"bad \xc3\x28", "bad \\xc3("},         /* no continuation */
        {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
        {"overlong3 \xe0\x80\xaf", "overlong3 \\xe0\\x80\\xaf"},
        {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
        {"too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80"},
        {"cut \xe2\x82", "cut \\xe2\\x82"},
        {"\xff\xfe", "\\xff\\xfe"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[128];
        ck_assert_str_eq(hg_escape_str(cases[i].in, buf, sizeof(buf)), cases[i].out);
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        hg_escape_put(f, cases[i].in);
        fclose(f);
        ck_assert_str_eq(s, cases[i].out);
        free(s);
    }
    char small[5];
    ck_assert_str_eq(hg_escape_str("ab\x1b", small, sizeof(small)), "ab"); /* never half */
    ck_assert_str_eq(hg_escape_str("abcdef", small, sizeof(small)), "abcd");
    ck_assert_str_eq(hg_escape_str("\xe2\x82\xac\xe2\x82\xac", small, sizeof(small)),
                     "\xe2\x82\xac");
    ck_assert_str_eq(hg_escape_str(NULL, small, sizeof(small)), "");
}
END_TEST

/* Every string of trace origin in the text report is escaped: the output
 * holds no control byte but newlines and is valid UTF-8. */
START_TEST(text_escapes_trace_strings)
{
    build_model();
    static hg_frame_info_t bad[2] = {
        {"fn\x1b]0;title\x07", "src/\x1b[2J.c", 5, "/tmp/lib\x9b\x1b[31m.so", 0x10, 0x10, false,
         false},
        {NULL, NULL, 0, "/tmp/\x1b[5mmod\xff", 0x20, 0x20, false, false},
    };
    sites[1].frame = bad[0];
    sites[1].stacks[0].frames = bad;
    model.exe = "/tmp/esc\x1b[31mred";
    static char *w[] = {"module /tmp/\x1b[1mx.so: cannot use it (\x01)"};
    model.warnings = w;
    model.ended_early = "trace incomplete: writing it stopped at 1.0 s (\x1b[41m); data up to "
                        "0.9 s";
    hg_report_input_t in = {.main = &model};
    hg_report_opts_t o = {.top = 10};
    char *t = render(false, &in, &o);
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p != 0x7f && *p != 0x9b),
                      "byte 0x%02x at %zu:\n%s", *p, (size_t)(p - (const unsigned char *)t), t);
    ck_assert_ptr_nonnull(strstr(t, "heapgrow: process 1234 /tmp/esc\\x1b[31mred, 10.2 s"));
    ck_assert_ptr_nonnull(
        strstr(t, "fn\\x1b]0;title\\x07 at src/\\x1b[2J.c:5 (lib\\x9b\\x1b[31m.so)\n"));
    ck_assert_ptr_nonnull(strstr(t, "from \\x1b[5mmod\\xff+0x20\n"));
    ck_assert_ptr_nonnull(strstr(t, "warning: module /tmp/\\x1b[1mx.so: cannot use it (\\x01)\n"));
    ck_assert_ptr_nonnull(strstr(t, "note: trace incomplete: writing it stopped at 1.0 s "
                                    "(\\x1b[41m); data up to 0.9 s\n"));
    free(t);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *j = tcase_create("json");
    tcase_add_test(j, json_exact_fields);
    tcase_add_test(j, json_escaping);
    tcase_add_test(j, json_truncated_utf8);
    tcase_add_test(j, json_parses_with_values);
    tcase_add_test(j, json_unknown_leaks_are_null);
    tcase_add_test(j, json_totals_series);
    tcase_add_test(j, json_series_bounded);
    tcase_add_test(j, json_sites_omitted);
    tcase_add_test(j, json_too_few_is_null);
    suite_add_tcase(s, j);
    TCase *t = tcase_create("text");
    tcase_add_test(t, headline_verdicts);
    tcase_add_test(t, text_lines);
    tcase_add_test(t, text_totals_over_time);
    tcase_add_test(t, text_too_few_snapshots);
    tcase_add_test(t, text_top_and_brief);
    tcase_add_test(t, text_colour_only_when_asked);
    tcase_add_test(t, text_children);
    tcase_add_test(t, text_quiet_children_counted);
    tcase_add_test(t, text_escapes_trace_strings);
    tcase_add_test(t, escape_cases);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_ENV);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
