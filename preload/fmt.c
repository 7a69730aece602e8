/*
 * Number and string formatting into caller buffers (see fmt.h). Pure: no
 * syscalls, no globals.
 */
#include "fmt.h"

void hg_fmt_init(hg_fmt_t *f, char *buf, size_t cap)
{
    f->buf = buf;
    f->len = 0;
    f->cap = cap;
    f->is_truncated = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

void hg_fmt_strn(hg_fmt_t *f, const char *s, size_t n)
{
    if (f->cap == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (f->len + 1 >= f->cap) {
            f->is_truncated = true;
            break;
        }
        f->buf[f->len++] = s[i];
    }
    f->buf[f->len] = '\0';
}

void hg_fmt_str(hg_fmt_t *f, const char *s)
{
    size_t n = 0;
    if (s == NULL)
        s = "(null)";
    while (s[n] != '\0')
        n++;
    hg_fmt_strn(f, s, n);
}

void hg_fmt_char(hg_fmt_t *f, char c)
{
    hg_fmt_strn(f, &c, 1);
}

size_t hg_fmt_u64_raw(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

void hg_fmt_u64(hg_fmt_t *f, uint64_t v)
{
    char digits[20];
    size_t n = hg_fmt_u64_raw(digits, v);
    hg_fmt_strn(f, digits, n);
}

void hg_fmt_i64(hg_fmt_t *f, int64_t v)
{
    if (v < 0) {
        hg_fmt_char(f, '-');
        /* Negate in unsigned arithmetic: INT64_MIN has no positive twin. */
        hg_fmt_u64(f, (uint64_t)0 - (uint64_t)v);
    } else {
        hg_fmt_u64(f, (uint64_t)v);
    }
}

void hg_fmt_hex(hg_fmt_t *f, uint64_t v)
{
    static const char xdigits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = xdigits[v & 15u];
        v >>= 4;
    } while (v != 0);
    hg_fmt_strn(f, "0x", 2);
    while (n > 0)
        hg_fmt_char(f, tmp[--n]);
}

size_t hg_fmt_len(const hg_fmt_t *f)
{
    return f->len;
}
