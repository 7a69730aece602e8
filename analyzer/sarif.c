/*
 * The SARIF 2.1.0 log of `heapgrow check` (sarif.h): formatting only, over
 * the gate's findings. Every log lists all rules in the same order, so that
 * logs of many checks (one per test) merge into one run by concatenating
 * their results (docs/CI.md shows how). Paths under the working directory
 * are relative to "%SRCROOT%", others absolute file: URIs, as code-scanning
 * services expect (SARIF 2.1.0 §3.4.4, §3.14.14).
 */
#include "sarif.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#ifndef HG_VERSION
#define HG_VERSION "unknown"
#endif
#ifndef HG_HOMEPAGE
#define HG_HOMEPAGE ""
#endif

#define SARIF_SCHEMA                                                                               \
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#define SRCROOT "%SRCROOT%"

/* One rule per enum hg_gate_finding_kind, in its order (the ruleIndex). */
static const struct rule {
    const char *id;
    const char *name;
    const char *short_text;
    const char *full_text;
    const char *tag;
} rules[] = {
    [HG_FINDING_DEFINITE] = {"heapgrow/definite-leak", "DefiniteLeak",
                             "Memory definitely lost at exit",
                             "Blocks still allocated when the process exited that no pointer "
                             "points to: not from globals, stacks, thread-local storage nor from "
                             "any reachable block (valgrind: definitely lost; LeakSanitizer: "
                             "direct leak). Indirect leaks, the blocks that only these held, are "
                             "counted with them.",
                             "leak"},
    [HG_FINDING_INDIRECT] = {"heapgrow/indirect-leak", "IndirectLeak",
                             "Memory lost at exit through lost blocks",
                             "Blocks still allocated at exit that only lost blocks point to: the "
                             "rest of a lost list, tree or cycle (valgrind: indirectly lost).",
                             "leak"},
    [HG_FINDING_POSSIBLE] = {"heapgrow/possible-leak", "PossibleLeak",
                             "Memory possibly lost at exit",
                             "Blocks still allocated at exit that are reached only through "
                             "pointers into their interior (valgrind: possibly lost).",
                             "leak"},
    [HG_FINDING_REACHABLE] = {"heapgrow/reachable", "StillReachable",
                              "Memory still reachable at exit",
                              "Blocks still allocated at exit that a chain of pointers from "
                              "globals, stacks or thread-local storage still reaches (valgrind: "
                              "still reachable). Reported only when selected with --leak-kinds.",
                              "leak"},
    [HG_FINDING_LEAK] = {"heapgrow/leak", "Leak", "Memory still allocated at exit",
                         "Blocks still allocated when the process exited, from a trace without "
                         "the reachability classification (every such block counts).",
                         "leak"},
    [HG_FINDING_GROWTH] = {"heapgrow/growth", "Growth", "Live memory that keeps growing",
                           "A call site whose live bytes rise in a sustained way over the run "
                           "(docs/GROWTH.md). Reported with --fail-on-growth.",
                           "growth"},
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

/* ------------------------------------------------------------------------ */
/* URIs                                                                      */

int hg_sarif_path_uri(const char *path, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (path[0] == '/') {
        if (len < 8)
            return -ENAMETOOLONG;
        memcpy(buf, "file://", 7);
        o = 7;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        unsigned char c = *p;
        bool is_plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                        c == '/';
        if (o + (is_plain ? 1 : 3) >= len)
            return -ENAMETOOLONG;
        if (is_plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 0xf];
        }
    }
    buf[o] = '\0';
    return 0;
}

/* A directory's file: URI, ending with '/' as a base URI must (§3.14.14).
 * Returns 0 or -ENAMETOOLONG. */
static int dir_uri(const char *dir, char *buf, size_t len)
{
    int rc = hg_sarif_path_uri(dir, buf, len);
    if (rc != 0)
        return rc;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '/')
        return 0;
    if (n + 1 >= len)
        return -ENAMETOOLONG;
    buf[n] = '/';
    buf[n + 1] = '\0';
    return 0;
}

/* The part of the absolute path `file` below directory `base` (no trailing
 * '/', "/" for the root), or NULL when it is not below it. */
static const char *below(const char *file, const char *base)
{
    size_t n = strlen(base);
    if (n == 1 && base[0] == '/')
        n = 0;
    if (strncmp(file, base, n) != 0 || file[n] != '/' || file[n + 1] == '\0')
        return NULL;
    return file + n + 1;
}

/* artifactLocation of a source file: relative to %SRCROOT% when it lies
 * under base_dir (also once symbolic links are resolved), else an absolute
 * file: URI; a relative name (DWARF without a compilation directory) stays a
 * relative reference without base. */
static void write_artifact(hg_json_t *w, const char *file, const char *base_dir)
{
    char uri[PATH_MAX * 3 + 16];
    const char *rel = NULL;
    char real[PATH_MAX];
    if (file[0] == '/' && base_dir != NULL) {
        rel = below(file, base_dir);
        if (rel == NULL && realpath(file, real) != NULL)
            rel = below(real, base_dir);
    }
    hg_json_obj(w, "artifactLocation");
    if (hg_sarif_path_uri(rel != NULL ? rel : file, uri, sizeof(uri)) != 0)
        snprintf(uri, sizeof(uri), "%s", "file:///unknown");
    hg_json_str(w, "uri", uri);
    if (rel != NULL)
        hg_json_str(w, "uriBaseId", SRCROOT);
    hg_json_obj_end(w);
}

/* ------------------------------------------------------------------------ */
/* Frames and locations                                                      */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* Whether a frame has a source file that a URI can name: an absolute path.
 * (A relative one, DWARF without a compilation directory such as libc's
 * "../sysdeps/...", is relative to nothing known here.) */
static bool has_file(const hg_frame_info_t *fr)
{
    return fr->file != NULL && fr->file[0] == '/';
}

/* The frame a result is placed at: the site frame when it has a source file
 * and line, else the innermost frame of the site's first stack that has one
 * (a site in a library without debug information is shown at its caller in
 * the program). NULL: no frame has one. */
static const hg_frame_info_t *primary_frame(const hg_site_t *s)
{
    if (has_file(&s->frame) && s->frame.line != 0)
        return &s->frame;
    for (size_t i = 0; s->nstacks_shown > 0 && i < s->stacks[0].nframes; i++)
        if (has_file(&s->stacks[0].frames[i]) && s->stacks[0].frames[i].line != 0)
            return &s->stacks[0].frames[i];
    return NULL;
}

/* What a frame is called in messages: its function, module+0xoffset, or
 * "??" (as the stderr report). */
static void put_frame_name(FILE *f, const hg_frame_info_t *fr)
{
    if (fr->function != NULL)
        fputs(fr->function, f);
    else if (fr->module != NULL)
        fprintf(f, "%s+0x%" PRIx64, base_name(fr->module), fr->module_offset);
    else
        fputs("??", f);
}

static void write_logical(hg_json_t *w, const hg_frame_info_t *fr)
{
    if (fr->function == NULL)
        return;
    hg_json_arr(w, "logicalLocations", false);
    hg_json_obj(w, NULL);
    hg_json_str(w, "fullyQualifiedName", fr->function);
    hg_json_str(w, "kind", "function");
    hg_json_obj_end(w);
    hg_json_arr_end(w);
}

/* A location object's members for a frame: its source file and line, when
 * a URI can name the file, and its function. */
static void write_frame_location(hg_json_t *w, const hg_frame_info_t *fr, const char *base_dir)
{
    if (has_file(fr)) {
        hg_json_obj(w, "physicalLocation");
        write_artifact(w, fr->file, base_dir);
        if (fr->line != 0) {
            hg_json_obj(w, "region");
            hg_json_u64(w, "startLine", fr->line);
            hg_json_obj_end(w);
        }
        hg_json_obj_end(w);
    }
    write_logical(w, fr);
}

/* The result's location: see primary_frame. Without any source line, the
 * module file (a binary) stands for it, so that the result still has a
 * physical location; without a module, only the function. */
static void write_primary_location(hg_json_t *w, const hg_site_t *s, const char *base_dir)
{
    const hg_frame_info_t *fr = primary_frame(s);
    hg_json_arr(w, "locations", false);
    hg_json_obj(w, NULL);
    if (fr != NULL) {
        write_frame_location(w, fr, base_dir);
    } else {
        if (s->frame.module != NULL) {
            hg_json_obj(w, "physicalLocation");
            write_artifact(w, s->frame.module, base_dir);
            hg_json_obj_end(w);
        }
        write_logical(w, &s->frame);
    }
    hg_json_obj_end(w);
    hg_json_arr_end(w);
}

/* The allocation stacks that meet at the site, innermost frame first, as
 * SARIF stacks (§3.44): the same frames as the stderr report. */
static void write_stacks(hg_json_t *w, const hg_site_t *s, const char *base_dir)
{
    if (s->nstacks_shown == 0)
        return;
    hg_json_arr(w, "stacks", false);
    for (size_t k = 0; k < s->nstacks_shown && k < HG_SITE_TOP_STACKS; k++) {
        const hg_stack_view_t *sv = &s->stacks[k];
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (m != NULL) {
            fprintf(m, "Allocation stack %zu of %zu", k + 1, s->nstacks_total);
            fclose(m);
        }
        hg_json_obj(w, NULL);
        hg_json_obj(w, "message");
        hg_json_str(w, "text", text != NULL ? text : "Allocation stack");
        hg_json_obj_end(w);
        free(text);
        hg_json_arr(w, "frames", false);
        for (size_t i = 0; i < sv->nframes; i++) {
            const hg_frame_info_t *fr = &sv->frames[i];
            hg_json_obj(w, NULL);
            hg_json_obj(w, "location");
            write_frame_location(w, fr, base_dir);
            if (fr->function == NULL || (fr->file != NULL && !has_file(fr))) {
                /* What the location cannot say: the module offset of a
                 * frame without a function, a relative source name. */
                char *name = NULL;
                size_t nlen = 0;
                FILE *nf = open_memstream(&name, &nlen);
                if (nf != NULL) {
                    put_frame_name(nf, fr);
                    if (fr->file != NULL && !has_file(fr)) {
                        fprintf(nf, " %s", fr->file);
                        if (fr->line != 0)
                            fprintf(nf, ":%" PRIu32, fr->line);
                    }
                    fclose(nf);
                }
                hg_json_obj(w, "message");
                hg_json_str(w, "text", name != NULL ? name : "??");
                hg_json_obj_end(w);
                free(name);
            }
            hg_json_obj_end(w);
            if (fr->module != NULL)
                hg_json_str(w, "module", base_name(fr->module));
            hg_json_obj_end(w);
        }
        hg_json_arr_end(w);
        hg_json_obj_end(w);
    }
    hg_json_arr_end(w);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */

static void put_process(FILE *f, const hg_gate_finding_t *fd)
{
    const hg_model_t *m = fd->process;
    if (fd->is_descendant)
        fprintf(f, "descendant process %" PRIu64 " (child of %" PRIu64 ") %s", m->pid, m->ppid,
                m->exe != NULL ? m->exe : "?");
    else
        fprintf(f, "process %" PRIu64 " %s", m->pid, m->exe != NULL ? m->exe : "?");
}

/* The result's message: what, how much, from where, in which process. */
static char *message_text(const hg_gate_finding_t *fd)
{
    static const char *const heads[] = {
        [HG_FINDING_DEFINITE] = "Direct leak of",
        [HG_FINDING_INDIRECT] = "Indirect leak of",
        [HG_FINDING_POSSIBLE] = "Possible leak of",
        [HG_FINDING_REACHABLE] = "Still reachable:",
        [HG_FINDING_LEAK] = "Leak of",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    const hg_site_t *s = fd->site;
    if (fd->kind == HG_FINDING_GROWTH) {
        double c = s->growth.confidence;
        /* A sampled process's figures are estimates (the gate's text says so too). */
        fprintf(f,
                "%s of %.0f byte(s)/s (confidence %.0f%%, %.0f byte(s) gained) allocated "
                "from ",
                fd->process->sample_bytes != 0 ? "Estimated growth" : "Growth",
                s->growth.slope_bytes_per_s, isfinite(c) ? c * 100 : 0.0, s->growth.net_gain_bytes);
        put_frame_name(f, &s->frame);
    } else {
        fprintf(f, "%s %" PRId64 " byte(s) in %" PRId64 " object(s) allocated from ",
                heads[fd->kind], fd->leak.bytes, fd->leak.count);
        put_frame_name(f, &s->frame);
        if (fd->indirect.bytes > 0)
            fprintf(f,
                    ", and %" PRId64 " byte(s) in %" PRId64
                    " object(s) reachable only through them (indirect leak)",
                    fd->indirect.bytes, fd->indirect.count);
        if (fd->kind == HG_FINDING_LEAK)
            fputs(" (still allocated at exit; the trace has no reachability classification)", f);
    }
    fputs(", in ", f);
    put_process(f, fd);
    fputc('.', f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void write_result(hg_json_t *w, const hg_gate_finding_t *fd, const hg_sarif_run_t *run)
{
    const hg_site_t *s = fd->site;
    hg_json_obj(w, NULL);
    hg_json_str(w, "ruleId", rules[fd->kind].id);
    hg_json_u64(w, "ruleIndex", (uint64_t)fd->kind);
    /* Under --max-leak-bytes, sites can be listed while the gate passes. */
    hg_json_str(w, "level", run->res->is_failed ? "error" : "warning");
    hg_json_obj(w, "message");
    char *text = message_text(fd);
    hg_json_str(w, "text", text != NULL ? text : rules[fd->kind].short_text);
    free(text);
    hg_json_obj_end(w);
    write_primary_location(w, s, run->base_dir);
    write_stacks(w, s, run->base_dir);
    hg_json_obj(w, "properties");
    if (fd->kind == HG_FINDING_GROWTH) {
        hg_json_double(w, "slopeBytesPerSecond", s->growth.slope_bytes_per_s);
        hg_json_double(w, "confidence", s->growth.confidence);
        hg_json_double(w, "netGainBytes", s->growth.net_gain_bytes);
    } else {
        hg_json_i64(w, "bytes", fd->leak.bytes);
        hg_json_i64(w, "objects", fd->leak.count);
        if (fd->kind == HG_FINDING_DEFINITE) {
            hg_json_i64(w, "indirectBytes", fd->indirect.bytes);
            hg_json_i64(w, "indirectObjects", fd->indirect.count);
        }
    }
    hg_json_u64(w, "pid", fd->process->pid);
    hg_json_u64(w, "parentPid", fd->process->ppid);
    hg_json_str(w, "exe", fd->process->exe);
    hg_json_bool(w, "isDescendant", fd->is_descendant);
    hg_json_obj_end(w);
    hg_json_obj_end(w);
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */

static void write_driver(hg_json_t *w)
{
    hg_json_obj(w, "tool");
    hg_json_obj(w, "driver");
    hg_json_str(w, "name", "heapgrow");
    hg_json_str(w, "version", HG_VERSION);
    hg_json_str(w, "semanticVersion", HG_VERSION);
    if (HG_HOMEPAGE[0] != '\0')
        hg_json_str(w, "informationUri", HG_HOMEPAGE);
    hg_json_arr(w, "rules", false);
    for (size_t i = 0; i < NRULES; i++) {
        const struct rule *r = &rules[i];
        hg_json_obj(w, NULL);
        hg_json_str(w, "id", r->id);
        hg_json_str(w, "name", r->name);
        hg_json_obj(w, "shortDescription");
        hg_json_str(w, "text", r->short_text);
        hg_json_obj_end(w);
        hg_json_obj(w, "fullDescription");
        hg_json_str(w, "text", r->full_text);
        hg_json_obj_end(w);
        hg_json_obj(w, "defaultConfiguration");
        hg_json_str(w, "level", "error");
        hg_json_obj_end(w);
        hg_json_obj(w, "properties");
        hg_json_arr(w, "tags", true);
        hg_json_str(w, NULL, "memory");
        hg_json_str(w, NULL, r->tag);
        hg_json_arr_end(w);
        hg_json_obj_end(w);
        hg_json_obj_end(w);
    }
    hg_json_arr_end(w);
    hg_json_obj_end(w);
    hg_json_obj_end(w);
}

static void write_notification(hg_json_t *w, const char *level, const char *text)
{
    hg_json_obj(w, NULL);
    hg_json_str(w, "level", level);
    hg_json_obj(w, "message");
    hg_json_str(w, "text", text);
    hg_json_obj_end(w);
    hg_json_obj_end(w);
}

/* One notification about a process: `head` + the process + the printf tail. */
__attribute__((format(printf, 6, 7))) static void
write_process_note(hg_json_t *w, const char *level, const hg_model_t *m, bool is_descendant,
                   const char *head, const char *fmt, ...)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return;
    hg_gate_finding_t fd = {.process = m, .is_descendant = is_descendant};
    fputs(head, f);
    put_process(f, &fd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    write_notification(w, level, text != NULL ? text : head);
    free(text);
}

/* Notifications about one process: leaks unknown (no final live set) or not
 * checked (sampled), and its report's warnings. */
static void write_process_notes(hg_json_t *w, const hg_model_t *m, bool is_descendant)
{
    if (m->write_error != NULL)
        write_process_note(w, "error", m, is_descendant, "Leaks unknown for ",
                           ": its trace is incomplete (writing it failed: %s); the gate fails.",
                           m->write_error);
    else if (m->sample_bytes != 0)
        write_process_note(w, "note", m, is_descendant, "Leaks not checked for ",
                           ": it was sampled (one allocation per %" PRIu64
                           " bytes on average), so its growth is estimated and its leaks are "
                           "not gated.",
                           m->sample_bytes);
    else if (!m->has_final_live_set)
        write_process_note(w, "warning", m, is_descendant, "Leaks unknown for ", "%s",
                           ": it did not exit normally (killed by a signal, _exit or exec), so "
                           "the tracer wrote no final live set.");
    for (size_t i = 0; i < m->nwarnings; i++)
        write_notification(w, "warning", m->warnings[i]);
}

static void write_invocation(hg_json_t *w, const hg_sarif_run_t *run)
{
    hg_json_arr(w, "invocations", false);
    hg_json_obj(w, NULL);
    hg_json_bool(w, "executionSuccessful", run->error == NULL);
    hg_json_i64(w, "exitCode", run->exit_code);
    hg_json_arr(w, "arguments", false);
    for (int i = 0; i < run->argc; i++)
        hg_json_str(w, NULL, run->argv[i]);
    hg_json_arr_end(w);
    char uri[PATH_MAX * 3 + 16];
    if (run->base_dir != NULL && dir_uri(run->base_dir, uri, sizeof(uri)) == 0) {
        hg_json_obj(w, "workingDirectory");
        hg_json_str(w, "uri", uri);
        hg_json_obj_end(w);
    }
    hg_json_arr(w, "toolExecutionNotifications", false);
    if (run->error != NULL)
        write_notification(w, "error", run->error);
    if (run->in != NULL) {
        write_process_notes(w, run->in->main, false);
        for (size_t i = 0; i < run->in->nchildren; i++)
            write_process_notes(w, run->in->children[i], true);
        for (size_t i = 0; i < run->in->nwarnings; i++)
            write_notification(w, "warning", run->in->warnings[i]);
    }
    hg_json_arr_end(w);
    hg_json_obj_end(w);
    hg_json_arr_end(w);
}

int hg_sarif_write(FILE *out, const hg_sarif_run_t *run)
{
    hg_json_t w = {.f = out};
    hg_json_obj(&w, NULL);
    hg_json_str(&w, "$schema", SARIF_SCHEMA);
    hg_json_str(&w, "version", "2.1.0");
    hg_json_arr(&w, "runs", false);
    hg_json_obj(&w, NULL);
    write_driver(&w);
    char uri[PATH_MAX * 3 + 16];
    if (run->base_dir != NULL && dir_uri(run->base_dir, uri, sizeof(uri)) == 0) {
        hg_json_obj(&w, "originalUriBaseIds");
        hg_json_obj(&w, SRCROOT);
        hg_json_str(&w, "uri", uri);
        hg_json_obj_end(&w);
        hg_json_obj_end(&w);
    }
    write_invocation(&w, run);
    hg_json_arr(&w, "results", false);
    if (run->res != NULL)
        for (size_t i = 0; i < run->res->nfindings; i++)
            write_result(&w, &run->res->findings[i], run);
    hg_json_arr_end(&w);
    hg_json_obj_end(&w);
    hg_json_arr_end(&w);
    hg_json_obj_end(&w);
    fputc('\n', out);
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;
}
