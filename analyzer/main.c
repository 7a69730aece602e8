/*
 * The `heapgrow` command: dispatch only. Each subcommand parses its own
 * options (launch.c: run, check; report.c: report). Exit statuses are listed
 * in docs/USAGE.md.
 */
#include <stdio.h>
#include <string.h>

#include "launch.h"
#include "report.h"

#ifndef HG_VERSION
#define HG_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fputs("usage: heapgrow run [options] -- PROGRAM [ARGS...]   run PROGRAM traced\n"
          "       heapgrow report [options] TRACE               what grows, what leaks\n"
          "       heapgrow check [options] -- PROGRAM [ARGS...] CI gate: fails on leaks\n"
          "       heapgrow --help | --version\n"
          "'heapgrow run|report|check --help' list the options;\n"
          "docs/USAGE.md has the details.\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return hg_launch_run_main(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return hg_report_main(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return hg_launch_check_main(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("heapgrow %s\n", HG_VERSION);
        return 0;
    }
    fprintf(stderr, "heapgrow: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
