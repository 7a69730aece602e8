/*
 * The tracer's signal handlers and the interposed sigaction()/signal() family
 * (signals.c). The handlers end the trace when a signal kills the process;
 * the interposed functions keep them invisible, so that a program deciding
 * from the disposition it finds (CPython installs its SIGINT handler only over
 * SIG_DFL) behaves as it does untraced.
 */
#ifndef HEAPGROW_PRELOAD_SIGNALS_H
#define HEAPGROW_PRELOAD_SIGNALS_H

#include <stdbool.h>

/* Installs the handlers that end the trace on a signal whose disposition is
 * SIG_DFL now: faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP,
 * SIGSYS) and the terminating ones (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE,
 * SIGALRM, SIGUSR1, SIGUSR2, ...: signals.c). Called once by hg_core_init, guard held, after the writer
 * started (its dump signal, if one of these, stays the writer's). */
void hg_signals_install(void);

/* Installs fn for sig with sa_flags `flags` (empty mask) if sig's disposition
 * is SIG_DFL, and hides it from the program as the tracer's other handlers
 * are. For the writer's dump signal. Returns true when installed. */
bool hg_signals_install_handler(int sig, void (*fn)(int), int flags);

/* Ends the process with signo as its default action would: SIG_DFL, then
 * kill(getpid(), signo). For the writer, once it wrote the final records of
 * a signal whose handler could not wait for them
 * (hg_writer_signal_when_finished). */
void hg_signals_deliver(int signo);

#endif /* HEAPGROW_PRELOAD_SIGNALS_H */
