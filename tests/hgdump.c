/*
 * hgdump: prints every record of a trace as one text line, for tests and
 * debugging (other engineers' end-to-end tests grep its output). It uses the
 * analyzer's reader, so what it prints is exactly what the analyzer sees.
 *
 *   hgdump TRACE
 *
 * Exit status: 0 for a readable trace (ending early included: the last line is
 * then "ENDED_EARLY ..."), 2 with "hgdump: TRACE: <message>" on stderr for a
 * corrupt one (after the lines of the records before the error).
 */
#include <stdio.h>

#include "reader.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hgdump TRACE\n");
        return 2;
    }
    char err[512];
    int rc = hg_reader_dump(argv[1], stdout, err, sizeof(err));
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "hgdump: %s: %s\n", argv[1], err);
        return 2;
    }
    return 0;
}
