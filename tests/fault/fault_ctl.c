/*
 * fault_ctl.c - parse the fault module's control file.  TEST FIXTURE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_ctl.h"

static const char *const fn_names[FAULT_FN_COUNT] = {
#define FAULT_FN_NAME(name) #name,
	FAULT_FUNCTIONS(FAULT_FN_NAME)
#undef FAULT_FN_NAME
};

#define NAMED(x) { x, #x }

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	NAMED(CKR_OK), NAMED(CKR_CANCEL), NAMED(CKR_HOST_MEMORY),
	NAMED(CKR_SLOT_ID_INVALID), NAMED(CKR_GENERAL_ERROR),
	NAMED(CKR_FUNCTION_FAILED), NAMED(CKR_ARGUMENTS_BAD),
	NAMED(CKR_NO_EVENT), NAMED(CKR_NEED_TO_CREATE_THREADS),
	NAMED(CKR_CANT_LOCK), NAMED(CKR_ATTRIBUTE_READ_ONLY),
	NAMED(CKR_ATTRIBUTE_SENSITIVE), NAMED(CKR_ATTRIBUTE_TYPE_INVALID),
	NAMED(CKR_ATTRIBUTE_VALUE_INVALID), NAMED(CKR_ACTION_PROHIBITED),
	NAMED(CKR_DATA_INVALID), NAMED(CKR_DATA_LEN_RANGE),
	NAMED(CKR_DEVICE_ERROR), NAMED(CKR_DEVICE_MEMORY),
	NAMED(CKR_DEVICE_REMOVED), NAMED(CKR_ENCRYPTED_DATA_INVALID),
	NAMED(CKR_ENCRYPTED_DATA_LEN_RANGE), NAMED(CKR_FUNCTION_CANCELED),
	NAMED(CKR_FUNCTION_NOT_PARALLEL), NAMED(CKR_FUNCTION_NOT_SUPPORTED),
	NAMED(CKR_KEY_HANDLE_INVALID), NAMED(CKR_KEY_SIZE_RANGE),
	NAMED(CKR_KEY_TYPE_INCONSISTENT), NAMED(CKR_KEY_FUNCTION_NOT_PERMITTED),
	NAMED(CKR_KEY_UNEXTRACTABLE), NAMED(CKR_MECHANISM_INVALID),
	NAMED(CKR_MECHANISM_PARAM_INVALID), NAMED(CKR_OBJECT_HANDLE_INVALID),
	NAMED(CKR_OPERATION_ACTIVE), NAMED(CKR_OPERATION_NOT_INITIALIZED),
	NAMED(CKR_PIN_INCORRECT), NAMED(CKR_PIN_INVALID),
	NAMED(CKR_PIN_LEN_RANGE), NAMED(CKR_PIN_EXPIRED), NAMED(CKR_PIN_LOCKED),
	NAMED(CKR_SESSION_CLOSED), NAMED(CKR_SESSION_COUNT),
	NAMED(CKR_SESSION_HANDLE_INVALID),
	NAMED(CKR_SESSION_PARALLEL_NOT_SUPPORTED), NAMED(CKR_SESSION_READ_ONLY),
	NAMED(CKR_SESSION_EXISTS), NAMED(CKR_SESSION_READ_ONLY_EXISTS),
	NAMED(CKR_SESSION_READ_WRITE_SO_EXISTS), NAMED(CKR_SIGNATURE_INVALID),
	NAMED(CKR_SIGNATURE_LEN_RANGE), NAMED(CKR_TEMPLATE_INCOMPLETE),
	NAMED(CKR_TEMPLATE_INCONSISTENT), NAMED(CKR_TOKEN_NOT_PRESENT),
	NAMED(CKR_TOKEN_NOT_RECOGNIZED), NAMED(CKR_TOKEN_WRITE_PROTECTED),
	NAMED(CKR_USER_ALREADY_LOGGED_IN), NAMED(CKR_USER_NOT_LOGGED_IN),
	NAMED(CKR_USER_PIN_NOT_INITIALIZED), NAMED(CKR_USER_TYPE_INVALID),
	NAMED(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	NAMED(CKR_USER_TOO_MANY_TYPES), NAMED(CKR_RANDOM_NO_RNG),
	NAMED(CKR_DOMAIN_PARAMS_INVALID), NAMED(CKR_CURVE_NOT_SUPPORTED),
	NAMED(CKR_BUFFER_TOO_SMALL), NAMED(CKR_SAVED_STATE_INVALID),
	NAMED(CKR_INFORMATION_SENSITIVE), NAMED(CKR_STATE_UNSAVEABLE),
	NAMED(CKR_CRYPTOKI_NOT_INITIALIZED),
	NAMED(CKR_CRYPTOKI_ALREADY_INITIALIZED), NAMED(CKR_MUTEX_BAD),
	NAMED(CKR_MUTEX_NOT_LOCKED), NAMED(CKR_FUNCTION_REJECTED),
};

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
} cka_names[] = {
	NAMED(CKA_CLASS), NAMED(CKA_TOKEN), NAMED(CKA_PRIVATE),
	NAMED(CKA_LABEL), NAMED(CKA_VALUE), NAMED(CKA_KEY_TYPE), NAMED(CKA_ID),
	NAMED(CKA_SENSITIVE), NAMED(CKA_SIGN), NAMED(CKA_VERIFY),
	NAMED(CKA_EXTRACTABLE), NAMED(CKA_LOCAL), NAMED(CKA_EC_PARAMS),
	NAMED(CKA_EC_POINT), NAMED(CKA_ALWAYS_AUTHENTICATE),
};

#undef NAMED

const char *
fault_fn_name(int fn)
{
	if (fn < 0 || fn >= FAULT_FN_COUNT)
		return "?";
	return fn_names[fn];
}

int
fault_fn_parse(const char *name)
{
	int i;

	if (strcmp(name, "*") == 0)
		return FAULT_FN_ANY;
	for (i = 0; i < FAULT_FN_COUNT; i++)
		if (strcmp(name, fn_names[i]) == 0)
			return i;
	return -2;
}

const char *
fault_ckr_name(CK_RV rv, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(buf, buflen, "0x%lx", (unsigned long)rv);
	return buf;
}

/* A whole-string unsigned number, decimal or 0x hex. */
static int
parse_ulong(const char *s, unsigned long max, unsigned long *outp)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*outp = v;
	return 0;
}

int
fault_ckr_parse(const char *name, CK_RV *rvp)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++) {
		if (strcmp(ckr_names[i].name, name) == 0) {
			*rvp = ckr_names[i].rv;
			return 0;
		}
	}
	if (parse_ulong(name, (unsigned long)-1, &v) != 0)
		return -1;
	*rvp = v;
	return 0;
}

int
fault_cka_parse(const char *name, CK_ATTRIBUTE_TYPE *typep)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(cka_names) / sizeof(cka_names[0]); i++) {
		if (strcmp(cka_names[i].name, name) == 0) {
			*typep = cka_names[i].type;
			return 0;
		}
	}
	if (parse_ulong(name, (unsigned long)-1, &v) != 0)
		return -1;
	*typep = v;
	return 0;
}

void
fault_ctl_init(struct fault_ctl *ctl)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->sig_s = FAULT_S_ASIS;
	ctl->sig_format = FAULT_SIG_RAW;
	ctl->sig_digest = FAULT_DIGEST_ASIS;
	ctl->sig_len = -1;
	ctl->point_format = FAULT_POINT_ASIS;
	ctl->point_on = FAULT_ON_PUBLIC;
	ctl->slot_events = 1;
}

void
fault_ctl_wipe(struct fault_ctl *ctl)
{
	if (ctl != NULL)
		explicit_bzero(ctl, sizeof(*ctl));
}

#define MAX_WORDS 8

/* Split s in place at blanks; returns the number of words, or -1 if more
 * than MAX_WORDS. */
static int
split_words(char *s, char *words[MAX_WORDS])
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return n;
		if (n == MAX_WORDS)
			return -1;
		words[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static int
parse_bool(const char *s, int *outp)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*outp = 1;
	else if (strcmp(s, "0") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*outp = 0;
	else
		return -1;
	return 0;
}

static int
parse_rule(char **w, int n, struct fault_rule *rule)
{
	int i, fn;

	if (n < 2)
		return -1;
	memset(rule, 0, sizeof(*rule));
	if ((fn = fault_fn_parse(w[0])) == -2)
		return -1;
	rule->fn = fn;
	if (fault_ckr_parse(w[1], &rule->rv) != 0 || rule->rv == CKR_OK)
		return -1;
	for (i = 2; i < n; i++) {
		if (strncmp(w[i], "after=", 6) == 0) {
			if (parse_ulong(w[i] + 6, 1000000000UL, &rule->after) != 0)
				return -1;
		} else if (strncmp(w[i], "times=", 6) == 0) {
			if (parse_ulong(w[i] + 6, 1000000000UL, &rule->times) != 0)
				return -1;
		} else if (strcmp(w[i], "reset") == 0) {
			rule->reset = 1;
		} else {
			return -1;
		}
	}
	return 0;
}

static int
parse_removed(char **w, int n, struct fault_ctl *ctl)
{
	struct fault_removed *item;
	unsigned long v;
	int i;

	ctl->n_removed = 0;
	for (i = 0; i < n; i++) {
		if (ctl->n_removed == FAULT_MAX_REMOVED)
			return -1;
		item = &ctl->removed[ctl->n_removed++];
		memset(item, 0, sizeof(*item));
		if (strcmp(w[i], "*") == 0) {
			item->kind = FAULT_RM_ALL;
		} else if (strncmp(w[i], "slot:", 5) == 0) {
			if (parse_ulong(w[i] + 5, (unsigned long)-1, &v) != 0)
				return -1;
			item->kind = FAULT_RM_SLOT;
			item->slot = v;
		} else {
			if (strlen(w[i]) > FAULT_LABEL_MAX)
				return -1;
			item->kind = FAULT_RM_LABEL;
			strcpy(item->label, w[i]);
		}
	}
	return 0;
}

static int
parse_pin_flags(char **w, int n, CK_FLAGS *flagsp)
{
	CK_FLAGS flags = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (strcmp(w[i], "count_low") == 0)
			flags |= CKF_USER_PIN_COUNT_LOW;
		else if (strcmp(w[i], "final_try") == 0)
			flags |= CKF_USER_PIN_FINAL_TRY;
		else if (strcmp(w[i], "locked") == 0)
			flags |= CKF_USER_PIN_LOCKED;
		else if (strcmp(w[i], "to_be_changed") == 0)
			flags |= CKF_USER_PIN_TO_BE_CHANGED;
		else if (strcmp(w[i], "none") != 0)
			return -1;
	}
	*flagsp = flags;
	return 0;
}

/* One "key = value" line, already split off its key; value is writable. */
static int
parse_setting(struct fault_ctl *ctl, const char *key, char *value)
{
	char *w[MAX_WORDS];
	unsigned long v;
	int n;

	/* The pad PIN is taken whole, blanks and all, as typed on a pad. */
	if (strcmp(key, "pad_pin") == 0) {
		size_t len = strlen(value);

		if (len > FAULT_PIN_MAX)
			return -1;
		memcpy(ctl->pad_pin, value, len);
		ctl->pad_pin[len] = '\0';
		ctl->pad_pin_len = len;
		return 0;
	}
	if ((n = split_words(value, w)) < 0)
		return -1;

	if (strcmp(key, "fail") == 0) {
		if (ctl->n_rules == FAULT_MAX_RULES)
			return -1;
		return parse_rule(w, n, &ctl->rules[ctl->n_rules++]);
	}
	if (strcmp(key, "removed") == 0)
		return parse_removed(w, n, ctl);
	if (strcmp(key, "pin_flags") == 0)
		return parse_pin_flags(w, n, &ctl->pin_flags);
	if (strcmp(key, "attr_len") == 0) {
		struct fault_attr_len *a;

		if (n != 2 || ctl->n_attr_len == FAULT_MAX_ATTR_LEN)
			return -1;
		a = &ctl->attr_len[ctl->n_attr_len++];
		if (fault_cka_parse(w[0], &a->type) != 0 ||
		    parse_ulong(w[1], 4096, &a->len) != 0)
			return -1;
		return 0;
	}
	if (strcmp(key, "reset_counts") == 0) {
		if (n != 1 || strlen(w[0]) > FAULT_TOKEN_MAX)
			return -1;
		strcpy(ctl->reset_counts, w[0]);
		return 0;
	}

	/* Everything else takes exactly one word. */
	if (n != 1)
		return -1;
	if (strcmp(key, "sig_s") == 0) {
		if (strcmp(w[0], "asis") == 0)
			ctl->sig_s = FAULT_S_ASIS;
		else if (strcmp(w[0], "high") == 0)
			ctl->sig_s = FAULT_S_HIGH;
		else if (strcmp(w[0], "low") == 0)
			ctl->sig_s = FAULT_S_LOW;
		else
			return -1;
	} else if (strcmp(key, "sig_format") == 0) {
		if (strcmp(w[0], "raw") == 0)
			ctl->sig_format = FAULT_SIG_RAW;
		else if (strcmp(w[0], "der") == 0)
			ctl->sig_format = FAULT_SIG_DER;
		else
			return -1;
	} else if (strcmp(key, "sig_digest") == 0) {
		if (strcmp(w[0], "asis") == 0)
			ctl->sig_digest = FAULT_DIGEST_ASIS;
		else if (strcmp(w[0], "other") == 0)
			ctl->sig_digest = FAULT_DIGEST_OTHER;
		else
			return -1;
	} else if (strcmp(key, "sig_len") == 0) {
		if (strcmp(w[0], "real") == 0)
			ctl->sig_len = -1;
		else if (parse_ulong(w[0], FAULT_SIG_LEN_MAX, &v) == 0)
			ctl->sig_len = (long)v;
		else
			return -1;
	} else if (strcmp(key, "sign_delay_ms") == 0) {
		return parse_ulong(w[0], FAULT_DELAY_MAX_MS, &ctl->sign_delay_ms);
	} else if (strcmp(key, "ec_point_format") == 0) {
		if (strcmp(w[0], "asis") == 0)
			ctl->point_format = FAULT_POINT_ASIS;
		else if (strcmp(w[0], "der") == 0)
			ctl->point_format = FAULT_POINT_DER;
		else if (strcmp(w[0], "raw") == 0)
			ctl->point_format = FAULT_POINT_RAW;
		else
			return -1;
	} else if (strcmp(key, "ec_point_on") == 0) {
		if (strcmp(w[0], "public") == 0)
			ctl->point_on = FAULT_ON_PUBLIC;
		else if (strcmp(w[0], "private") == 0)
			ctl->point_on = FAULT_ON_PRIVATE;
		else if (strcmp(w[0], "both") == 0)
			ctl->point_on = FAULT_ON_BOTH;
		else
			return -1;
	} else if (strcmp(key, "slot_events") == 0) {
		return parse_bool(w[0], &ctl->slot_events);
	} else if (strcmp(key, "pin_incorrect") == 0) {
		return parse_bool(w[0], &ctl->pin_incorrect);
	} else if (strcmp(key, "protected_auth") == 0) {
		return parse_bool(w[0], &ctl->protected_auth);
	} else if (strcmp(key, "pad_only") == 0) {
		return parse_bool(w[0], &ctl->pad_only);
	} else if (strcmp(key, "pad_cancel") == 0) {
		return parse_bool(w[0], &ctl->pad_cancel);
	} else if (strcmp(key, "pad_delay_ms") == 0) {
		return parse_ulong(w[0], FAULT_DELAY_MAX_MS, &ctl->pad_delay_ms);
	} else if (strcmp(key, "session_info_delay_ms") == 0) {
		return parse_ulong(w[0], FAULT_DELAY_MAX_MS, &ctl->session_info_delay_ms);
	} else {
		return -1;
	}
	return 0;
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
fault_ctl_parse(const char *text, size_t len, struct fault_ctl *ctl,
    char *err, size_t errlen)
{
	char line[1024];
	const char *p = text, *end = text + len, *nl;
	char *key, *value, *eq, *s;
	size_t linelen, lineno = 0;
	int r = -1;

	fault_ctl_init(ctl);
	set_err(err, errlen, "no error");
	if (len > FAULT_CTL_MAX_BYTES) {
		set_err(err, errlen, "control file longer than %d bytes",
		    FAULT_CTL_MAX_BYTES);
		goto out;
	}
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		linelen = (size_t)((nl != NULL ? nl : end) - p);
		if (linelen >= sizeof(line)) {
			set_err(err, errlen, "line %zu: too long", lineno);
			goto out;
		}
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		p += linelen + (nl != NULL);

		/* Comments and blank lines; trailing blanks and CR go too. */
		s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		while (linelen > 0 && (line[linelen - 1] == ' ' ||
		    line[linelen - 1] == '\t' || line[linelen - 1] == '\r'))
			line[--linelen] = '\0';

		if ((eq = strchr(s, '=')) == NULL) {
			set_err(err, errlen, "line %zu: expected key = value", lineno);
			goto out;
		}
		key = s;
		value = eq + 1;
		*eq = '\0';
		while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t'))
			*--eq = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		if (parse_setting(ctl, key, value) != 0) {
			/* Name the key, never the value: it may be the PIN. */
			set_err(err, errlen, "line %zu: bad value for key \"%.40s\" "
			    "(or unknown key)", lineno, key);
			goto out;
		}
	}
	/* success */
	r = 0;
 out:
	explicit_bzero(line, sizeof(line));
	if (r != 0) {
		fault_ctl_wipe(ctl);
		fault_ctl_init(ctl);
	}
	return r;
}
