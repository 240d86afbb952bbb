#include <limits.h>
#include <pthread.h>
#include <time.h>

#include "core/clock.h"

long long
clock_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void
clock_deadline_ms(struct timespec *due, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, due);
	if (ms <= 0)
		return;
	due->tv_sec += (time_t)(ms / 1000);
	due->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (due->tv_nsec >= 1000000000L) {
		due->tv_sec++;
		due->tv_nsec -= 1000000000L;
	}
}

/* a - b in nanoseconds (both on CLOCK_MONOTONIC, so no overflow in practice). */
static long long
diff_ns(const struct timespec *a, const struct timespec *b)
{
	return (long long)(a->tv_sec - b->tv_sec) * 1000000000LL + (a->tv_nsec - b->tv_nsec);
}

int
clock_ms_left(const struct timespec *due)
{
	struct timespec now;
	long long ns, ms;

	if (due == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = diff_ns(due, &now);
	if (ns <= 0)
		return 0;
	ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

long long
clock_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return diff_ns(&now, start) / 1000000;
}

int
clock_passed(const struct timespec *due)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return diff_ns(due, &now) <= 0;
}

void
clock_earlier(struct timespec *out, const struct timespec *a, const struct timespec *b)
{
	*out = diff_ns(a, b) <= 0 ? *a : *b;
}

int
clock_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int e;

	if ((e = pthread_condattr_init(&attr)) != 0)
		return e;
	if ((e = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
		e = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return e;
}
