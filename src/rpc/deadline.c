#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "rpc/deadline.h"

struct deadline_slot {
	const void *key;	/* NULL: slot free */
	int fd;
	int armed;		/* 0: no deadline for now */
	struct timespec due;
};

struct rpc_deadlines {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* CLOCK_MONOTONIC */
	pthread_t thread;
	int started, stop;
	struct deadline_slot *slots;
	size_t nslots;
};

/* Under d->lock. */
static struct deadline_slot *
slot_of(struct rpc_deadlines *d, const void *key)
{
	size_t i;

	for (i = 0; i < d->nslots; i++)
		if (d->slots[i].key == key)
			return &d->slots[i];
	return NULL;
}

static void *
watchdog(void *arg)
{
	struct rpc_deadlines *d = arg;
	struct timespec wake;
	size_t i;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		for (i = 0; i < d->nslots; i++) {
			if (d->slots[i].key == NULL || !d->slots[i].armed ||
			    clock_ms_left(&d->slots[i].due) > 0)
				continue;
			d->slots[i].armed = 0;
			shutdown(d->slots[i].fd, SHUT_RDWR);
		}
		clock_deadline_ms(&wake, RPC_DEADLINE_TICK_MS);
		pthread_cond_timedwait(&d->wake, &d->lock, &wake);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int
rpc_deadlines_start(size_t capacity, struct rpc_deadlines **outp)
{
	struct rpc_deadlines *d;
	int r;

	*outp = NULL;
	if (capacity == 0)
		return ERR_INVALID_ARGUMENT;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ERR_NOMEM;
	pthread_mutex_init(&d->lock, NULL);
	clock_cond_init(&d->wake);
	r = ERR_NOMEM;
	if ((d->slots = calloc(capacity, sizeof(*d->slots))) == NULL)
		goto out;
	d->nslots = capacity;
	if (pthread_create(&d->thread, NULL, watchdog, d) != 0)
		goto out;
	d->started = 1;
	*outp = d;
	d = NULL;
	r = 0;
 out:
	rpc_deadlines_stop(d);
	return r;
}

int
rpc_deadlines_add(struct rpc_deadlines *d, const void *key, int fd, unsigned seconds)
{
	struct deadline_slot *s;
	int r = ERR_TOO_MANY;

	pthread_mutex_lock(&d->lock);
	if ((s = slot_of(d, NULL)) != NULL) {
		s->key = key;
		s->fd = fd;
		s->armed = 1;
		clock_deadline_ms(&s->due, (long long)seconds * 1000);
		r = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void
rpc_deadlines_set(struct rpc_deadlines *d, const void *key, unsigned seconds)
{
	struct deadline_slot *s;

	pthread_mutex_lock(&d->lock);
	if (key != NULL && (s = slot_of(d, key)) != NULL) {
		s->armed = seconds > 0;
		if (seconds > 0)
			clock_deadline_ms(&s->due, (long long)seconds * 1000);
	}
	pthread_mutex_unlock(&d->lock);
}

void
rpc_deadlines_remove(struct rpc_deadlines *d, const void *key)
{
	struct deadline_slot *s;

	pthread_mutex_lock(&d->lock);
	if (key != NULL && (s = slot_of(d, key)) != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&d->lock);
}

void
rpc_deadlines_stop(struct rpc_deadlines *d)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->stop = 1;
		pthread_cond_signal(&d->wake);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	free(d->slots);
	free(d);
}
