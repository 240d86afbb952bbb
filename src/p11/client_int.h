/*
 * client_int.h - what the pieces of the token protocol client share
 * (client.c, client_spawn.c, client_reader.c); nothing else includes it.
 * The functions below are grouped by the file that defines them; each one's
 * contract is the comment above its definition there.
 */
#ifndef P11_CLIENT_INT_H
#define P11_CLIENT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/limits.h"
#include "p11/client.h"
#include "p11/proto.h"

#define DEFAULT_TIMEOUT_MS	30000
#define STOP_GRACE_MS		2000	/* p11_client_stop(): then SIGKILL */
#define EOF_GRACE_MS		2000	/* helper closed the stream: it should be exiting */
#define RESTART_INTERVAL_MS	1000	/* at most one start a second */
/*
 * Requests left unanswered past their timeout before the helper is judged
 * hung and killed.  One late answer is a slow token; this many is a helper
 * that no longer works.
 */
#define MAX_ABANDONED		32
/* A helper that has exited: what its socket still holds is read in at most
 * this many reads, however much a process that holds it open adds. */
#define EXITED_READS_MAX	64
#define MODULE_SHOWN		"%.100s"	/* a module path as shown in a why */
/*
 * After a call has started, the reader thread leaves the socket to the
 * callers for this long (client_reader.c); it reads again once no call has
 * started for as long, so that events and an exit are seen that late at most.
 */
#define LINGER_MS		100
/* Events read by a caller wait here for the reader thread to deliver them;
 * past this many the oldest is dropped (each only says: look again). */
#define EVENTS_MAX		32

/* What ended reading a helper's stream. */
enum read_end {
	READ_MORE = 0,		/* nothing: go on */
	READ_EOF,		/* end of file, or the helper has exited */
	READ_IO,		/* the socket failed */
	READ_VIOLATION,		/* a malformed frame or an unexpected message */
};

struct pending {
	struct pending *next;
	uint64_t gen;			/* the helper it was sent to */
	uint32_t id;
	uint8_t req_type;
	pthread_cond_t done_cv;		/* done was set (CLOCK_MONOTONIC) */
	int done;			/* result, reply and why are set */
	int abandoned;			/* its caller has gone: free it when it ends */
	int result;
	struct proto_msg *reply;
	char why[P11_CLIENT_WHY_MAX];
};

struct helper {
	struct p11_client *c;
	uint64_t gen;
	pid_t pid;
	int fd;				/* the daemon's end of the socketpair */
	pthread_t reader;
	int refs;			/* the client's, and each sender's */
	int dead;			/* reaped; every request of it failed */
	int stop_asked;			/* p11_client_stop() ended it */
	unsigned abandoned;		/* its requests past their timeout */
	char kill_reason[128];		/* why the client ended it, or "" */
	int sending;			/* a thread is writing a frame (which may take several writes) */

	/*
	 * Reading (client_reader.c): one thread at a time holds the read role
	 * and alone touches rd, farewell and detail.
	 */
	struct proto_reader *rd;
	int pidfd;			/* the helper's pidfd, or -1 */
	int reading;			/* a thread holds the read role */
	int reader_wanted;		/* the reader thread must read next: an exit, a stop */
	enum read_end end;		/* set once: what ended the stream */
	char farewell[LIMIT_PROTO_TEXT + 1];	/* the helper's last word, if any */
	char detail[160];		/* what it did wrong, for READ_VIOLATION */
	struct timespec linger_until;	/* the reader thread reads again from then */
	pthread_cond_t reader_cv;	/* for the reader thread (CLOCK_MONOTONIC) */
	struct proto_msg *events[EVENTS_MAX];	/* read by callers, not delivered yet */
	unsigned ev_head, ev_len;
};

struct p11_client {
	/* configuration, copied; fixed after start */
	char *helper_path;
	char *module;
	char **argv;			/* for posix_spawn(); its strings are these copies */
	char sessions_arg[16];
	char **token_uris;		/* for CONFIGURE, %-encoded; may hold a PIN: wiped */
	size_t ntokens;
	int timeout_ms;
	void (*on_event)(void *ctx, const struct proto_event *ev);
	void *event_ctx;

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t start_cv;	/* a start has finished */
	pthread_cond_t send_cv;		/* a sender has finished */
	struct helper *h;		/* the current helper (maybe dead), or NULL */
	struct pending *pending;
	uint32_t next_id;
	uint64_t next_gen;
	int starting;			/* a thread is starting a helper */
	int stopping;
	struct timespec last_start;
	char last_why[P11_CLIENT_WHY_MAX];	/* how the last helper ended, or failed to start */
	/*
	 * Tokens (their URIs) that rejected the configured PIN, as the helpers
	 * said (PROTO_TOKEN_PIN_AUTO_REJECTED): each new helper is told in its
	 * CONFIGURE, so it does not spend another try.  The configuration is
	 * fixed for the client's life, so a token URI is the whole key; entries
	 * are only added, and never change once set.
	 */
	char *rejected[LIMIT_PROTO_TOKENS];
	size_t nrejected;
};

/* client_spawn.c */
int client_helper_start(struct p11_client *c, const struct timespec *deadline,
    struct helper **outp, char *why);
int client_reader_start(struct helper *h, char *why);
void client_helper_abort(struct helper *h);
int client_ensure_helper(struct p11_client *c, const struct timespec *deadline, char *why);
/* client_reader.c */
void client_pending_unlink(struct p11_client *c, struct pending *p);
/* A new request's entry, not linked; NULL when out of memory. */
struct pending *client_pending_new(void);
void client_pending_free(struct pending *p);
void client_pending_fail_gen(struct p11_client *c, uint64_t gen, int result, const char *why);
uint32_t client_new_id(struct p11_client *c);
void client_helper_unref(struct helper *h);
void client_helper_end(struct helper *h, const char *reason);
void client_note_rejected(struct p11_client *c, const struct proto_key_list *l);
void *client_reader_main(void *arg);
void client_read_as_caller(struct helper *h, struct pending *p, const struct timespec *deadline);

#endif /* P11_CLIENT_INT_H */
