/*
 * Text from a trace, made safe for a terminal. Program names, arguments,
 * module paths and function names in a trace come from the traced program (or
 * from whoever wrote the file): printed raw, an ESC in a file name would drive
 * the terminal of the person reading the report. Every string of trace origin
 * that the text outputs (report_text.c, the gate's LSan-shaped lines, the
 * launcher's notes) goes through here. The JSON report escapes on its own.
 *
 * The escaped form: valid UTF-8 other than control characters is kept as is;
 * C0 controls, DEL, the C1 controls U+0080..U+009F (encoded) and every byte
 * that is not part of valid UTF-8 are written as \xNN per byte, and a
 * backslash as \\, so the output is unambiguous.
 */
#ifndef HEAPGROW_ANALYZER_ESCAPE_H
#define HEAPGROW_ANALYZER_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Writes the escaped form of s to f (nothing for NULL). */
void hg_escape_put(FILE *f, const char *s);

/* The escaped form of s in buf, NUL-terminated, cut before an escape or a
 * character that would not fit in len - 1 bytes ("" for NULL). Returns buf. */
char *hg_escape_str(const char *s, char *buf, size_t len);

#endif /* HEAPGROW_ANALYZER_ESCAPE_H */
