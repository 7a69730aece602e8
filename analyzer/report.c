/*
 * The `report` subcommand: options, loading a trace and its descendants
 * (hg_model_load, family.h), and choosing the output (text or JSON, stdout or
 * -o OUT, which is never overwritten without --force). Formatting is in
 * report_text.c and report_json.c. Exit statuses: 0 done, 2 usage or input
 * error (docs/USAGE.md).
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "family.h"

bool hg_report_want_color(FILE *f)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(fileno(f)) && (nc == NULL || nc[0] == '\0');
}

/* Appends the comma-separated globs of csv to *v (strings are strdup'd into
 * *owned so they outlive csv). Returns 0 or -ENOMEM. */
static int add_csv(const char ***v, size_t *n, char ***owned, size_t *nowned, const char *csv)
{
    if (csv == NULL || csv[0] == '\0')
        return 0;
    char *copy = strdup(csv);
    char **o = realloc(*owned, (*nowned + 1) * sizeof(*o));
    if (copy == NULL || o == NULL) {
        free(copy);
        if (o != NULL)
            *owned = o;
        return -ENOMEM;
    }
    *owned = o;
    (*owned)[(*nowned)++] = copy;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0')
            continue;
        const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        *v = nv;
        (*v)[(*n)++] = tok;
    }
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    const hg_model_t *x = *(hg_model_t *const *)a, *y = *(hg_model_t *const *)b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->start_real_ns < y->start_real_ns ? -1 : x->start_real_ns > y->start_real_ns;
}

static int load_one(const char *path, const hg_report_load_opts_t *lo, hg_model_t **out, char *err,
                    size_t errlen)
{
    const char **v = NULL;
    size_t n = 0, nowned = 0;
    char **owned = NULL;
    hg_trace_header_t h = {0};
    int rc = 0;
    for (size_t i = 0; i < lo->nwrappers; i++) {
        const char **nv = realloc(v, (n + 1) * sizeof(*nv));
        if (nv == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        v = nv;
        v[n++] = lo->wrappers[i];
    }
    /* The recorded setting too (model.c may apply it as well: duplicates are
     * harmless). A header that cannot be peeked is left to hg_model_load to
     * describe. */
    if (hg_family_peek(path, &h) == 0 && (rc = add_csv(&v, &n, &owned, &nowned, h.wrappers)) != 0)
        goto out;
    if ((rc = add_csv(&v, &n, &owned, &nowned, getenv("HEAPGROW_WRAPPERS"))) != 0)
        goto out;
    hg_model_opts_t mo = {.group_by = lo->group_by,
                          .wrappers = v,
                          .nwrappers = n,
                          .growth = hg_growth_default_params(),
                          .detail_top = lo->detail_top};
    rc = hg_model_load(path, &mo, out, err, errlen);
out:
    if (rc == -ENOMEM && err[0] == '\0')
        snprintf(err, errlen, "%s", strerror(ENOMEM));
    free(h.wrappers);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(v);
    return rc;
}

int hg_report_load(const char *path, const hg_report_load_opts_t *lo, hg_report_set_t *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    int rc = load_one(path, lo, &out->main, err, errlen);
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "%s", rc > -HG_EFORMAT ? strerror(-rc) : "not a readable trace");
        out->main = NULL;
        return rc;
    }
    if (lo->is_no_children)
        return 0;
    hg_family_t fam;
    if (hg_family_find(path, &fam) != 0)
        return 0; /* the main trace is there; no descendants found */
    out->children = calloc(fam.n + 1, sizeof(*out->children));
    out->warnings = calloc(fam.n + 1, sizeof(*out->warnings));
    if (out->children == NULL || out->warnings == NULL) {
        hg_family_free(&fam);
        return 0;
    }
    for (size_t i = 0; i < fam.n; i++) {
        char cerr[512] = "";
        hg_model_t *m = NULL;
        int crc = load_one(fam.paths[i], lo, &m, cerr, sizeof(cerr));
        if (crc == 0) {
            out->children[out->nchildren++] = m;
        } else {
            char *w = NULL;
            if (asprintf(&w, "%s: %s", fam.paths[i],
                         cerr[0] != '\0' ? cerr : strerror(crc > -HG_EFORMAT ? -crc : EINVAL)) >= 0)
                out->warnings[out->nwarnings++] = w;
        }
    }
    qsort(out->children, out->nchildren, sizeof(*out->children), cmp_pid);
    hg_family_free(&fam);
    return 0;
}

void hg_report_set_free(hg_report_set_t *set)
{
    if (set->main != NULL)
        hg_model_free(set->main);
    for (size_t i = 0; i < set->nchildren; i++)
        hg_model_free(set->children[i]);
    for (size_t i = 0; i < set->nwarnings; i++)
        free(set->warnings[i]);
    free(set->children);
    free(set->warnings);
    memset(set, 0, sizeof(*set));
}

static void usage(FILE *f)
{
    fputs("usage: heapgrow report [--format text|json] [--top N] [-o OUT] [--force]\n"
          "                       [--group-by site|function|stack] [--wrapper GLOB]...\n"
          "                       [--no-children] TRACE\n",
          f);
}

int hg_report_main(int argc, char **argv)
{
    enum { OPT_FORMAT = 256, OPT_TOP, OPT_FORCE, OPT_GROUP_BY, OPT_WRAPPER, OPT_NO_CHILDREN };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"top", required_argument, NULL, OPT_TOP},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"group-by", required_argument, NULL, OPT_GROUP_BY},
        {"wrapper", required_argument, NULL, OPT_WRAPPER},
        {"no-children", no_argument, NULL, OPT_NO_CHILDREN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool is_json = false, is_force = false, has_top = false;
    const char *outpath = NULL;
    hg_report_load_opts_t lo = {0};
    const char **wrappers = NULL;
    size_t top = HG_REPORT_DEFAULT_TOP;
    int rc = 2, c;
    hg_report_set_t set = {0};
    FILE *out = stdout;
    char *tmp = NULL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0)
                is_json = true;
            else if (strcmp(optarg, "text") == 0)
                is_json = false;
            else {
                fprintf(stderr, "heapgrow: --format: 'text' or 'json', not '%s'\n", optarg);
                goto out;
            }
            break;
        case OPT_TOP: {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0) {
                fprintf(stderr, "heapgrow: --top: expected a number, got '%s'\n", optarg);
                goto out;
            }
            top = v;
            has_top = true;
            break;
        }
        case 'o':
            outpath = optarg;
            break;
        case OPT_FORCE:
            is_force = true;
            break;
        case OPT_GROUP_BY:
            if (strcmp(optarg, "site") == 0)
                lo.group_by = HG_GROUP_SITE;
            else if (strcmp(optarg, "function") == 0)
                lo.group_by = HG_GROUP_FUNCTION;
            else if (strcmp(optarg, "stack") == 0)
                lo.group_by = HG_GROUP_STACK;
            else {
                fprintf(stderr, "heapgrow: --group-by: site, function or stack, not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case OPT_WRAPPER: {
            const char **nv = realloc(wrappers, (lo.nwrappers + 1) * sizeof(*nv));
            if (nv == NULL)
                goto out;
            wrappers = nv;
            wrappers[lo.nwrappers++] = optarg;
            break;
        }
        case OPT_NO_CHILDREN:
            lo.is_no_children = true;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "heapgrow: report: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    lo.wrappers = wrappers;
    if (argc - optind != 1) {
        fprintf(stderr, "heapgrow: report: %s\n",
                argc - optind == 0 ? "no trace given" : "one trace at a time");
        usage(stderr);
        goto out;
    }
    const char *path = argv[optind];

    /* Refuse an existing OUT before doing any work. */
    if (outpath != NULL && !is_force && access(outpath, F_OK) == 0) {
        fprintf(stderr, "heapgrow: %s exists; not overwriting it (use --force)\n", outpath);
        goto out;
    }

    /* The sites the report will show are the only ones whose stacks and
     * series are built (hg_model_opts_t.detail_top). */
    if (is_json && !has_top)
        top = HG_REPORT_JSON_DEFAULT_TOP;
    lo.detail_top = top;
    char err[512];
    if (hg_report_load(path, &lo, &set, err, sizeof(err)) != 0) {
        fprintf(stderr, "heapgrow: %s: %s\n", path, err);
        goto out;
    }

    /* -o OUT: written to OUT.tmp.<pid> then renamed, so that a failed
     * report never leaves half a file under OUT's name. */
    if (outpath != NULL) {
        if (asprintf(&tmp, "%s.tmp.%ld", outpath, (long)getpid()) < 0) {
            tmp = NULL;
            goto out;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
            fprintf(stderr, "heapgrow: %s: %s\n", outpath, strerror(errno));
            if (fd >= 0)
                close(fd);
            out = stdout;
            free(tmp);
            tmp = NULL;
            goto out;
        }
    }
    hg_report_input_t in = {.main = set.main,
                            .children = (const hg_model_t *const *)set.children,
                            .nchildren = set.nchildren,
                            .warnings = (const char *const *)set.warnings,
                            .nwarnings = set.nwarnings};
    hg_report_opts_t ro = {
        .top = top, .group_by = lo.group_by, .is_color = !is_json && hg_report_want_color(out)};
    int wrc = is_json ? hg_report_json(out, &in, &ro) : hg_report_text(out, &in, &ro);
    if (out != stdout) {
        if (fclose(out) != 0)
            wrc = -EIO;
        out = stdout;
        if (wrc == 0 && rename(tmp, outpath) != 0)
            wrc = -errno;
        if (wrc != 0)
            unlink(tmp);
    }
    if (wrc != 0) {
        fprintf(stderr, "heapgrow: %s: %s\n", outpath != NULL ? outpath : "stdout", strerror(-wrc));
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(wrappers);
    hg_report_set_free(&set);
    return rc;
}
