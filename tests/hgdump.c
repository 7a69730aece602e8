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
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "reader.h"

static void print_record(const hg_record_t *rec)
{
    switch (rec->tag) {
    case HG_REC_HEADER:
        printf("HEADER pid=%" PRIu64 " ppid=%" PRIu64 " start_real_ns=%" PRIu64
               " start_mono_ns=%" PRIu64 " exe=%s argc=%zu",
               rec->u.header.pid, rec->u.header.ppid, rec->u.header.start_real_ns,
               rec->u.header.start_mono_ns, rec->u.header.exe, rec->u.header.argc);
        for (size_t i = 0; i < rec->u.header.argc; i++)
            printf(" arg%zu=%s", i, rec->u.header.argv[i]);
        printf(" interval_ms=%" PRIu64 " max_frames=%" PRIu64 " sample_bytes=%" PRIu64
               " unwinder=%" PRIu64 " wrappers=%s dump_signal=%" PRIu64 " flags=%" PRIu64 "\n",
               rec->u.header.interval_ms, rec->u.header.max_frames, rec->u.header.sample_bytes,
               rec->u.header.unwinder, rec->u.header.wrappers, rec->u.header.dump_signal,
               rec->u.header.flags);
        break;
    case HG_REC_MODULE_LOAD:
        printf("MODULE_LOAD id=%" PRIu32 " t=%" PRIu64 " bias=0x%" PRIx64 " start=0x%" PRIx64
               " end=0x%" PRIx64 " path=%s build_id=",
               rec->u.module_load.module_id, rec->u.module_load.time_ns,
               rec->u.module_load.load_bias, rec->u.module_load.start, rec->u.module_load.end,
               rec->u.module_load.path);
        for (size_t i = 0; i < rec->u.module_load.build_id_len; i++)
            printf("%02x", rec->u.module_load.build_id[i]);
        printf("\n");
        break;
    case HG_REC_MODULE_UNLOAD:
        printf("MODULE_UNLOAD id=%" PRIu32 " t=%" PRIu64 "\n", rec->u.module_unload.module_id,
               rec->u.module_unload.time_ns);
        break;
    case HG_REC_STACK:
        printf("STACK id=%" PRIu32 " frames=", rec->u.stack.stack_id);
        for (size_t i = 0; i < rec->u.stack.nframes; i++)
            printf("%s0x%" PRIx64, i ? "," : "", rec->u.stack.frames[i]);
        printf("\n");
        break;
    case HG_REC_SNAPSHOT:
        printf("SNAPSHOT t=%" PRIu64 " rss=%" PRIu64 " alloc_count=%" PRIu64 " alloc_bytes=%" PRIu64
               " free_count=%" PRIu64 " free_bytes=%" PRIu64 " live_bytes=%" PRIu64
               " live_count=%" PRIu64 " peak_live_bytes=%" PRIu64 " dropped=%" PRIu64
               " stacks=%zu [",
               rec->u.snapshot.time_ns, rec->u.snapshot.rss_bytes, rec->u.snapshot.alloc_count,
               rec->u.snapshot.alloc_bytes, rec->u.snapshot.free_count, rec->u.snapshot.free_bytes,
               rec->u.snapshot.live_bytes, rec->u.snapshot.live_count,
               rec->u.snapshot.peak_live_bytes, rec->u.snapshot.dropped_count, rec->u.snapshot.n);
        for (size_t i = 0; i < rec->u.snapshot.n; i++) {
            const hg_rec_counter_t *k = &rec->u.snapshot.counters[i];
            printf("%s%" PRIu32 ":%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, i ? " " : "",
                   k->stack_id, k->live_bytes, k->live_count, k->alloc_count, k->alloc_bytes);
        }
        printf("]\n");
        break;
    case HG_REC_LIVE_BEGIN:
        printf("LIVE_BEGIN t=%" PRIu64 " reason=%" PRIu64 " count=%" PRIu64 "\n",
               rec->u.live_begin.time_ns, rec->u.live_begin.reason, rec->u.live_begin.count);
        break;
    case HG_REC_LIVE_CHUNK:
        printf("LIVE_CHUNK n=%zu\n", rec->u.live_chunk.n);
        for (size_t i = 0; i < rec->u.live_chunk.n; i++) {
            const hg_rec_live_t *e = &rec->u.live_chunk.entries[i];
            printf("LIVE id=%" PRIu32 " size=%" PRIu64 " addr=0x%" PRIx64 " t_ms=%" PRIu64 "\n",
                   e->stack_id, e->size, e->address, e->alloc_time_ms);
        }
        break;
    case HG_REC_LIVE_END:
        printf("LIVE_END count=%" PRIu64 "\n", rec->u.live_end.count);
        break;
    case HG_REC_END: {
        static const char *const reasons[] = {"exit", "_exit", "signal", "exec"};
        const char *reason = rec->u.end.reason < 4 ? reasons[rec->u.end.reason] : "?";
        printf("END t=%" PRIu64 " reason=%s status=%" PRId64 "\n", rec->u.end.time_ns, reason,
               rec->u.end.status);
        break;
    }
    case HG_REC_WARNING:
        printf("WARNING t=%" PRIu64 " code=%" PRIu64 " message=%s\n", rec->u.warning.time_ns,
               rec->u.warning.code, rec->u.warning.message);
        break;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hgdump TRACE\n");
        return 2;
    }
    hg_reader_t *r;
    int rc = hg_reader_open(argv[1], &r);
    if (rc < 0) {
        fprintf(stderr, "hgdump: %s: %s\n", argv[1], strerror(-rc));
        return 2;
    }
    hg_record_t rec;
    while ((rc = hg_reader_next(r, &rec)) > 0)
        print_record(&rec);
    int status = 0;
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "hgdump: %s: %s\n", argv[1], hg_reader_error(r));
        status = 2;
    } else if (hg_reader_ended_early(r)) {
        printf("ENDED_EARLY offset=%" PRIu64 "%s\n", hg_reader_offset(r),
               hg_reader_is_gzip_truncated(r) ? " gzip_truncated" : "");
    } else if (hg_reader_has_trailing_bytes(r)) {
        printf("TRAILING_BYTES\n");
    }
    hg_reader_close(r);
    return status;
}
