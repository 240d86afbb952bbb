/*
 * helper_int.h - what the pieces of the token helper share (helper.c,
 * helper_workers.c, helper_requests.c, helper_monitor.c); nothing else
 * includes it.
 * The functions below are grouped by the file that defines them; each one's
 * contract is the comment above its definition there.
 */
#ifndef P11_HELPER_INT_H
#define P11_HELPER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libusb.h>

#include "core/limits.h"
#include "p11/proto.h"
#include "p11/token.h"

#define TEXT_SZ		(LIMIT_PROTO_TEXT + 1)
#define SLOT_URI_SZ	48		/* "pkcs11:slot-id=" and a 64-bit number */
#define MON_TICK_MS	250		/* the monitor looks at its flags this often */
#define MEMO_SLOTS	16		/* tokens whose last failure is remembered */
#define MEMO_MS		60000		/* the same failure is logged again after this */

enum job_state { JOB_FREE, JOB_RUNNING };

struct job {
	enum job_state state;
	uint32_t id;
	/*
	 * Owned; NULL once its PIN is out of it.  As decoded: well formed, but
	 * its handles, token numbers and URIs are checked by the request that
	 * runs it (helper_requests.c).
	 */
	struct proto_msg *untrusted_req;
};

/* A key that has a handle: handle h is keys[h - 1]. */
struct hkey {
	unsigned token;
	uint8_t addr[20];
	char *uri;			/* its URI as last listed, or NULL */
};

/* What the monitor compares from one scan to the next, per token. */
struct snap_tok {
	unsigned token;
	int present;
	int logged_in;
	uint64_t slot;
	char uri[LIMIT_P11_URI + 1];
	char label[TEXT_SZ];
	size_t nkeys;
	uint8_t keys_digest[32];	/* XOR of keccak256(address || uri) over its keys */
};

struct snap {
	struct snap_tok *t;
	size_t n;
};

/* A failure logged: the same again on that token is not, for a while. */
struct memo {
	unsigned token;
	int code;
	long long at_ms;
	unsigned long suppressed;
};

/* One of the threads that read requests and run them (helper.c). */
struct worker {
	struct helper *h;
	pthread_t thread;
	int epfd;			/* its own epoll set: the socket, h->kick_fd, h->stop_fd */
};

struct helper {
	int fd;
	int fd_flags;			/* fd's status flags as given; -1: not changed */
	struct p11_module *m;
	char name[TEXT_SZ];
	unsigned max;
	int poll_ms, event_poll_ms, send_ms, stop_ms, quiet;

	pthread_mutex_t wlock;		/* one frame at a time on fd */
	int dead;			/* a write failed: fd is shut down */
	int write_err;

	pthread_mutex_t rlock;		/* one reader at a time: rd, and claiming a slot */
	struct proto_reader *rd;	/* what was read from fd and not yet taken */
	int kick_fd;			/* eventfd (semaphore): a whole frame waits in rd */
	int stop_fd;			/* eventfd, never read: set, it wakes every worker */

	pthread_mutex_t lock;
	struct job *jobs;		/* max slots */
	int stop;
	int end;			/* why a worker ended the session: ERR_PROTO_CLOSED at end of file */
	struct worker *workers;		/* max + 1 */
	unsigned nworkers;		/* started */

	pthread_mutex_t mon_lock;
	pthread_cond_t mon_cv;		/* CLOCK_MONOTONIC: kick or stop */
	int kick, mon_stop;
	pthread_t mon;
	int mon_started;
	libusb_context *usb;		/* NULL: no USB hotplug notifications */
	libusb_hotplug_callback_handle usb_cb;
	pthread_t usb_thread;
	int usb_started;
	struct snap snap;		/* as of HELLO; the monitor's from then on */

	pthread_mutex_t keys_lock;
	struct hkey *keys;
	size_t nkeys, capkeys;

	pthread_mutex_t memo_lock;
	struct memo memo[MEMO_SLOTS];	/* the failures logged last, to log each once */
};


/* helper.c */
void helper_log(const struct helper *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void helper_printable(char out[TEXT_SZ], const char *s);
const char *helper_token_uri(const struct p11_token_info *t, char slot_uri[SLOT_URI_SZ]);
int helper_token_get(struct helper *h, unsigned token, struct p11_token_info *out);
void helper_token_label(struct helper *h, unsigned token, char out[TEXT_SZ]);
int helper_memo_log(struct helper *h, unsigned token, int code, unsigned long *suppressedp);
int helper_send(struct helper *h, const struct proto_msg *m);
void helper_send_error(struct helper *h, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void helper_job_answer(struct helper *h, struct job *j, const struct proto_msg *m);
void helper_job_error(struct helper *h, struct job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void helper_send_farewell(struct helper *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int helper_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* helper_requests.c */
void helper_do_list(struct helper *h, struct job *j);
void helper_job_run(struct helper *h, struct job *j);
/* helper_workers.c */
int helper_workers_start(struct helper *h);
void helper_workers_stop(struct helper *h, int why);
int helper_workers_wait(struct helper *h);
/* helper_monitor.c */
void helper_snap_free(struct snap *s);
int helper_snap_take(struct helper *h, struct snap *s);
void helper_mon_kick(struct helper *h);
void *helper_mon_main(void *arg);
int helper_usb_start(struct helper *h);

#endif /* P11_HELPER_INT_H */
