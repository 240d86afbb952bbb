/*
 * p11drive - a small PKCS#11 consumer that runs a script of steps against a
 * module and prints one line per step, for tests/integration/fixtures.test.
 *
 * TEST TOOL, never installed.  It exists for what pkcs11-tool cannot do:
 * C_WaitForSlotEvent (blocking, non-blocking, and unblocked by C_Finalize),
 * C_Login with a NULL PIN, the exact return codes of each call, two-call
 * length queries, several threads signing at once, and changing the fault
 * module's control file while the module is in use.
 *
 *   p11drive MODULE STEP...
 *
 * The module is initialised with CKF_OS_LOCKING_OK, as the token helper
 * does, and finalised at the end.  The user PIN comes from the environment
 * (P11DRIVE_PIN), never from the command line.  Steps:
 *
 *   find LABEL            pick the slot whose token has this label
 *   slots                 "slots present=N all=N"
 *   slotinfo              "slotinfo rv=.. present=0|1 removable=0|1"
 *   tokeninfo             "tokeninfo rv=.. flags=name,name,.."
 *   open                  open a session on the slot (replaces the last)
 *   close                 close it
 *   login | login-null    C_Login(CKU_USER) with $P11DRIVE_PIN, or NULL
 *   sign KEY HEX          CKM_ECDSA over the bytes HEX with the private key
 *                         labelled KEY: length query, then the signature
 *                         "sign rv=.. len=N sig=HEX"
 *   ecpoint KEY public|private   "ecpoint rv=.. len=N value=HEX"
 *   wait block|noblock [MS]      C_WaitForSlotEvent; a blocking wait still
 *                         running after MS (default 5000) is ended by
 *                         C_Finalize: "wait rv=.. slot=ID"
 *   threads N COUNT KEY   N threads, one session each, COUNT signatures
 *                         each: "tsig DIGEST SIG" lines, then "threads ok=N"
 *   ctl TEXT              write TEXT (\n for newlines) to $P11FAULT_CTL,
 *                         atomically, while the module is loaded
 *   sleep MS
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_ctl.h"

#define MAX_STEP_THREADS 8
#define MAX_STEP_COUNT 10000
#define MAX_SIG 1024

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static int have_slot;
static CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *
rvname(CK_RV rv)
{
	static char buf[32];

	return fault_ckr_name(rv, buf, sizeof(buf));
}

static void
print_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static int
parse_hex(const char *s, uint8_t *out, size_t cap, size_t *lenp)
{
	size_t n = strlen(s), i;
	unsigned v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*lenp = n / 2;
	return 0;
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
step_find(const char *label)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);
	CK_RV rv;

	if ((rv = p11->C_GetSlotList(CK_FALSE, ids, &n)) != CKR_OK) {
		printf("find rv=%s\n", rvname(rv));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (p11->C_GetTokenInfo(ids[i], &ti) != CKR_OK || len > 32)
			continue;
		if (memcmp(ti.label, label, len) == 0 &&
		    (len == 32 || ti.label[len] == ' ')) {
			slot = ids[i];
			have_slot = 1;
			printf("find slot=%lu\n", (unsigned long)slot);
			return 0;
		}
	}
	printf("find rv=notfound\n");
	return -1;
}

static void
step_slots(void)
{
	CK_ULONG present = 0, all = 0;
	CK_RV rv;

	if ((rv = p11->C_GetSlotList(CK_TRUE, NULL, &present)) == CKR_OK)
		rv = p11->C_GetSlotList(CK_FALSE, NULL, &all);
	printf("slots rv=%s present=%lu all=%lu\n", rvname(rv),
	    (unsigned long)present, (unsigned long)all);
}

static void
step_slotinfo(void)
{
	CK_SLOT_INFO si;
	CK_RV rv = p11->C_GetSlotInfo(slot, &si);

	printf("slotinfo rv=%s present=%d removable=%d\n", rvname(rv),
	    rv == CKR_OK && (si.flags & CKF_TOKEN_PRESENT) != 0,
	    rv == CKR_OK && (si.flags & CKF_REMOVABLE_DEVICE) != 0);
}

static void
step_tokeninfo(void)
{
	static const struct {
		CK_FLAGS flag;
		const char *name;
	} names[] = {
		{ CKF_LOGIN_REQUIRED, "login_required" },
		{ CKF_PROTECTED_AUTHENTICATION_PATH, "protected_auth" },
		{ CKF_USER_PIN_COUNT_LOW, "count_low" },
		{ CKF_USER_PIN_FINAL_TRY, "final_try" },
		{ CKF_USER_PIN_LOCKED, "locked" },
		{ CKF_USER_PIN_TO_BE_CHANGED, "to_be_changed" },
	};
	CK_TOKEN_INFO ti;
	CK_RV rv = p11->C_GetTokenInfo(slot, &ti);
	const char *sep = "";
	size_t i;

	printf("tokeninfo rv=%s flags=", rvname(rv));
	for (i = 0; rv == CKR_OK && i < sizeof(names) / sizeof(names[0]); i++) {
		if (ti.flags & names[i].flag) {
			printf("%s%s", sep, names[i].name);
			sep = ",";
		}
	}
	printf("\n");
}

static void
step_open(void)
{
	CK_RV rv;

	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &session);
	if (rv != CKR_OK)
		session = CK_INVALID_HANDLE;
	printf("open rv=%s\n", rvname(rv));
}

static void
step_close(void)
{
	CK_RV rv = p11->C_CloseSession(session);

	session = CK_INVALID_HANDLE;
	printf("close rv=%s\n", rvname(rv));
}

static void
step_login(int null_pin)
{
	const char *pin = getenv("P11DRIVE_PIN");
	CK_RV rv;

	if (null_pin)
		rv = p11->C_Login(session, CKU_USER, NULL, 0);
	else if (pin == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin,
		    strlen(pin));
	printf("login rv=%s\n", rvname(rv));
}

static CK_RV
find_key(CK_SESSION_HANDLE h, const char *label, CK_OBJECT_CLASS cls,
    CK_OBJECT_HANDLE *keyp)
{
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_ULONG found = 0;
	CK_RV rv;

	if ((rv = p11->C_FindObjectsInit(h, tmpl, 2)) != CKR_OK)
		return rv;
	rv = p11->C_FindObjects(h, keyp, 1, &found);
	p11->C_FindObjectsFinal(h);
	if (rv == CKR_OK && found != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	return rv;
}

/* Length query, then the signature into a buffer of exactly that length. */
static CK_RV
sign_digest(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, const uint8_t *digest,
    size_t dlen, uint8_t *sig, CK_ULONG *siglenp)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG len = 0;
	CK_RV rv;

	if ((rv = p11->C_SignInit(h, &mech, key)) != CKR_OK)
		return rv;
	if ((rv = p11->C_Sign(h, (CK_BYTE_PTR)(uintptr_t)digest, dlen, NULL, &len)) != CKR_OK)
		return rv;
	if (len > MAX_SIG)
		return CKR_GENERAL_ERROR;
	rv = p11->C_Sign(h, (CK_BYTE_PTR)(uintptr_t)digest, dlen, sig, &len);
	*siglenp = len;
	return rv;
}

static void
step_sign(const char *label, const char *hex)
{
	uint8_t digest[64], sig[MAX_SIG];
	CK_OBJECT_HANDLE key;
	CK_ULONG siglen = 0;
	size_t dlen;
	CK_RV rv;

	if (parse_hex(hex, digest, sizeof(digest), &dlen) != 0)
		rv = CKR_ARGUMENTS_BAD;
	else if ((rv = find_key(session, label, CKO_PRIVATE_KEY, &key)) == CKR_OK)
		rv = sign_digest(session, key, digest, dlen, sig, &siglen);
	printf("sign rv=%s len=%lu sig=", rvname(rv), (unsigned long)siglen);
	if (rv == CKR_OK)
		print_hex(sig, siglen);
	printf("\n");
}

static void
step_ecpoint(const char *label, const char *which)
{
	CK_OBJECT_CLASS cls = strcmp(which, "private") == 0 ?
	    CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
	uint8_t value[MAX_SIG];
	CK_ATTRIBUTE a = { CKA_EC_POINT, NULL, 0 };
	CK_OBJECT_HANDLE key;
	CK_RV rv;

	if ((rv = find_key(session, label, cls, &key)) == CKR_OK &&
	    (rv = p11->C_GetAttributeValue(session, key, &a, 1)) == CKR_OK) {
		if (a.ulValueLen > sizeof(value)) {
			rv = CKR_GENERAL_ERROR;
		} else {
			a.pValue = value;
			rv = p11->C_GetAttributeValue(session, key, &a, 1);
		}
	}
	printf("ecpoint rv=%s len=%ld value=", rvname(rv),
	    rv == CKR_OK ? (long)a.ulValueLen : -1L);
	if (rv == CKR_OK)
		print_hex(value, a.ulValueLen);
	printf("\n");
}

struct waiter {
	CK_FLAGS flags;
	CK_SLOT_ID slot;
	CK_RV rv;
	int done;
	pthread_mutex_t lock;
};

static void *
wait_thread(void *arg)
{
	struct waiter *w = arg;
	CK_SLOT_ID id = 0;
	CK_RV rv = p11->C_WaitForSlotEvent(w->flags, &id, NULL);

	pthread_mutex_lock(&w->lock);
	w->rv = rv;
	w->slot = id;
	w->done = 1;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Returns 1 when C_Finalize had to end the wait (the module is then gone
 * and the script stops). */
static int
step_wait(const char *mode, unsigned long ms)
{
	struct waiter w = { 0 };
	unsigned long waited = 0;
	pthread_t t;
	int done, finalized = 0;

	w.flags = strcmp(mode, "noblock") == 0 ? CKF_DONT_BLOCK : 0;
	pthread_mutex_init(&w.lock, NULL);
	if (pthread_create(&t, NULL, wait_thread, &w) != 0) {
		printf("wait rv=nothread\n");
		return 0;
	}
	for (;;) {
		pthread_mutex_lock(&w.lock);
		done = w.done;
		pthread_mutex_unlock(&w.lock);
		if (done || waited >= ms)
			break;
		sleep_ms(10);
		waited += 10;
	}
	if (!done) {
		/* PKCS#11: C_Finalize makes a blocked wait return
		 * CKR_CRYPTOKI_NOT_INITIALIZED. */
		printf("wait timeout finalize=%s\n", rvname(p11->C_Finalize(NULL)));
		finalized = 1;
	}
	pthread_join(t, NULL);
	printf("wait rv=%s slot=%lu\n", rvname(w.rv),
	    w.rv == CKR_OK ? (unsigned long)w.slot : 0UL);
	pthread_mutex_destroy(&w.lock);
	return finalized;
}

struct signer {
	int index;
	unsigned long count;
	const char *label;
	unsigned long ok;
};

static void *
sign_thread(void *arg)
{
	struct signer *sg = arg;
	uint8_t digest[32], sig[MAX_SIG];
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE key;
	CK_ULONG siglen;
	unsigned long i;
	size_t j;
	CK_RV rv;

	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h)) != CKR_OK) {
		pthread_mutex_lock(&print_lock);
		printf("thread %d open rv=%s\n", sg->index, rvname(rv));
		pthread_mutex_unlock(&print_lock);
		return NULL;
	}
	if ((rv = find_key(h, sg->label, CKO_PRIVATE_KEY, &key)) != CKR_OK)
		goto out;
	for (i = 0; i < sg->count; i++) {
		/* Distinct digests per thread and index, no two alike. */
		for (j = 0; j < sizeof(digest); j++)
			digest[j] = (uint8_t)(j * 7 + i * 13 + (unsigned)sg->index * 101);
		digest[0] = (uint8_t)sg->index;
		digest[1] = (uint8_t)(i >> 8);
		digest[2] = (uint8_t)i;
		if ((rv = sign_digest(h, key, digest, sizeof(digest), sig, &siglen)) != CKR_OK)
			break;
		pthread_mutex_lock(&print_lock);
		printf("tsig ");
		print_hex(digest, sizeof(digest));
		printf(" ");
		print_hex(sig, siglen);
		printf("\n");
		pthread_mutex_unlock(&print_lock);
		sg->ok++;
	}
 out:
	if (rv != CKR_OK) {
		pthread_mutex_lock(&print_lock);
		printf("thread %d rv=%s\n", sg->index, rvname(rv));
		pthread_mutex_unlock(&print_lock);
	}
	p11->C_CloseSession(h);
	return NULL;
}

static void
step_threads(unsigned long n, unsigned long count, const char *label)
{
	struct signer sg[MAX_STEP_THREADS];
	pthread_t t[MAX_STEP_THREADS];
	unsigned long i, ok = 0, started = 0;

	if (n > MAX_STEP_THREADS)
		n = MAX_STEP_THREADS;
	if (count > MAX_STEP_COUNT)
		count = MAX_STEP_COUNT;
	for (i = 0; i < n; i++) {
		sg[i].index = (int)i;
		sg[i].count = count;
		sg[i].label = label;
		sg[i].ok = 0;
		if (pthread_create(&t[i], NULL, sign_thread, &sg[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		ok += sg[i].ok;
	}
	printf("threads ok=%lu\n", ok);
}

/* Write the control file the way tests must: whole, then renamed. */
static void
step_ctl(const char *text)
{
	const char *path = getenv("P11FAULT_CTL");
	char tmp[4096];
	FILE *f;
	const char *p;

	if (path == NULL || snprintf(tmp, sizeof(tmp), "%s.drive.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp) || (f = fopen(tmp, "w")) == NULL) {
		printf("ctl rv=failed\n");
		return;
	}
	for (p = text; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] == 'n') {
			fputc('\n', f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
	fputc('\n', f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		printf("ctl rv=failed\n");
		return;
	}
	printf("ctl rv=ok\n");
}

static int
need(int argc, int i, int n)
{
	if (i + n >= argc) {
		fprintf(stderr, "p11drive: step needs %d argument(s)\n", n);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS init = { 0 };
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	void *dl;
	CK_RV rv;
	int i, finalized = 0, status = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: p11drive MODULE STEP...\n");
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11drive: %s\n", dlerror());
		return 1;
	}
	*(void **)(&get_list) = dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&p11) != CKR_OK) {
		fprintf(stderr, "p11drive: no C_GetFunctionList\n");
		return 1;
	}
	init.flags = CKF_OS_LOCKING_OK;
	if ((rv = p11->C_Initialize(&init)) != CKR_OK) {
		printf("init rv=%s\n", rvname(rv));
		return 1;
	}
	for (i = 2; i < argc && !finalized; i++) {
		const char *s = argv[i];

		if (strcmp(s, "find") == 0) {
			if (need(argc, i, 1) || step_find(argv[++i]) != 0)
				goto out;
		} else if (!have_slot && strcmp(s, "slots") != 0 &&
		    strcmp(s, "ctl") != 0 && strcmp(s, "sleep") != 0 &&
		    strcmp(s, "wait") != 0) {
			fprintf(stderr, "p11drive: %s before find\n", s);
			goto out;
		} else if (strcmp(s, "slots") == 0) {
			step_slots();
		} else if (strcmp(s, "slotinfo") == 0) {
			step_slotinfo();
		} else if (strcmp(s, "tokeninfo") == 0) {
			step_tokeninfo();
		} else if (strcmp(s, "open") == 0) {
			step_open();
		} else if (strcmp(s, "close") == 0) {
			step_close();
		} else if (strcmp(s, "login") == 0) {
			step_login(0);
		} else if (strcmp(s, "login-null") == 0) {
			step_login(1);
		} else if (strcmp(s, "sign") == 0) {
			if (need(argc, i, 2))
				goto out;
			step_sign(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(s, "ecpoint") == 0) {
			if (need(argc, i, 2))
				goto out;
			step_ecpoint(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(s, "wait") == 0) {
			unsigned long ms = 5000;

			if (need(argc, i, 1))
				goto out;
			if (i + 2 < argc && argv[i + 2][0] >= '0' && argv[i + 2][0] <= '9') {
				ms = strtoul(argv[i + 2], NULL, 10);
				finalized = step_wait(argv[i + 1], ms);
				i += 2;
			} else {
				finalized = step_wait(argv[++i], ms);
			}
		} else if (strcmp(s, "threads") == 0) {
			if (need(argc, i, 3))
				goto out;
			step_threads(strtoul(argv[i + 1], NULL, 10),
			    strtoul(argv[i + 2], NULL, 10), argv[i + 3]);
			i += 3;
		} else if (strcmp(s, "ctl") == 0) {
			if (need(argc, i, 1))
				goto out;
			step_ctl(argv[++i]);
		} else if (strcmp(s, "sleep") == 0) {
			if (need(argc, i, 1))
				goto out;
			sleep_ms(strtoul(argv[++i], NULL, 10));
		} else {
			fprintf(stderr, "p11drive: unknown step %s\n", s);
			goto out;
		}
	}
	status = 0;
 out:
	if (!finalized)
		printf("finalize rv=%s\n", rvname(p11->C_Finalize(NULL)));
	return status;
}
