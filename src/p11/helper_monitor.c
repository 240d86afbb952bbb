/*
 * helper_monitor.c - the token helper's monitor: it waits for slot events
 * (and USB hotplug, where libusb has it), rescans, and sends PROTO_EVENT
 * for what changed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "eth/keccak.h"
#include "p11/helper_int.h"

/* ---- the monitor: slot events, rescans, PROTO_EVENT ---- */

void
helper_snap_free(struct snap *s)
{
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

int
helper_snap_take(struct helper *h, struct snap *s)
{
	struct p11_token_info *toks = NULL;
	struct p11_key *keys = NULL;
	size_t ntoks = 0, nkeys = 0, i, k;
	char slot_uri[SLOT_URI_SZ];
	uint8_t d[32];
	int r;

	s->t = NULL;
	s->n = 0;
	if ((r = p11_token_list_tokens(h->m, &toks, &ntoks)) != 0 ||
	    (r = p11_token_list_keys(h->m, &keys, &nkeys)) != 0)
		goto out;
	if ((s->t = calloc(ntoks + 1, sizeof(*s->t))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ntoks; i++) {
		struct snap_tok *st = &s->t[i];

		st->token = toks[i].token;
		st->present = toks[i].present;
		st->logged_in = toks[i].present && (toks[i].pin_state & P11_PIN_LOGGED_IN);
		st->slot = toks[i].slot;
		snprintf(st->uri, sizeof(st->uri), "%s", helper_token_uri(&toks[i], slot_uri));
		helper_printable(st->label, toks[i].label);
		for (k = 0; st->present && k < nkeys; k++) {
			struct eth_keccak kc;
			size_t b;

			if (keys[k].token != st->token)
				continue;
			eth_keccak_init(&kc);
			eth_keccak_update(&kc, keys[k].address, 20);
			eth_keccak_update(&kc, keys[k].uri, strlen(keys[k].uri));
			eth_keccak_final(&kc, d);
			for (b = 0; b < sizeof(d); b++)
				st->keys_digest[b] ^= d[b];
			st->nkeys++;
		}
	}
	s->n = ntoks;
	r = 0;
 out:
	free(toks);
	p11_token_keys_free(keys, nkeys);
	return r;
}

static void
send_event(struct helper *h, uint8_t kind, const struct snap_tok *t)
{
	static const char *const what[] = { "", "inserted", "removed", "keys changed" };
	struct proto_msg m;

	helper_log(h, "token \"%s\" (slot %llu): %s", t->label, (unsigned long long)t->slot, what[kind]);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_EVENT;
	m.id = 0;
	m.event.kind = kind;
	m.event.slot_id = t->slot;
	m.event.token_uri = t->uri;
	helper_send(h, &m);
}

/* Events for what changed from a to b. */
static void
snap_diff(struct helper *h, const struct snap *a, const struct snap *b)
{
	const struct snap_tok *old, *now;
	size_t i, k;

	for (i = 0; i < b->n; i++) {
		now = &b->t[i];
		for (old = NULL, k = 0; k < a->n && old == NULL; k++)
			if (a->t[k].token == now->token)
				old = &a->t[k];
		if (old == NULL || !old->present) {
			if (now->present)
				send_event(h, PROTO_EVENT_TOKEN_INSERTED, now);
		} else if (!now->present) {
			send_event(h, PROTO_EVENT_TOKEN_REMOVED, old);
		} else if (old->nkeys != now->nkeys ||
		    memcmp(old->keys_digest, now->keys_digest, sizeof(now->keys_digest)) != 0 ||
		    (old->logged_in && !now->logged_in)) {
			/* A login lost (a reset, or out and in between two scans) hides keys too. */
			send_event(h, PROTO_EVENT_KEYS_CHANGED, now);
		}
	}
}


void
helper_mon_kick(struct helper *h)
{
	pthread_mutex_lock(&h->mon_lock);
	h->kick = 1;
	pthread_cond_signal(&h->mon_cv);
	pthread_mutex_unlock(&h->mon_lock);
}

void *
helper_mon_main(void *arg)
{
	struct helper *h = arg;
	struct timespec until;
	struct snap cur;
	long long next;
	int events = 1, scan, r, last_err = 0;

	next = clock_now_ms() + h->poll_ms;
	for (;;) {
		scan = 0;
		if (events) {
			r = p11_token_wait_event(h->m, MON_TICK_MS);
			if (r == 0)
				scan = 1;
			else if (r != ERR_TIMEOUT) {
				events = 0;
				if (r != ERR_P11_CLOSED)
					helper_log(h, "%s: rescanning every %d ms", err_str(r),
					    h->poll_ms);
				next = clock_now_ms() + h->poll_ms;
			}
		}
		pthread_mutex_lock(&h->mon_lock);
		if (!events && !h->kick && !h->mon_stop) {
			clock_deadline_ms(&until, MON_TICK_MS);
			pthread_cond_timedwait(&h->mon_cv, &h->mon_lock, &until);
		}
		if (h->mon_stop) {
			pthread_mutex_unlock(&h->mon_lock);
			break;
		}
		if (h->kick)
			scan = 1;
		h->kick = 0;
		pthread_mutex_unlock(&h->mon_lock);
		if (!scan && clock_now_ms() < next)
			continue;

		if ((r = p11_token_rescan(h->m)) != 0 && r != last_err)
			helper_log(h, "cannot rescan the slots: %s", err_str(r));
		last_err = r;
		if (helper_snap_take(h, &cur) == 0) {
			snap_diff(h, &h->snap, &cur);
			helper_snap_free(&h->snap);
			h->snap = cur;
		}
		next = clock_now_ms() + (events ? h->event_poll_ms : h->poll_ms);
	}
	return NULL;
}


/*
 * USB hotplug (libusb): a device arriving or leaving asks the monitor for a
 * rescan at once.  The middle tier between C_WaitForSlotEvent (a module that
 * has it tells us itself) and polling (which stays, at its interval, for
 * tokens that are not USB devices).
 */
static int LIBUSB_CALL
usb_changed(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev, void *arg)
{
	(void)ctx;
	(void)dev;
	(void)ev;
	helper_mon_kick(arg);
	return 0;	/* stay registered */
}

static void *
usb_main(void *arg)
{
	struct helper *h = arg;
	struct timeval tv;
	int stop;

	for (;;) {
		pthread_mutex_lock(&h->mon_lock);
		stop = h->mon_stop;
		pthread_mutex_unlock(&h->mon_lock);
		if (stop)
			break;
		tv.tv_sec = 0;
		tv.tv_usec = MON_TICK_MS * 1000;
		libusb_handle_events_timeout_completed(h->usb, &tv, NULL);
	}
	return NULL;
}

/* Start USB hotplug notifications if this system has them; 1 when on. */
int
helper_usb_start(struct helper *h)
{
	if (libusb_init(&h->usb) != 0) {
		h->usb = NULL;
		return 0;
	}
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) ||
	    libusb_hotplug_register_callback(h->usb, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
	    LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0, LIBUSB_HOTPLUG_MATCH_ANY,
	    LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, usb_changed, h,
	    &h->usb_cb) != LIBUSB_SUCCESS) {
		libusb_exit(h->usb);
		h->usb = NULL;
		return 0;
	}
	if (helper_thread_start(&h->usb_thread, usb_main, h) != 0) {
		libusb_hotplug_deregister_callback(h->usb, h->usb_cb);
		libusb_exit(h->usb);
		h->usb = NULL;
		return 0;
	}
	h->usb_started = 1;
	return 1;
}
