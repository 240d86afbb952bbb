/*
 * clock.h - the one clock and deadline helper of every layer.
 *
 * Deadlines are absolute struct timespecs on CLOCK_MONOTONIC, which changes
 * of the wall clock do not move.  A function that waits takes a deadline,
 * not a duration, so that a loop of waits cannot add up to more than the
 * caller allowed.  Condition variables that wait for one are made with
 * clock_cond_init(), so that pthread_cond_timedwait() reads the same clock.
 */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC since an unspecified start. */
long long clock_now_ms(void);

/* *due = now + ms milliseconds (ms < 0 counts as 0). */
void clock_deadline_ms(struct timespec *due, long long ms);

/*
 * Milliseconds until due, rounded up, so that a poll() given it does not
 * wake before the deadline and spin; 0 once it has passed; -1 when due is
 * NULL (no deadline: poll()'s "wait for ever").  Never more than INT_MAX.
 */
int clock_ms_left(const struct timespec *due);

/* Milliseconds from start (a clock_deadline_ms(start, 0)) until now. */
long long clock_ms_since(const struct timespec *start);

/* 1 when due has passed, else 0. */
int clock_passed(const struct timespec *due);

/* The earlier of two deadlines, written to out. */
void clock_earlier(struct timespec *out, const struct timespec *a, const struct timespec *b);

/*
 * A condition variable whose timed waits read CLOCK_MONOTONIC, so that the
 * deadlines above can be handed to pthread_cond_timedwait().  Returns 0 or
 * the pthread error.
 */
int clock_cond_init(pthread_cond_t *cv);

#endif /* CORE_CLOCK_H */
