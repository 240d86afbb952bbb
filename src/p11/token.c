/*
 * token.c - secp256k1 keys on PKCS#11 tokens, through p11-kit (token.h):
 * loading a module, scanning its slots, the slot-event thread, opening
 * and closing, listing tokens and keys.  The locks and the session
 * generations are described in token_int.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/err.h"
#include "p11/registry.h"
#include "p11/token.h"
#include "p11/token_int.h"

const char *const p11_token_allowed_default[] = { "/usr/lib*/", "/usr/local/lib*/", NULL };

/* ---- module files ---- */

static void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* A copy of a NULL-terminated list of at most max strings; NULL stays NULL. */
static int
strv_copy(const char *const *in, size_t max, char ***outp)
{
	char **out = NULL;
	size_t i, n;
	int r;

	*outp = NULL;
	if (in == NULL)
		return 0;
	for (n = 0; in[n] != NULL; n++)
		if (n == max)
			return ERR_TOO_MANY;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((out[i] = strdup(in[i])) == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
	}
	*outp = out;
	out = NULL;
	r = 0;
 out:
	strv_free(out);
	return r;
}

/* Copy the allowlist, with wildcard-free entries resolved like module paths. */
static int
allowed_resolve(const char *const *in, char ***outp)
{
	char **out = NULL, *rp;
	size_t i, n, len;
	int r;

	*outp = NULL;
	for (n = 0; in[n] != NULL; n++)
		if (n >= LIMIT_P11_ALLOWED_DIRS)
			return ERR_TOO_MANY;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		len = strlen(in[i]);
		if (len < 2 || in[i][0] != '/' || in[i][len - 1] != '/' || len >= PATH_MAX) {
			r = ERR_INVALID_ARGUMENT;
			goto out;
		}
		if (strpbrk(in[i], "*?[") == NULL && (rp = realpath(in[i], NULL)) != NULL) {
			len = strlen(rp);
			if ((out[i] = malloc(len + 2)) != NULL)
				snprintf(out[i], len + 2, "%s%s", rp, rp[len - 1] == '/' ? "" : "/");
			free(rp);
		} else
			out[i] = strdup(in[i]);
		if (out[i] == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
	}
	*outp = out;
	out = NULL;
	r = 0;
 out:
	strv_free(out);
	return r;
}

static int
module_file_check(const char *path, char **allowed, char **resolvedp)
{
	struct stat st;
	char *rp;

	*resolvedp = NULL;
	if (path[0] != '/')
		return ERR_P11_MODULE_PATH;
	if (strlen(path) >= PATH_MAX)
		return ERR_TOO_LONG;
	if ((rp = realpath(path, NULL)) == NULL)
		return errno == ENOMEM ? ERR_NOMEM : ERR_P11_MODULE_PATH;
	if (stat(rp, &st) != 0 || !S_ISREG(st.st_mode)) {
		free(rp);
		return ERR_P11_MODULE_PATH;
	}
	if (!p11_token_path_allowed(rp, (const char *const *)allowed)) {
		free(rp);
		return ERR_P11_MODULE_NOT_ALLOWED;
	}
	*resolvedp = rp;
	return 0;
}

static int
module_load_path(struct p11_module *m, const char *path)
{
	void *dl = NULL;
	char *rp = NULL;
	int r;

	if ((r = module_file_check(path, m->allowed, &rp)) != 0)
		goto out;
	/*
	 * Our handle keeps the very file we checked loaded until p11-kit has
	 * opened it too (the loader then hands p11-kit the same object).
	 */
	if ((dl = dlopen(rp, RTLD_LAZY | RTLD_LOCAL)) == NULL ||
	    dlsym(dl, "C_GetFunctionList") == NULL) {
		r = ERR_P11_MODULE_NOT_PKCS11;
		goto out;
	}
	if ((m->fn = p11_kit_module_load(rp, 0)) == NULL) {
		r = ERR_P11_MODULE_LOAD;
		goto out;
	}
	m->path = rp;
	rp = NULL;
	r = 0;
 out:
	if (dl != NULL)
		dlclose(dl);
	free(rp);
	return r;
}

/*
 * A registered name: its file from p11-kit's configuration (registry.h), no
 * module loaded to find it; then that file as a path (checked, then loaded).
 */
static int
module_load_name(struct p11_module *m, const char *name)
{
	char *file = NULL;
	int r;

	if ((r = p11_registry_resolve(name, &p11_registry_default, &file, NULL, 0)) != 0)
		goto out;
	if ((r = module_load_path(m, file)) != 0)
		goto out;
	if ((m->name = strdup(name)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	r = 0;
 out:
	free(file);
	return r;
}

/* The URIs' module-path / module-name / library-* must fit the module loaded. */
static int
module_uris_check(struct p11_module *m, const CK_INFO *info)
{
	const char *mp, *mn;
	char *rp;
	size_t i;
	int same;

	for (i = 0; i < m->nsels; i++) {
		P11KitUri *u = m->sels[i].uri;

		if ((mp = p11_kit_uri_get_module_path(u)) != NULL) {
			rp = realpath(mp, NULL);
			same = rp != NULL && strcmp(rp, m->path) == 0;
			free(rp);
			if (!same)
				return ERR_P11_URI_MODULE;
		}
		if ((mn = p11_kit_uri_get_module_name(u)) != NULL &&
		    (m->name == NULL || strcmp(mn, m->name) != 0))
			return ERR_P11_URI_MODULE;
		if (info != NULL && !p11_kit_uri_match_module_info(u, info))
			return ERR_P11_URI_MODULE;
	}
	return 0;
}

/* ---- scanning slots ---- */

static void
scan_slot(struct p11_module *m, CK_SLOT_ID slot)
{
	CK_FUNCTION_LIST *fn = m->fn;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	struct tok *t;
	size_t i;
	int selected = 0, present, need, did;

	if (fn->C_GetSlotInfo(slot, &si) != CKR_OK || !(si.flags & CKF_TOKEN_PRESENT))
		return;
	if (fn->C_GetTokenInfo(slot, &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
		return;
	for (i = 0; i < m->nsels && !selected; i++)
		selected = tok_sel_matches_token(&m->sels[i], slot, &si, &ti);
	if (!selected)
		return;
	if ((t = tok_find(m, slot, &ti)) == NULL && (t = tok_new(m, slot, &si, &ti)) == NULL)
		return;
	t->seen = 1;

	pthread_mutex_lock(&t->lock);
	present = t->present;
	if (present) {
		t->slot_info = si;
		t->info = ti;
	}
	pthread_mutex_unlock(&t->lock);
	if (present)
		tok_check(t);
	if (tok_bring_up(t, slot, &si, &ti) != 0)
		return;

	pthread_mutex_lock(&t->lock);
	need = tok_needs_login(t) && t->pin_sel >= 0;
	pthread_mutex_unlock(&t->lock);
	/* A login in progress (a PIN pad) is not waited for. */
	if (need && pthread_mutex_trylock(&t->login_lock) == 0) {
		tok_login_locked(t, LOGIN_AUTO, 0, NULL, 0, &did);
		pthread_mutex_unlock(&t->login_lock);
	}
	tok_scan_keys(t);
}

int
p11_token_rescan(struct p11_module *m)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = LIMIT_P11_SLOTS, i;
	unsigned gen;
	size_t j;
	int r, present;
	CK_RV rv;

	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->scan_lock);
	if ((slots = calloc(LIMIT_P11_SLOTS, sizeof(*slots))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	rv = m->fn->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		r = ERR_TOO_MANY;
		goto out;
	}
	if (rv != CKR_OK || n > LIMIT_P11_SLOTS) {
		r = tok_rv_err(rv);
		goto out;
	}
	for (j = 0; j < m->ntokens; j++)
		m->tokens[j]->seen = 0;
	for (i = 0; i < n; i++)
		scan_slot(m, slots[i]);
	/* Tokens whose slot is empty now (or that moved, and are new there). */
	for (j = 0; j < m->ntokens; j++) {
		struct tok *t = m->tokens[j];

		if (t->seen)
			continue;
		pthread_mutex_lock(&t->lock);
		present = t->present;
		gen = t->gen;
		pthread_mutex_unlock(&t->lock);
		if (present)
			tok_removed(t, gen);
	}
	r = 0;
 out:
	pthread_mutex_unlock(&m->scan_lock);
	free(slots);
	return r;
}

/* ---- slot events ---- */

static void *
ev_main(void *arg)
{
	struct p11_module *m = arg;
	struct timespec pause = { 0, 200 * 1000000L };
	CK_SLOT_ID slot;
	CK_RV rv;

	for (;;) {
		rv = m->fn->C_WaitForSlotEvent(0, &slot, NULL);
		pthread_mutex_lock(&m->ev_lock);
		if (m->closing) {
			pthread_mutex_unlock(&m->ev_lock);
			break;
		}
		if (rv == CKR_OK) {
			m->ev_pending++;
			pthread_cond_broadcast(&m->ev_cv);
		} else if (rv != CKR_NO_EVENT) {
			m->ev_state = rv == CKR_FUNCTION_NOT_SUPPORTED ? EV_UNSUPPORTED : EV_FAILED;
			m->ev_rv = rv;
			pthread_cond_broadcast(&m->ev_cv);
			pthread_mutex_unlock(&m->ev_lock);
			break;
		}
		pthread_mutex_unlock(&m->ev_lock);
		/* A module that answers a blocking wait with "no event" is polled. */
		if (rv == CKR_NO_EVENT)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

int
p11_token_wait_event(struct p11_module *m, int timeout_ms)
{
	struct timespec deadline;
	sigset_t all, old;
	int r, rc = 0;

	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	clock_deadline_ms(&deadline, timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&m->ev_lock);
	if (!m->ev_started && !m->closing) {
		/* The thread takes no signals: they are the helper's. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&m->ev_thread, NULL, ev_main, m) == 0) {
			m->ev_started = 1;
			m->ev_state = EV_RUNNING;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!m->ev_started) {
			pthread_mutex_unlock(&m->ev_lock);
			return ERR_NOMEM;
		}
	}
	m->ev_waiters++;
	while (m->ev_pending == 0 && m->ev_state == EV_RUNNING && !m->closing &&
	    rc != ETIMEDOUT) {
		if (timeout_ms < 0)
			pthread_cond_wait(&m->ev_cv, &m->ev_lock);
		else
			rc = pthread_cond_timedwait(&m->ev_cv, &m->ev_lock, &deadline);
	}
	if (m->closing)
		r = ERR_P11_CLOSED;
	else if (m->ev_pending > 0) {
		m->ev_pending = 0;	/* events coalesce: one rescan sees them all */
		r = 0;
	} else if (m->ev_state == EV_UNSUPPORTED)
		r = ERR_P11_NO_SLOT_EVENTS;
	else if (m->ev_state == EV_FAILED)
		r = tok_rv_err(m->ev_rv);
	else
		r = ERR_TIMEOUT;
	if (--m->ev_waiters == 0 && m->closing)
		pthread_cond_broadcast(&m->ev_cv);
	pthread_mutex_unlock(&m->ev_lock);
	return r;
}

/* ---- opening and closing ---- */

static int
mod_locks_init(struct p11_module *m)
{
	if (clock_cond_init(&m->ev_cv) != 0)
		return ERR_NOMEM;
	if (pthread_mutex_init(&m->scan_lock, NULL) != 0 || pthread_mutex_init(&m->lock, NULL) != 0 ||
	    pthread_mutex_init(&m->ev_lock, NULL) != 0)
		return ERR_NOMEM;	/* not reached on Linux: these cannot fail */
	m->locks_ready = 1;
	return 0;
}

int
p11_token_open(const struct p11_module_config *cfg, struct p11_module **modp)
{
	static const char *const every_key[] = { "pkcs11:", NULL };
	const char *const *uris, *const *allowed;
	struct p11_module *m = NULL;
	CK_C_INITIALIZE_ARGS args;
	const char *module;
	size_t i, n;
	CK_RV rv;
	int r, is_path = 0;

	if (modp == NULL)
		return ERR_INVALID_ARGUMENT;
	*modp = NULL;
	if (cfg == NULL || cfg->sessions_per_token > LIMIT_P11_SESSIONS)
		return ERR_INVALID_ARGUMENT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	if ((r = mod_locks_init(m)) != 0)
		goto out;
	m->pool = cfg->sessions_per_token != 0 ? cfg->sessions_per_token :
	    P11_TOKEN_SESSIONS_DEFAULT;

	uris = cfg->uris != NULL ? cfg->uris : every_key;
	for (n = 0; uris[n] != NULL; n++) {
		if (n >= LIMIT_P11_URIS) {
			r = ERR_TOO_MANY;
			goto out;
		}
	}
	if (n == 0) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((m->sels = calloc(n, sizeof(*m->sels))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		m->nsels++;
		if ((r = tok_sel_init(&m->sels[i], uris[i])) != 0)
			goto out;
	}

	module = cfg->module;
	for (i = 0; i < m->nsels && module == NULL; i++)
		if ((module = p11_kit_uri_get_module_path(m->sels[i].uri)) != NULL)
			is_path = 1;
	for (i = 0; i < m->nsels && module == NULL; i++)
		module = p11_kit_uri_get_module_name(m->sels[i].uri);
	if (module == NULL || module[0] == '\0') {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	allowed = cfg->allowed_dirs != NULL ? cfg->allowed_dirs : p11_token_allowed_default;
	if ((r = allowed_resolve(allowed, &m->allowed)) != 0 ||
	    (r = strv_copy(cfg->pin_rejected, LIMIT_PROTO_TOKENS, &m->pin_rejected)) != 0)
		goto out;
	if (module[0] == '/')
		r = module_load_path(m, module);
	else if (is_path || strchr(module, '/') != NULL)
		r = ERR_P11_MODULE_PATH;
	else
		r = module_load_name(m, module);
	if (r != 0 || (r = module_uris_check(m, NULL)) != 0)
		goto out;

	/*
	 * Sessions are used from several threads.  A managed p11-kit module
	 * (the default) is initialised by p11-kit with CKF_OS_LOCKING_OK and
	 * ignores these arguments; an unmanaged one gets them.
	 */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = m->fn->C_Initialize(&args)) != CKR_OK) {
		r = ERR_P11_MODULE_INIT;
		goto out;
	}
	m->initialized = 1;
	if (m->fn->C_GetInfo(&m->info) != CKR_OK) {
		r = ERR_P11_MODULE_INIT;
		goto out;
	}
	if ((r = module_uris_check(m, &m->info)) != 0 || (r = p11_token_rescan(m)) != 0)
		goto out;
	*modp = m;
	m = NULL;
	r = 0;
 out:
	p11_token_close(m);
	return r;
}

void
p11_token_close(struct p11_module *m)
{
	struct timespec until;
	size_t i, j;
	int joined = 1;

	if (m == NULL)
		return;
	if (m->locks_ready) {
		pthread_mutex_lock(&m->ev_lock);
		m->closing = 1;
		pthread_cond_broadcast(&m->ev_cv);
		pthread_mutex_unlock(&m->ev_lock);
	}
	if (m->initialized) {
		/* The current sessions; C_Finalize drops whatever else the module keeps. */
		for (i = 0; i < m->ntokens; i++) {
			struct tok *t = m->tokens[i];

			for (j = 0; t->present && j < TOK_SESSIONS; j++)
				if (t->sess[j].open && t->sess[j].gen == t->gen)
					m->fn->C_CloseSession(t->sess[j].h);
		}
		/* Also ends a C_WaitForSlotEvent blocked in the event thread. */
		m->fn->C_Finalize(NULL);
	}
	if (m->ev_started) {
		clock_deadline_ms(&until, EV_JOIN_SECONDS * 1000);
		joined = pthread_clockjoin_np(m->ev_thread, NULL, CLOCK_MONOTONIC, &until) == 0;
	}
	if (m->locks_ready) {
		pthread_mutex_lock(&m->ev_lock);
		while (m->ev_waiters > 0)
			pthread_cond_wait(&m->ev_cv, &m->ev_lock);
		pthread_mutex_unlock(&m->ev_lock);
	}
	/*
	 * A module that did not end its slot-event wait at C_Finalize still has
	 * our thread inside it: neither the module nor m may go.
	 */
	if (!joined)
		return;
	if (m->fn != NULL)
		p11_kit_module_release(m->fn);
	for (i = 0; i < m->ntokens; i++)
		tok_free(m->tokens[i]);
	free(m->tokens);
	for (i = 0; i < m->nsels; i++)
		tok_sel_clear(&m->sels[i]);
	free(m->sels);
	strv_free(m->allowed);
	strv_free(m->pin_rejected);
	free(m->path);
	free(m->name);
	if (m->locks_ready) {
		pthread_mutex_destroy(&m->scan_lock);
		pthread_mutex_destroy(&m->lock);
		pthread_mutex_destroy(&m->ev_lock);
		pthread_cond_destroy(&m->ev_cv);
	}
	free(m);
}

/* ---- listing ---- */

int
p11_token_list_tokens(struct p11_module *m, struct p11_token_info **tokensp, size_t *np)
{
	struct p11_token_info *out;
	char *uri;
	size_t i, j;
	int r = 0;

	if (tokensp == NULL || np == NULL)
		return ERR_INVALID_ARGUMENT;
	*tokensp = NULL;
	*np = 0;
	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->lock);
	if ((out = calloc(m->ntokens + 1, sizeof(*out))) == NULL)
		r = ERR_NOMEM;
	for (i = 0; out != NULL && i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];
		struct p11_token_info *o = &out[i];

		pthread_mutex_lock(&t->lock);
		o->token = t->number;
		/* Present only once its keys are read: no moment of "in, with no keys". */
		o->present = t->present && t->scanned;
		o->slot = t->slot;
		tok_ck_str(o->label, sizeof(o->label), t->info.label, sizeof(t->info.label));
		tok_ck_str(o->manufacturer, sizeof(o->manufacturer), t->info.manufacturerID,
		    sizeof(t->info.manufacturerID));
		tok_ck_str(o->model, sizeof(o->model), t->info.model, sizeof(t->info.model));
		tok_ck_str(o->serial, sizeof(o->serial), t->info.serialNumber,
		    sizeof(t->info.serialNumber));
		o->token_flags = t->info.flags;
		o->slot_flags = t->slot_info.flags;
		if ((uri = tok_info_uri(&t->info)) == NULL)
			r = ERR_NOMEM;
		else if (strlen(uri) < sizeof(o->uri))
			memcpy(o->uri, uri, strlen(uri) + 1);
		free(uri);
		o->pin_state = tok_pin_state(t);
		o->login_error = t->login_error;
		for (j = 0; j < TOK_SESSIONS; j++)
			o->sessions += t->present && t->sess[j].open && t->sess[j].gen == t->gen;
		o->keys = t->present ? (unsigned)t->nkeys : 0;
		pthread_mutex_unlock(&t->lock);
	}
	if (r == 0) {
		*tokensp = out;
		*np = m->ntokens;
		out = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	free(out);
	return r;
}

void
p11_token_module_info(const struct p11_module *m, struct p11_module_info *info)
{
	tok_ck_str(info->manufacturer, sizeof(info->manufacturer), m->info.manufacturerID,
	    sizeof(m->info.manufacturerID));
	tok_ck_str(info->description, sizeof(info->description), m->info.libraryDescription,
	    sizeof(m->info.libraryDescription));
	info->version_major = m->info.libraryVersion.major;
	info->version_minor = m->info.libraryVersion.minor;
}

int
p11_token_find_token(struct p11_module *m, const char *uri, unsigned *tokenp)
{
	P11KitUri *u = NULL;
	CK_SLOT_ID want;
	size_t i, nfound = 0;
	unsigned found = 0;
	int r;

	if (tokenp == NULL || m == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = tok_uri_parse(uri, &u)) != 0)
		return r;
	want = p11_kit_uri_get_slot_id(u);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];

		pthread_mutex_lock(&t->lock);
		if ((want == (CK_SLOT_ID)-1 || want == t->slot) &&
		    p11_kit_uri_match_slot_info(u, &t->slot_info) &&
		    p11_kit_uri_match_token_info(u, &t->info)) {
			nfound++;
			found = t->number;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	tok_uri_free(u);
	if (nfound == 0)
		return ERR_P11_TOKEN_UNKNOWN;
	if (nfound > 1)
		return ERR_P11_TOKEN_AMBIGUOUS;
	*tokenp = found;
	return 0;
}

void
p11_token_keys_free(struct p11_key *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		free(keys[i].uri);
	free(keys);
}

int
p11_token_list_keys(struct p11_module *m, struct p11_key **keysp, size_t *np)
{
	struct p11_key *out = NULL;
	size_t i, j, n = 0, cap = 0;
	int r = 0;

	if (keysp == NULL || np == NULL)
		return ERR_INVALID_ARGUMENT;
	*keysp = NULL;
	*np = 0;
	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		pthread_mutex_lock(&m->tokens[i]->lock);
		if (m->tokens[i]->present)
			cap += m->tokens[i]->nkeys;
		pthread_mutex_unlock(&m->tokens[i]->lock);
	}
	/* A scan may commit more keys before they are copied: those wait for the next listing. */
	if ((out = calloc(cap + 1, sizeof(*out))) == NULL)
		r = ERR_NOMEM;
	for (i = 0; r == 0 && i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];

		pthread_mutex_lock(&t->lock);
		for (j = 0; t->present && j < t->nkeys && r == 0; j++) {
			if (n == cap)
				break;	/* a scan added keys meanwhile: the next listing has them */
			out[n] = t->keys[j].k;
			out[n].pin_state = tok_pin_state(t);
			if ((out[n].uri = strdup(t->keys[j].k.uri)) == NULL)
				r = ERR_NOMEM;
			else
				n++;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	if (r != 0) {
		p11_token_keys_free(out, n);
		return r;
	}
	*keysp = out;
	*np = n;
	return 0;
}

int
p11_token_find_uri(struct p11_module *m, const char *uri, uint8_t address[20])
{
	P11KitUri *u = NULL;
	uint8_t found[20];
	size_t i, j, nfound = 0;
	int r;

	if (m == NULL || address == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = tok_uri_parse(uri, &u)) != 0)
		return r;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];
		CK_SLOT_ID want = p11_kit_uri_get_slot_id(u);

		pthread_mutex_lock(&t->lock);
		if (t->present && (want == (CK_SLOT_ID)-1 || want == t->slot) &&
		    p11_kit_uri_match_slot_info(u, &t->slot_info) &&
		    p11_kit_uri_match_token_info(u, &t->info)) {
			for (j = 0; j < t->nkeys; j++) {
				if (!tok_uri_matches_key(u, &t->keys[j]))
					continue;
				if (nfound == 0 || memcmp(found, t->keys[j].k.address, 20) != 0)
					nfound++;
				memcpy(found, t->keys[j].k.address, 20);
			}
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	tok_uri_free(u);
	if (nfound == 0)
		return ERR_P11_KEY_NOT_FOUND;
	if (nfound > 1)
		return ERR_P11_KEY_AMBIGUOUS;
	memcpy(address, found, 20);
	return 0;
}
