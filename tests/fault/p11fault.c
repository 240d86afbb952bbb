/*
 * p11fault.c - a PKCS#11 module that wraps another one (SoftHSM2 by default)
 * and, on demand, behaves like the tokens p11signer has to survive: high-s
 * and DER signatures, raw or misplaced CKA_EC_POINT, removal mid-operation,
 * PIN counters and locks, a PIN pad, slowness and garbage lengths.
 *
 * TEST FIXTURE: built as build/tests/fault/libp11fault.so and never
 * installed.  The control file format, the environment and the files it
 * writes are described in tests/fault/README.md.
 *
 * Every call goes through enter() and leave(): enter() counts it, re-reads
 * the control file when it changed, applies slot removal and the fail
 * rules, and marks the session busy; leave() releases the session and
 * writes the trace line.  One mutex guards this module's state.  The
 * wrapped module is called with it held only for short bookkeeping (the
 * slot table when the control file changed, closing the sessions of a
 * pulled token); it never calls back into us, so that cannot deadlock.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault_ctl.h"
#include "fault_sig.h"

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define POLL_MS		20	/* how often a waiting call re-reads the control */
#define MAX_SLOTS	64
#define ATTR_BUF	1024	/* room for one attribute value we rewrite */
#define FINALIZE_WAIT_POLLS 250	/* C_Finalize waits 5 s at most for waiters */

#define EXPORT __attribute__((visibility("default")))

struct slot_state {
	CK_SLOT_ID id;
	int removed;
	unsigned gen;		/* bumped whenever the slot's sessions are dropped */
	int event;		/* a change C_WaitForSlotEvent has not reported */
};

struct session_state {
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned gen;		/* the slot's gen when the session was opened */
	int sign_active;	/* a sign operation is active in the real module */
	int sign_ecdsa;		/* ... with a CKM_ECDSA* mechanism */
	int sign_k1;		/* ... and a secp256k1 key */
	int busy;		/* calls now inside the real module with it */
	int real_closed;	/* dead, and closed in the real module */
	int has_cached;		/* the caller asked for the length first */
	size_t cached_len;
	uint8_t cached[FAULT_SIG_LEN_MAX];
};

enum call_kind {
	K_NONE,			/* no slot, no session */
	K_SLOT,			/* a slot, token or not */
	K_TOKEN,		/* a slot whose token must be present */
	K_SESSION,		/* a session handle */
};

/* What enter() decided for one call. */
struct call {
	int fn;
	CK_RV rv;
	int injected;		/* rv comes from a fail rule */
	enum call_kind kind;
	CK_ULONG handle;
	int busy;		/* enter() counted this call in the session's busy */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Only for opening the trace log, so that trace() works with lock held. */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

/* Everything below is guarded by lock. */
static void *real_dl;
static CK_FUNCTION_LIST_PTR real;
static int initialized;
static int waiters;		/* threads inside C_WaitForSlotEvent */

static struct fault_ctl ctl;
static int ctl_loaded;		/* ctl holds what the file said */
static int ctl_bad;		/* the file did not parse: every call fails */
static char counts_token[FAULT_TOKEN_MAX + 1];

static unsigned long counts[FAULT_FN_COUNT];
static unsigned long rule_seen[FAULT_MAX_RULES], rule_fired[FAULT_MAX_RULES];

static struct slot_state slots[MAX_SLOTS];
static size_t n_slots;

static struct session_state *sessions;
static size_t n_sessions, cap_sessions;

static int trace_fd = -1;	/* under trace_lock */
static int trace_opened;
static char counts_path[4096];
static int counts_path_set;

static CK_FUNCTION_LIST fault_list;

/* ---- files: trace log and counts ---- */

/* getenv(name) with every "%p" replaced by the pid, into out; 0 if set. */
static int
env_path(const char *name, char *out, size_t outlen)
{
	const char *v = getenv(name), *p;
	size_t n = 0;
	int w;

	if (v == NULL || *v == '\0')
		return -1;
	for (p = v; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			w = snprintf(out + n, outlen - n, "%ld", (long)getpid());
			if (w < 0 || (size_t)w >= outlen - n)
				return -1;
			n += (size_t)w;
			p++;
		} else {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return 0;
}

/* One line to the trace log (P11FAULT_LOG), written whole with O_APPEND so
 * that lines from several threads and processes never interleave. */
static void
trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
trace(const char *fmt, ...)
{
	char line[512], path[4096];
	va_list ap;
	int n, fd;

	pthread_mutex_lock(&trace_lock);
	if (!trace_opened) {
		trace_opened = 1;
		if (env_path("P11FAULT_LOG", path, sizeof(path)) == 0)
			trace_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	}
	fd = trace_fd;
	pthread_mutex_unlock(&trace_lock);
	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* A trace line lost is not worth failing a PKCS#11 call for. */
	}
}

/* Rewrite the counts file (P11FAULT_COUNTS) atomically: a reader sees the
 * old counts or the new ones, never half a file.  Called with lock held. */
static void
write_counts_locked(void)
{
	char buf[FAULT_FN_COUNT * 48], tmp[4096 + 32];
	size_t n = 0;
	int i, w, fd;

	if (!counts_path_set) {
		counts_path_set = 1;
		if (env_path("P11FAULT_COUNTS", counts_path, sizeof(counts_path)) != 0)
			counts_path[0] = '\0';
	}
	if (counts_path[0] == '\0')
		return;
	for (i = 0; i < FAULT_FN_COUNT; i++) {
		if (counts[i] == 0)
			continue;
		w = snprintf(buf + n, sizeof(buf) - n, "%s %lu\n",
		    fault_fn_name(i), counts[i]);
		if (w < 0 || (size_t)w >= sizeof(buf) - n)
			break;
		n += (size_t)w;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", counts_path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return;
	if (write(fd, buf, n) != (ssize_t)n) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, counts_path) != 0)
		unlink(tmp);
}

/* ---- slots and sessions (lock held) ---- */

static struct slot_state *
slot_find_locked(CK_SLOT_ID id)
{
	size_t i;

	for (i = 0; i < n_slots; i++)
		if (slots[i].id == id)
			return &slots[i];
	return NULL;
}

static struct session_state *
session_find_locked(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < n_sessions; i++)
		if (sessions[i].h == h)
			return &sessions[i];
	return NULL;
}

static void
session_forget_locked(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < n_sessions; i++) {
		if (sessions[i].h == h) {
			explicit_bzero(&sessions[i], sizeof(sessions[i]));
			sessions[i] = sessions[--n_sessions];
			return;
		}
	}
}

static int
session_add_locked(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	struct slot_state *st = slot_find_locked(slot);
	struct session_state *grown;
	size_t cap;

	session_forget_locked(h);	/* a handle the module reused */
	if (n_sessions == cap_sessions) {
		cap = cap_sessions ? cap_sessions * 2 : 16;
		if ((grown = realloc(sessions, cap * sizeof(*grown))) == NULL)
			return -1;
		sessions = grown;
		cap_sessions = cap;
	}
	memset(&sessions[n_sessions], 0, sizeof(sessions[n_sessions]));
	sessions[n_sessions].h = h;
	sessions[n_sessions].slot = slot;
	sessions[n_sessions].gen = st != NULL ? st->gen : 0;
	n_sessions++;
	return 0;
}

/* Whether a session can be used: CKR_DEVICE_REMOVED while its token is
 * out, CKR_SESSION_HANDLE_INVALID once the token is back (the session died
 * with the removal), CKR_OK otherwise, and for handles we never saw. */
static CK_RV
session_status_locked(CK_SESSION_HANDLE h)
{
	struct session_state *s = session_find_locked(h);
	struct slot_state *st;

	if (s == NULL || (st = slot_find_locked(s->slot)) == NULL)
		return CKR_OK;
	if (st->removed)
		return CKR_DEVICE_REMOVED;
	if (s->gen != st->gen)
		return CKR_SESSION_HANDLE_INVALID;
	return CKR_OK;
}

/* Close a dead session in the real module once no call is using it:
 * SoftHSM2 frees a session that another thread is signing with
 * (ThreadSanitizer showed it), which a real token never does to its caller. */
static void
close_if_idle_locked(struct session_state *s)
{
	struct slot_state *st = slot_find_locked(s->slot);

	if (st == NULL || s->gen == st->gen || s->busy > 0 || s->real_closed)
		return;
	s->real_closed = 1;
	real->C_CloseSession(s->h);
}

/* As pulling the token: ours are marked dead at once, and the real module
 * forgets them (and, with the last one, the login) as they become idle. */
static void
drop_sessions_locked(struct slot_state *st)
{
	size_t i;

	st->gen++;
	st->event = 1;
	for (i = 0; i < n_sessions; i++)
		if (sessions[i].slot == st->id)
			close_if_idle_locked(&sessions[i]);
}

static void
trim_label(const CK_UTF8CHAR label[32], char out[FAULT_LABEL_MAX + 1])
{
	size_t n = 32;

	memcpy(out, label, 32);
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* Whether the control file has this slot's token pulled out. */
static int
slot_matches_removed_locked(CK_SLOT_ID id)
{
	char label[FAULT_LABEL_MAX + 1];
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	int have_label = 0;
	size_t i;

	for (i = 0; i < ctl.n_removed; i++) {
		const struct fault_removed *rm = &ctl.removed[i];

		switch (rm->kind) {
		case FAULT_RM_ALL:
			if (real->C_GetSlotInfo(id, &si) == CKR_OK &&
			    (si.flags & CKF_TOKEN_PRESENT))
				return 1;
			break;
		case FAULT_RM_SLOT:
			if (rm->slot == id)
				return 1;
			break;
		case FAULT_RM_LABEL:
			if (!have_label) {
				if (real->C_GetTokenInfo(id, &ti) != CKR_OK)
					break;
				trim_label(ti.label, label);
				have_label = 1;
			}
			if (strcmp(label, rm->label) == 0)
				return 1;
			break;
		}
	}
	return 0;
}

/* Bring the slot table up to date with the real module and the control
 * file.  At C_Initialize (quiet) the state is taken as it is; later, every
 * change is a removal or insertion event. */
static void
slots_refresh_locked(int quiet)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS, i;
	struct slot_state *st;
	int removed;

	if (!initialized || real->C_GetSlotList(CK_FALSE, ids, &n) != CKR_OK)
		return;
	for (i = 0; i < n; i++) {
		if ((st = slot_find_locked(ids[i])) == NULL) {
			if (n_slots == MAX_SLOTS)
				continue;
			st = &slots[n_slots++];
			memset(st, 0, sizeof(*st));
			st->id = ids[i];
			st->removed = slot_matches_removed_locked(ids[i]);
			continue;
		}
		removed = slot_matches_removed_locked(ids[i]);
		if (removed == st->removed)
			continue;
		st->removed = removed;
		if (quiet)
			continue;
		if (removed) {
			drop_sessions_locked(st);
		} else {
			st->event = 1;
		}
		trace("# slot %lu %s", (unsigned long)st->id,
		    removed ? "removed" : "inserted");
	}
}

/* ---- the control file (lock held) ---- */

/* FNV-1a: tells two texts of a control file apart, nothing more. */
static uint64_t
text_hash(const char *text, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)text[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Read the whole control file; 0 and a malloc'ed *textp, or -1. */
static int
read_ctl(const char *path, char **textp, size_t *lenp, struct stat *sb)
{
	char *text = NULL;
	size_t len = 0;
	ssize_t got;
	int fd, r = -1;

	*textp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, sb) != 0 || sb->st_size > FAULT_CTL_MAX_BYTES ||
	    (text = malloc((size_t)sb->st_size + 1)) == NULL)
		goto out;
	while (len < (size_t)sb->st_size &&
	    (got = read(fd, text + len, (size_t)sb->st_size - len)) > 0)
		len += (size_t)got;
	*textp = text;
	*lenp = len;
	text = NULL;
	/* success */
	r = 0;
 out:
	free(text);
	close(fd);
	return r;
}

/*
 * Re-read the control file when it changed.  A test replaces the file by
 * rename, so its inode, size or mtime differ; but file times tick in
 * jiffies and inodes are reused, so a file changed in the last two seconds
 * is also compared by content.
 */
static void
ctl_reload_locked(void)
{
	static struct {
		int exists;
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtim;
		uint64_t hash;
	} stamp;
	char path[4096], err[256], *text = NULL;
	struct fault_ctl fresh;
	struct timespec now;
	struct stat sb;
	size_t len = 0;
	uint64_t hash = 0;
	int exists;

	memset(&sb, 0, sizeof(sb));
	if (env_path("P11FAULT_CTL", path, sizeof(path)) != 0) {
		if (!ctl_loaded) {
			fault_ctl_init(&ctl);
			ctl_loaded = 1;
		}
		return;
	}
	exists = stat(path, &sb) == 0;
	if (ctl_loaded && exists == stamp.exists) {
		if (!exists)
			return;
		clock_gettime(CLOCK_REALTIME, &now);
		if (sb.st_dev == stamp.dev && sb.st_ino == stamp.ino &&
		    sb.st_size == stamp.size &&
		    sb.st_mtim.tv_sec == stamp.mtim.tv_sec &&
		    sb.st_mtim.tv_nsec == stamp.mtim.tv_nsec &&
		    now.tv_sec - sb.st_mtim.tv_sec > 2)
			return;
	}
	if (exists && read_ctl(path, &text, &len, &sb) != 0) {
		/* Gone between stat and open, or unreadable: try next call. */
		return;
	}
	hash = text_hash(text, len);
	if (ctl_loaded && exists == stamp.exists && exists && hash == stamp.hash &&
	    (off_t)len == stamp.size)
		goto restamp;

	if (fault_ctl_parse(text != NULL ? text : "", len, &fresh, err, sizeof(err)) != 0) {
		/* Loud and sticky: a typo in a test must not pass as "no fault". */
		fprintf(stderr, "p11fault: %s: %s; every call fails until it is fixed\n",
		    path, err);
		trace("# control file refused: %s", err);
		ctl_bad = 1;
		ctl_loaded = 1;
		goto restamp;
	}
	fault_ctl_wipe(&ctl);
	ctl = fresh;
	fault_ctl_wipe(&fresh);
	ctl_loaded = 1;
	ctl_bad = 0;
	memset(rule_seen, 0, sizeof(rule_seen));
	memset(rule_fired, 0, sizeof(rule_fired));
	if (strcmp(ctl.reset_counts, counts_token) != 0) {
		strcpy(counts_token, ctl.reset_counts);
		memset(counts, 0, sizeof(counts));
	}
	trace("# control file read");
	slots_refresh_locked(0);
 restamp:
	stamp.exists = exists;
	stamp.dev = sb.st_dev;
	stamp.ino = sb.st_ino;
	stamp.size = exists ? (off_t)len : 0;
	stamp.mtim = sb.st_mtim;
	stamp.hash = hash;
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
}

/* ---- enter and leave ---- */

/* Functions a "*" rule leaves alone: without them no test gets going. */
static int
rule_any_skips(int fn)
{
	return fn == FAULT_FN_C_GetFunctionList || fn == FAULT_FN_C_Initialize ||
	    fn == FAULT_FN_C_Finalize;
}

/*
 * Start a call: count it, reload the control file, and decide whether it
 * fails before reaching the real module (c->rv != CKR_OK).  snap, if not
 * NULL, receives the control in force, without the pad PIN.
 */
static CK_RV
enter(int fn, enum call_kind kind, CK_ULONG handle, struct call *c,
    struct fault_ctl *snap)
{
	struct session_state *s;
	struct slot_state *st = NULL;
	size_t i;

	c->fn = fn;
	c->rv = CKR_OK;
	c->injected = 0;
	c->kind = kind;
	c->handle = handle;
	c->busy = 0;
	pthread_mutex_lock(&lock);
	/* Reload first: a reset_counts in the new control counts this call. */
	ctl_reload_locked();
	counts[fn]++;
	write_counts_locked();
	if (snap != NULL) {
		*snap = ctl;
		explicit_bzero(snap->pad_pin, sizeof(snap->pad_pin));
		snap->pad_pin_len = 0;
	}

	if (ctl_bad && fn != FAULT_FN_C_Finalize && fn != FAULT_FN_C_GetFunctionList) {
		c->rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (!initialized && fn != FAULT_FN_C_Initialize &&
	    fn != FAULT_FN_C_GetFunctionList) {
		c->rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		goto out;
	}
	if (kind == K_SLOT || kind == K_TOKEN)
		st = slot_find_locked(handle);
	if (kind == K_TOKEN && st != NULL && st->removed) {
		c->rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	if (kind == K_SESSION) {
		if ((c->rv = session_status_locked(handle)) != CKR_OK)
			goto out;
		if ((s = session_find_locked(handle)) != NULL) {
			st = slot_find_locked(s->slot);
			/* Counted even if a fail rule fires: the real sign
			 * operation may still have to be ended. */
			s->busy++;
			c->busy = 1;
		}
	}

	for (i = 0; i < ctl.n_rules; i++) {
		const struct fault_rule *rule = &ctl.rules[i];

		if (rule->fn != fn && !(rule->fn == FAULT_FN_ANY && !rule_any_skips(fn)))
			continue;
		if (++rule_seen[i] <= rule->after)
			continue;
		if (rule->times != 0 && rule_fired[i] >= rule->times)
			continue;
		rule_fired[i]++;
		c->rv = rule->rv;
		c->injected = 1;
		if (rule->reset && st != NULL) {
			drop_sessions_locked(st);
			trace("# slot %lu reset by a fail rule", (unsigned long)st->id);
		}
		break;
	}
 out:
	pthread_mutex_unlock(&lock);
	return c->rv;
}

/*
 * End a call: release the session, and when the real module failed because
 * its token was pulled meanwhile, answer as a token does (the real module
 * may say anything then, e.g. CKR_GENERAL_ERROR); then the trace line.
 */
static CK_RV
leave(struct call *c)
{
	struct session_state *s;
	char buf[32];
	CK_RV status;

	if (c->kind == K_SESSION && (c->busy || c->rv != CKR_OK)) {
		pthread_mutex_lock(&lock);
		if ((s = session_find_locked(c->handle)) != NULL) {
			if (c->busy && s->busy > 0)
				s->busy--;
			close_if_idle_locked(s);
		}
		if (c->rv != CKR_OK && !c->injected &&
		    (status = session_status_locked(c->handle)) != CKR_OK)
			c->rv = status;
		pthread_mutex_unlock(&lock);
	}
	trace("%s %s%s", fault_fn_name(c->fn), fault_ckr_name(c->rv, buf, sizeof(buf)),
	    c->injected ? " injected" : "");
	return c->rv;
}

/* Sleep ms milliseconds, re-reading the control file as it goes; a session
 * whose token is pulled meanwhile ends the wait with its error. */
static CK_RV
sleep_watching(CK_SESSION_HANDLE h, int has_session, unsigned long ms)
{
	struct timespec ts;
	unsigned long step;
	CK_RV rv = CKR_OK;

	while (ms > 0) {
		step = ms < POLL_MS ? ms : POLL_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		nanosleep(&ts, NULL);
		ms -= step;
		pthread_mutex_lock(&lock);
		ctl_reload_locked();
		if (!initialized)
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		else if (has_session)
			rv = session_status_locked(h);
		pthread_mutex_unlock(&lock);
		if (rv != CKR_OK)
			break;
	}
	return rv;
}

/* ---- plain forwarding ---- */

#define FWD(fn, kind, handle, params, args) \
static CK_RV \
fw_##fn params \
{ \
	struct call c; \
	if (enter(FAULT_FN_##fn, kind, (CK_ULONG)(handle), &c, NULL) == CKR_OK) \
		c.rv = real->fn args; \
	return leave(&c); \
}

FWD(C_GetMechanismList, K_TOKEN, slot,
    (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),
    (slot, list, count))
FWD(C_GetMechanismInfo, K_TOKEN, slot,
    (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info),
    (slot, type, info))
FWD(C_InitToken, K_TOKEN, slot,
    (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label),
    (slot, pin, len, label))
FWD(C_InitPIN, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len), (h, pin, len))
FWD(C_SetPIN, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG oldlen,
    CK_UTF8CHAR_PTR new_pin, CK_ULONG newlen), (h, old, oldlen, new_pin, newlen))
FWD(C_GetOperationState, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG_PTR len), (h, state, len))
FWD(C_SetOperationState, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG len, CK_OBJECT_HANDLE ek,
    CK_OBJECT_HANDLE ak), (h, state, len, ek, ak))
FWD(C_Logout, K_SESSION, h, (CK_SESSION_HANDLE h), (h))
FWD(C_CreateObject, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o),
    (h, t, n, o))
FWD(C_CopyObject, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR no), (h, o, t, n, no))
FWD(C_DestroyObject, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), (h, o))
FWD(C_GetObjectSize, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR size), (h, o, size))
FWD(C_SetAttributeValue, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
    (h, o, t, n))
FWD(C_FindObjectsInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))
FWD(C_FindObjectsFinal, K_SESSION, h, (CK_SESSION_HANDLE h), (h))
FWD(C_EncryptInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
FWD(C_Encrypt, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR e, CK_ULONG_PTR el),
    (h, d, dl, e, el))
FWD(C_EncryptUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR e, CK_ULONG_PTR el),
    (h, d, dl, e, el))
FWD(C_EncryptFinal, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG_PTR el), (h, e, el))
FWD(C_DecryptInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
FWD(C_Decrypt, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR d, CK_ULONG_PTR dl),
    (h, e, el, d, dl))
FWD(C_DecryptUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR d, CK_ULONG_PTR dl),
    (h, e, el, d, dl))
FWD(C_DecryptFinal, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG_PTR dl), (h, d, dl))
FWD(C_DigestInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m), (h, m))
FWD(C_Digest, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol),
    (h, d, dl, o, ol))
FWD(C_DigestUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl), (h, d, dl))
FWD(C_DigestKey, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k), (h, k))
FWD(C_DigestFinal, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol), (h, o, ol))
FWD(C_SignUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl), (h, d, dl))
FWD(C_SignRecoverInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
FWD(C_SignRecover, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG_PTR sl),
    (h, d, dl, s, sl))
FWD(C_VerifyInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
FWD(C_Verify, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl),
    (h, d, dl, s, sl))
FWD(C_VerifyUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl), (h, d, dl))
FWD(C_VerifyFinal, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl), (h, s, sl))
FWD(C_VerifyRecoverInit, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
FWD(C_VerifyRecover, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl, CK_BYTE_PTR d, CK_ULONG_PTR dl),
    (h, s, sl, d, dl))
FWD(C_DigestEncryptUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG pl, CK_BYTE_PTR e, CK_ULONG_PTR el),
    (h, p, pl, e, el))
FWD(C_DecryptDigestUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR pl),
    (h, e, el, p, pl))
FWD(C_SignEncryptUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG pl, CK_BYTE_PTR e, CK_ULONG_PTR el),
    (h, p, pl, e, el))
FWD(C_DecryptVerifyUpdate, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR pl),
    (h, e, el, p, pl))
FWD(C_GenerateKey, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR k), (h, m, t, n, k))
FWD(C_GenerateKeyPair, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pubt, CK_ULONG pubn,
    CK_ATTRIBUTE_PTR privt, CK_ULONG privn, CK_OBJECT_HANDLE_PTR pub,
    CK_OBJECT_HANDLE_PTR priv), (h, m, pubt, pubn, privt, privn, pub, priv))
FWD(C_WrapKey, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE k,
    CK_BYTE_PTR w, CK_ULONG_PTR wl), (h, m, wk, k, w, wl))
FWD(C_UnwrapKey, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk, CK_BYTE_PTR w,
    CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),
    (h, m, uk, w, wl, t, n, k))
FWD(C_DeriveKey, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE bk, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (h, m, bk, t, n, k))
FWD(C_SeedRandom, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len), (h, seed, len))
FWD(C_GenerateRandom, K_SESSION, h,
    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len), (h, out, len))
FWD(C_GetFunctionStatus, K_SESSION, h, (CK_SESSION_HANDLE h), (h))
FWD(C_CancelFunction, K_SESSION, h, (CK_SESSION_HANDLE h), (h))

#undef FWD

/* ---- library and slots ---- */

static CK_RV
load_real_locked(void)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR list = NULL;

	if (real != NULL)
		return CKR_OK;
	if (path == NULL || *path == '\0')
		path = DEFAULT_MODULE;
	if ((real_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11fault: cannot load %s: %s\n", path, dlerror());
		return CKR_GENERAL_ERROR;
	}
	*(void **)(&get_list) = dlsym(real_dl, "C_GetFunctionList");
	/* Wrapping ourselves would recurse until the stack runs out. */
	if (get_list == NULL || get_list == C_GetFunctionList ||
	    get_list(&list) != CKR_OK || list == NULL || list == &fault_list) {
		fprintf(stderr, "p11fault: %s is not a PKCS#11 module we can wrap\n", path);
		dlclose(real_dl);
		real_dl = NULL;
		return CKR_GENERAL_ERROR;
	}
	real = list;
	return CKR_OK;
}

static CK_RV
fw_C_Initialize(CK_VOID_PTR args)
{
	struct call c;

	if (enter(FAULT_FN_C_Initialize, K_NONE, 0, &c, NULL) != CKR_OK)
		goto out;
	pthread_mutex_lock(&lock);
	if (initialized)
		c.rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
	else
		c.rv = load_real_locked();
	pthread_mutex_unlock(&lock);
	if (c.rv != CKR_OK)
		goto out;
	/* The caller's arguments, CKF_OS_LOCKING_OK and all: the wrapped module
	 * must lock exactly as the caller asked it to. */
	if ((c.rv = real->C_Initialize(args)) != CKR_OK)
		goto out;
	pthread_mutex_lock(&lock);
	initialized = 1;
	n_slots = 0;
	n_sessions = 0;
	slots_refresh_locked(1);
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static CK_RV
fw_C_Finalize(CK_VOID_PTR reserved)
{
	struct timespec ts = { 0, POLL_MS * 1000000L };
	struct call c;
	int i, busy;

	if (enter(FAULT_FN_C_Finalize, K_NONE, 0, &c, NULL) != CKR_OK)
		goto out;
	pthread_mutex_lock(&lock);
	initialized = 0;
	pthread_mutex_unlock(&lock);
	/* Threads blocked in C_WaitForSlotEvent return CKR_CRYPTOKI_NOT_INITIALIZED
	 * within POLL_MS; let them leave before the real module goes away. */
	for (i = 0; i < FINALIZE_WAIT_POLLS; i++) {
		pthread_mutex_lock(&lock);
		busy = waiters;
		pthread_mutex_unlock(&lock);
		if (busy == 0)
			break;
		nanosleep(&ts, NULL);
	}
	c.rv = real->C_Finalize(reserved);
	pthread_mutex_lock(&lock);
	free(sessions);
	sessions = NULL;
	n_sessions = cap_sessions = 0;
	n_slots = 0;
	write_counts_locked();
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static void
pad_copy(CK_UTF8CHAR *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', dstlen);
	memcpy(dst, src, n < dstlen ? n : dstlen);
}

static CK_RV
fw_C_GetInfo(CK_INFO_PTR info)
{
	struct call c;

	if (enter(FAULT_FN_C_GetInfo, K_NONE, 0, &c, NULL) == CKR_OK &&
	    (c.rv = real->C_GetInfo(info)) == CKR_OK)
		pad_copy(info->libraryDescription, sizeof(info->libraryDescription),
		    "p11fault test module");
	return leave(&c);
}

static CK_RV
fw_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS, i, kept = 0;
	struct slot_state *st;
	struct call c;

	if (enter(FAULT_FN_C_GetSlotList, K_NONE, 0, &c, NULL) != CKR_OK)
		goto out;
	if (count == NULL) {
		c.rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((c.rv = real->C_GetSlotList(present, ids, &n)) != CKR_OK)
		goto out;
	pthread_mutex_lock(&lock);
	/* New slots (a token initialised since) join the table here. */
	slots_refresh_locked(0);
	for (i = 0; i < n; i++) {
		st = slot_find_locked(ids[i]);
		if (present && st != NULL && st->removed)
			continue;
		ids[kept++] = ids[i];
	}
	pthread_mutex_unlock(&lock);
	if (list == NULL) {
		*count = kept;
	} else if (*count < kept) {
		*count = kept;
		c.rv = CKR_BUFFER_TOO_SMALL;
	} else {
		memcpy(list, ids, kept * sizeof(ids[0]));
		*count = kept;
	}
 out:
	return leave(&c);
}

static CK_RV
fw_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	struct slot_state *st;
	struct call c;

	if (enter(FAULT_FN_C_GetSlotInfo, K_SLOT, slot, &c, NULL) != CKR_OK ||
	    (c.rv = real->C_GetSlotInfo(slot, info)) != CKR_OK)
		goto out;
	/* Every slot here can lose its token, as a USB reader does. */
	info->flags |= CKF_REMOVABLE_DEVICE;
	pthread_mutex_lock(&lock);
	if ((st = slot_find_locked(slot)) != NULL && st->removed)
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static CK_RV
fw_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	struct fault_ctl snap;
	struct call c;

	if (enter(FAULT_FN_C_GetTokenInfo, K_TOKEN, slot, &c, &snap) != CKR_OK ||
	    (c.rv = real->C_GetTokenInfo(slot, info)) != CKR_OK)
		goto out;
	info->flags |= snap.pin_flags;
	if (snap.protected_auth)
		info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
 out:
	return leave(&c);
}

/* session_info_delay_ms: a caller that checks its sessions holds them a while. */
static CK_RV
fw_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct fault_ctl snap;
	struct call c;

	if (enter(FAULT_FN_C_GetSessionInfo, K_SESSION, h, &c, &snap) != CKR_OK)
		goto out;
	if (snap.session_info_delay_ms > 0 &&
	    (c.rv = sleep_watching(h, 1, snap.session_info_delay_ms)) != CKR_OK)
		goto out;
	c.rv = real->C_GetSessionInfo(h, info);
 out:
	return leave(&c);
}

static CK_RV
fw_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	struct timespec ts = { 0, POLL_MS * 1000000L };
	struct fault_ctl snap;
	struct call c;
	size_t i;

	if (enter(FAULT_FN_C_WaitForSlotEvent, K_NONE, 0, &c, &snap) != CKR_OK)
		goto out;
	/* SoftHSM2 has no slot events (CKR_NO_EVENT without blocking,
	 * CKR_FUNCTION_NOT_SUPPORTED with); this module makes its own unless
	 * told to answer as the wrapped module does. */
	if (!snap.slot_events) {
		c.rv = real->C_WaitForSlotEvent(flags, slot, reserved);
		goto out;
	}
	if (slot == NULL || reserved != NULL) {
		c.rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	pthread_mutex_lock(&lock);
	waiters++;
	for (;;) {
		if (!initialized) {
			c.rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		ctl_reload_locked();
		for (i = 0; i < n_slots; i++)
			if (slots[i].event)
				break;
		if (i < n_slots) {
			slots[i].event = 0;
			*slot = slots[i].id;
			c.rv = CKR_OK;
			break;
		}
		if (flags & CKF_DONT_BLOCK) {
			c.rv = CKR_NO_EVENT;
			break;
		}
		pthread_mutex_unlock(&lock);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&lock);
	}
	waiters--;
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

/* ---- sessions and login ---- */

static CK_RV
fw_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR h)
{
	struct call c;

	if (enter(FAULT_FN_C_OpenSession, K_TOKEN, slot, &c, NULL) != CKR_OK ||
	    (c.rv = real->C_OpenSession(slot, flags, app, notify, h)) != CKR_OK)
		goto out;
	pthread_mutex_lock(&lock);
	if (session_add_locked(*h, slot) != 0) {
		real->C_CloseSession(*h);
		c.rv = CKR_HOST_MEMORY;
	}
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static CK_RV
fw_C_CloseSession(CK_SESSION_HANDLE h)
{
	struct call c;

	if (enter(FAULT_FN_C_CloseSession, K_NONE, 0, &c, NULL) != CKR_OK)
		goto out;
	/* A session that died with its token is already gone in the real
	 * module, which then says CKR_SESSION_HANDLE_INVALID, as tokens do. */
	c.rv = real->C_CloseSession(h);
	pthread_mutex_lock(&lock);
	session_forget_locked(h);
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static CK_RV
fw_C_CloseAllSessions(CK_SLOT_ID slot)
{
	struct call c;
	size_t i;

	if (enter(FAULT_FN_C_CloseAllSessions, K_SLOT, slot, &c, NULL) != CKR_OK)
		goto out;
	c.rv = real->C_CloseAllSessions(slot);
	pthread_mutex_lock(&lock);
	for (i = n_sessions; i > 0; i--)
		if (sessions[i - 1].slot == slot)
			session_forget_locked(sessions[i - 1].h);
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

static CK_RV
fw_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen)
{
	char pad_pin[FAULT_PIN_MAX + 1];
	size_t pad_len = 0;
	struct fault_ctl snap;
	struct call c;
	int user = type == CKU_USER || type == CKU_CONTEXT_SPECIFIC;

	if (enter(FAULT_FN_C_Login, K_SESSION, h, &c, &snap) != CKR_OK)
		goto out;
	if (!user) {
		c.rv = real->C_Login(h, type, pin, pinlen);
		goto out;
	}
	if (snap.pin_flags & CKF_USER_PIN_LOCKED) {
		c.rv = CKR_PIN_LOCKED;
		goto out;
	}
	if (pin == NULL && snap.protected_auth) {
		/* As if typed on the reader's pad: the user takes a while, may
		 * cancel, may mistype; the token checks the PIN it received. */
		if ((c.rv = sleep_watching(h, 1, snap.pad_delay_ms)) != CKR_OK)
			goto out;
		pthread_mutex_lock(&lock);
		snap = ctl;
		pad_len = ctl.pad_pin_len;
		memcpy(pad_pin, ctl.pad_pin, pad_len + 1);
		pthread_mutex_unlock(&lock);
		if (snap.pad_cancel)
			c.rv = CKR_FUNCTION_CANCELED;
		else if (snap.pin_flags & CKF_USER_PIN_LOCKED)
			c.rv = CKR_PIN_LOCKED;
		else if (snap.pin_incorrect || pad_len == 0)
			c.rv = CKR_PIN_INCORRECT;
		else
			c.rv = real->C_Login(h, type, (CK_UTF8CHAR_PTR)pad_pin, pad_len);
		goto out;
	}
	if (pin != NULL && snap.protected_auth && snap.pad_only) {
		c.rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (snap.pin_incorrect) {
		c.rv = CKR_PIN_INCORRECT;
		goto out;
	}
	c.rv = real->C_Login(h, type, pin, pinlen);
 out:
	explicit_bzero(pad_pin, sizeof(pad_pin));
	fault_ctl_wipe(&snap);
	return leave(&c);
}

/* ---- objects ---- */

/* One attribute straight from the real module into buf (ATTR_BUF bytes). */
static CK_RV
get_one(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    uint8_t *buf, CK_ULONG *lenp)
{
	CK_ATTRIBUTE a = { type, buf, ATTR_BUF };
	CK_RV rv;

	rv = real->C_GetAttributeValue(h, o, &a, 1);
	*lenp = a.ulValueLen;
	return rv;
}

static CK_OBJECT_CLASS
object_class(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof(cls) };

	if (real->C_GetAttributeValue(h, o, &a, 1) != CKR_OK)
		return (CK_OBJECT_CLASS)-1;
	return cls;
}

/*
 * The EC point of a private key, taken from the public key with the same
 * CKA_ID, as a module that keeps it on the private key would answer.  A
 * session of our own does the search, so the caller's search (if any) is
 * left alone; it shares the caller's login.
 */
static CK_RV
point_from_public(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, uint8_t *buf,
    CK_ULONG *lenp)
{
	uint8_t id[ATTR_BUF];
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, id, 0 },
	};
	CK_SESSION_HANDLE own = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE pub;
	CK_ULONG idlen, found = 0;
	CK_SLOT_ID slot = 0;
	struct session_state *s;
	CK_RV rv;
	int known;

	pthread_mutex_lock(&lock);
	if ((known = (s = session_find_locked(h)) != NULL))
		slot = s->slot;
	pthread_mutex_unlock(&lock);
	if (!known)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if ((rv = get_one(h, priv, CKA_ID, id, &idlen)) != CKR_OK)
		return rv == CKR_ATTRIBUTE_TYPE_INVALID ? rv : CKR_GENERAL_ERROR;
	tmpl[1].ulValueLen = idlen;
	if ((rv = real->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &own)) != CKR_OK)
		return rv;
	if ((rv = real->C_FindObjectsInit(own, tmpl, 2)) == CKR_OK) {
		rv = real->C_FindObjects(own, &pub, 1, &found);
		real->C_FindObjectsFinal(own);
	}
	if (rv == CKR_OK && found == 1)
		rv = get_one(own, pub, CKA_EC_POINT, buf, lenp);
	else if (rv == CKR_OK)
		rv = CKR_ATTRIBUTE_TYPE_INVALID;
	real->C_CloseSession(own);
	return rv;
}

static long
forced_len(const struct fault_ctl *snap, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < snap->n_attr_len; i++)
		if (snap->attr_len[i].type == type)
			return (long)snap->attr_len[i].len;
	return -1;
}

static int
attr_is_bent(const struct fault_ctl *snap, CK_ATTRIBUTE_TYPE type)
{
	if (type == CKA_EC_POINT && (snap->point_format != FAULT_POINT_ASIS ||
	    snap->point_on != FAULT_ON_PUBLIC))
		return 1;
	return forced_len(snap, type) >= 0;
}

/*
 * The value of one bent attribute: from the real module, moved between
 * public and private key as ec_point_on says, reshaped as ec_point_format
 * says and cut or padded as attr_len says.  CKR_ATTRIBUTE_TYPE_INVALID and
 * CKR_ATTRIBUTE_SENSITIVE are answers about the attribute; any other error
 * fails the whole call.
 */
static CK_RV
bent_value(const struct fault_ctl *snap, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls, uint8_t *out, size_t *outlenp)
{
	uint8_t buf[ATTR_BUF];
	CK_ULONG len = 0;
	size_t outlen;
	long force;
	CK_RV rv;

	if (type == CKA_EC_POINT && cls == CKO_PUBLIC_KEY &&
	    snap->point_on == FAULT_ON_PRIVATE)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	rv = get_one(h, o, type, buf, &len);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID && type == CKA_EC_POINT &&
	    cls == CKO_PRIVATE_KEY && snap->point_on != FAULT_ON_PUBLIC)
		rv = point_from_public(h, o, buf, &len);
	if (rv != CKR_OK)
		return rv;
	if (len > sizeof(buf))
		return CKR_GENERAL_ERROR;
	if (type == CKA_EC_POINT) {
		if (fault_point_transform(buf, len, snap->point_format, out,
		    ATTR_BUF, &outlen) != 0)
			return CKR_GENERAL_ERROR;
	} else {
		memcpy(out, buf, len);
		outlen = len;
	}
	if ((force = forced_len(snap, type)) >= 0) {
		if (fault_force_len(out, ATTR_BUF, outlen, (size_t)force) != 0)
			return CKR_GENERAL_ERROR;
		outlen = (size_t)force;
	}
	*outlenp = outlen;
	return CKR_OK;
}

static int
rv_is_about_attributes(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL;
}

static CK_RV
fw_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ATTRIBUTE *plain = NULL;
	CK_ULONG *plain_at = NULL, n_plain = 0, i, j;
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	CK_RV rv, worst = CKR_OK;
	uint8_t value[ATTR_BUF];
	struct fault_ctl snap;
	struct call c;
	size_t len;
	int bent = 0;

	if (enter(FAULT_FN_C_GetAttributeValue, K_SESSION, h, &c, &snap) != CKR_OK)
		goto out;
	for (i = 0; i < n && tmpl != NULL; i++)
		bent += attr_is_bent(&snap, tmpl[i].type);
	if (bent == 0) {
		c.rv = real->C_GetAttributeValue(h, o, tmpl, n);
		goto out;
	}

	/* The plain attributes go to the real module in one call, into the
	 * caller's own buffers; the bent ones are fetched one by one. */
	if ((plain = calloc(n, sizeof(*plain))) == NULL ||
	    (plain_at = calloc(n, sizeof(*plain_at))) == NULL) {
		c.rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!attr_is_bent(&snap, tmpl[i].type)) {
			plain_at[n_plain] = i;
			plain[n_plain++] = tmpl[i];
		}
	}
	if (n_plain > 0) {
		worst = real->C_GetAttributeValue(h, o, plain, n_plain);
		if (!rv_is_about_attributes(worst)) {
			c.rv = worst;
			goto out;
		}
		for (j = 0; j < n_plain; j++)
			tmpl[plain_at[j]].ulValueLen = plain[j].ulValueLen;
	}
	if (snap.point_on != FAULT_ON_PUBLIC)
		cls = object_class(h, o);
	for (i = 0; i < n; i++) {
		if (!attr_is_bent(&snap, tmpl[i].type))
			continue;
		rv = bent_value(&snap, h, o, tmpl[i].type, cls, value, &len);
		if (rv == CKR_OK && tmpl[i].pValue != NULL && tmpl[i].ulValueLen < len)
			rv = CKR_BUFFER_TOO_SMALL;
		if (!rv_is_about_attributes(rv)) {
			c.rv = rv;
			goto out;
		}
		if (rv != CKR_OK) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			/* Any one of the attribute errors may be returned; keep
			 * the first, as the real module does. */
			if (worst == CKR_OK)
				worst = rv;
			continue;
		}
		if (tmpl[i].pValue != NULL)
			memcpy(tmpl[i].pValue, value, len);
		tmpl[i].ulValueLen = len;
	}
	c.rv = worst;
 out:
	free(plain);
	free(plain_at);
	return leave(&c);
}

static CK_RV
fw_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR objs, CK_ULONG max,
    CK_ULONG_PTR count)
{
	struct fault_ctl snap;
	CK_ULONG got, i, kept;
	struct call c;

	if (enter(FAULT_FN_C_FindObjects, K_SESSION, h, &c, &snap) != CKR_OK)
		goto out;
	c.rv = real->C_FindObjects(h, objs, max, count);
	if (c.rv != CKR_OK || snap.point_on != FAULT_ON_PRIVATE || objs == NULL)
		goto out;
	/* With the point on the private key, the token has no public key
	 * objects (CloudHSM keeps none for a key it imported).  Ask again
	 * while everything found was filtered out: the real module answers 0
	 * at the end of its list, so this ends. */
	for (;;) {
		got = *count;
		for (i = 0, kept = 0; i < got; i++)
			if (object_class(h, objs[i]) != CKO_PUBLIC_KEY)
				objs[kept++] = objs[i];
		*count = kept;
		if (kept > 0 || got == 0)
			break;
		if ((c.rv = real->C_FindObjects(h, objs, max, count)) != CKR_OK)
			break;
	}
 out:
	return leave(&c);
}

/* ---- signing ---- */

static int
mechanism_is_ecdsa(CK_MECHANISM_TYPE m)
{
	return m == CKM_ECDSA || m == CKM_ECDSA_SHA1 || m == CKM_ECDSA_SHA224 ||
	    m == CKM_ECDSA_SHA256 || m == CKM_ECDSA_SHA384 || m == CKM_ECDSA_SHA512;
}

static CK_RV
fw_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	uint8_t params[ATTR_BUF];
	CK_ULONG plen = 0;
	struct session_state *s;
	struct call c;
	int ecdsa, k1 = 0;

	if (enter(FAULT_FN_C_SignInit, K_SESSION, h, &c, NULL) != CKR_OK ||
	    (c.rv = real->C_SignInit(h, m, key)) != CKR_OK)
		goto out;
	ecdsa = m != NULL && mechanism_is_ecdsa(m->mechanism);
	if (ecdsa && get_one(h, key, CKA_EC_PARAMS, params, &plen) == CKR_OK &&
	    plen == sizeof(fault_secp256k1_params) &&
	    memcmp(params, fault_secp256k1_params, plen) == 0)
		k1 = 1;
	pthread_mutex_lock(&lock);
	if ((s = session_find_locked(h)) != NULL) {
		s->sign_active = 1;
		s->sign_ecdsa = ecdsa;
		s->sign_k1 = k1;
		s->has_cached = 0;
	}
	pthread_mutex_unlock(&lock);
 out:
	return leave(&c);
}

/* End the real sign operation after an injected failure, as the spec says
 * a failed C_Sign does, so the session can start another one. */
static void
end_real_sign(int fn, CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG dlen)
{
	uint8_t scratch[FAULT_SIG_LEN_MAX];
	CK_ULONG n = sizeof(scratch);
	struct session_state *s;
	int active;

	pthread_mutex_lock(&lock);
	s = session_find_locked(h);
	active = s != NULL && s->sign_active && !s->has_cached;
	if (s != NULL)
		s->sign_active = s->has_cached = 0;
	pthread_mutex_unlock(&lock);
	if (!active)
		return;
	if (fn == FAULT_FN_C_Sign && data != NULL)
		real->C_Sign(h, data, dlen, scratch, &n);
	else
		real->C_SignFinal(h, scratch, &n);
	explicit_bzero(scratch, sizeof(scratch));
}

/*
 * C_Sign and C_SignFinal.  For ECDSA the real signature is made on the
 * first call and kept, so a caller that asks for the length first (NULL
 * buffer) gets the length of what it will receive: high-s, DER or garbage.
 */
static CK_RV
sign_common(int fn, CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG dlen,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	uint8_t raw[FAULT_SIG_LEN_MAX], out[FAULT_SIG_LEN_MAX], other[64];
	CK_ULONG rawlen = sizeof(raw);
	struct session_state *s;
	struct fault_ctl snap;
	struct call c;
	size_t outlen = 0;
	int ecdsa = 0, k1 = 0, cached = 0, keep;

	if (enter(fn, K_SESSION, h, &c, &snap) != CKR_OK) {
		if (c.injected)
			end_real_sign(fn, h, data, dlen);
		goto out;
	}
	if (siglen == NULL) {
		c.rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	pthread_mutex_lock(&lock);
	if ((s = session_find_locked(h)) != NULL) {
		ecdsa = s->sign_ecdsa;
		k1 = s->sign_k1;
		if ((cached = s->has_cached)) {
			outlen = s->cached_len;
			memcpy(out, s->cached, outlen);
		}
	}
	pthread_mutex_unlock(&lock);

	if (!cached) {
		if (snap.sign_delay_ms > 0 &&
		    (c.rv = sleep_watching(h, 1, snap.sign_delay_ms)) != CKR_OK)
			goto out;
		if (!ecdsa) {
			c.rv = fn == FAULT_FN_C_Sign ?
			    real->C_Sign(h, data, dlen, sig, siglen) :
			    real->C_SignFinal(h, sig, siglen);
			goto out;
		}
		if (fn == FAULT_FN_C_Sign && snap.sig_digest == FAULT_DIGEST_OTHER &&
		    data != NULL && dlen > 0 && dlen <= sizeof(other)) {
			/* A token that signs what it was not asked to: a valid
			 * signature by the right key over another digest. */
			memcpy(other, data, dlen);
			other[dlen - 1] ^= 1;
			data = other;
		}
		c.rv = fn == FAULT_FN_C_Sign ?
		    real->C_Sign(h, data, dlen, raw, &rawlen) :
		    real->C_SignFinal(h, raw, &rawlen);
		if (c.rv != CKR_OK)
			goto done;
		if (fault_sig_transform(raw, rawlen, k1, snap.sig_s, snap.sig_format,
		    snap.sig_len, out, sizeof(out), &outlen) != 0) {
			c.rv = CKR_GENERAL_ERROR;
			goto done;
		}
	}
	if (sig == NULL) {
		*siglen = outlen;
		keep = 1;
	} else if (*siglen < outlen) {
		*siglen = outlen;
		c.rv = CKR_BUFFER_TOO_SMALL;
		keep = 1;
	} else {
		memcpy(sig, out, outlen);
		*siglen = outlen;
		keep = 0;
	}
	pthread_mutex_lock(&lock);
	if ((s = session_find_locked(h)) != NULL) {
		s->has_cached = keep;
		s->cached_len = keep ? outlen : 0;
		if (keep)
			memcpy(s->cached, out, outlen);
		else
			s->sign_active = s->sign_ecdsa = 0;
	}
	pthread_mutex_unlock(&lock);
	goto out;
 done:
	/* The real operation has ended (a real error ends it too). */
	pthread_mutex_lock(&lock);
	if ((s = session_find_locked(h)) != NULL)
		s->sign_active = s->sign_ecdsa = s->has_cached = 0;
	pthread_mutex_unlock(&lock);
 out:
	explicit_bzero(raw, sizeof(raw));
	return leave(&c);
}

static CK_RV
fw_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG dlen, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglen)
{
	return sign_common(FAULT_FN_C_Sign, h, data, dlen, sig, siglen);
}

static CK_RV
fw_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	return sign_common(FAULT_FN_C_SignFinal, h, NULL, 0, sig, siglen);
}

/* ---- the function list ---- */

static CK_RV fw_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR listp);

static CK_FUNCTION_LIST fault_list = {
	.version = { 2, 40 },
#define FAULT_LIST_ENTRY(name) .name = fw_##name,
	FAULT_FUNCTIONS(FAULT_LIST_ENTRY)
#undef FAULT_LIST_ENTRY
};

static CK_RV
fw_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR listp)
{
	struct call c;

	enter(FAULT_FN_C_GetFunctionList, K_NONE, 0, &c, NULL);
	if (listp == NULL)
		c.rv = CKR_ARGUMENTS_BAD;
	else
		*listp = &fault_list;
	return leave(&c);
}

EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR listp)
{
	return fw_C_GetFunctionList(listp);
}
