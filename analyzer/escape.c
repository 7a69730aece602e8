/*
 * Terminal-safe text (escape.h): a small UTF-8 checker that keeps printable
 * characters and spells everything else as \xNN. Pure, no allocation.
 */
#include "escape.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4) whose code point is not a
 * control character, or 0 when p starts something to escape. RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t printable_len(const unsigned char *p)
{
    unsigned char b = p[0];
    if (b < 0x80)
        return b >= 0x20 && b != 0x7f && b != '\\' ? 1 : 0;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        if (b == 0xc2)
            lo = 0xa0; /* U+0080..U+009F are the C1 controls */
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0; /* also stops at the NUL */
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* The next piece of output for s: either `*raw` bytes of s as they are, or an
 * escape in esc (NUL-terminated). Returns the bytes of s consumed. */
static size_t next_piece(const unsigned char *s, size_t *raw, char esc[8])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = printable_len(s);
    if (n > 0) {
        *raw = n;
        return n;
    }
    *raw = 0;
    if (s[0] == '\\') {
        memcpy(esc, "\\\\", 3);
    } else {
        esc[0] = '\\';
        esc[1] = 'x';
        esc[2] = hex[s[0] >> 4];
        esc[3] = hex[s[0] & 0xf];
        esc[4] = '\0';
    }
    return 1;
}

void hg_escape_put(FILE *f, const char *s)
{
    if (s == NULL)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        /* Runs of printable bytes in one write. */
        const unsigned char *run = p;
        size_t raw;
        char esc[8];
        size_t used;
        while (*p != '\0' && (used = next_piece(p, &raw, esc), raw > 0))
            p += used;
        if (p > run)
            fwrite(run, 1, (size_t)(p - run), f);
        if (*p == '\0')
            break;
        used = next_piece(p, &raw, esc);
        fputs(esc, f);
        p += used;
    }
}

char *hg_escape_str(const char *s, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    while (*p != '\0') {
        size_t raw;
        char esc[8];
        size_t used = next_piece(p, &raw, esc);
        const char *piece = raw > 0 ? (const char *)p : esc;
        size_t k = raw > 0 ? raw : strlen(esc);
        if (o + k > len - 1)
            break;
        memcpy(buf + o, piece, k);
        o += k;
        p += used;
    }
    buf[o] = '\0';
    return buf;
}
