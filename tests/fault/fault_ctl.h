/*
 * fault_ctl.h - the control file of the fault-injecting PKCS#11 module.
 *
 * TEST FIXTURE: nothing here is linked into p11signer.  The format is
 * described for test writers in tests/fault/README.md; this header is its
 * contract for the module.
 *
 * fault_ctl_parse() turns the text of a control file into a struct fault_ctl.
 * The struct is a plain value: no pointers, copy it freely, but it holds the
 * PIN-pad PIN, so a copy is cleared with fault_ctl_wipe() before it goes out
 * of scope.  An empty text gives the defaults, which inject nothing.
 *
 * The name tables (functions, CKR_ codes, CKA_ types) are shared with the
 * module, which prints the same names in its trace log and counts file.
 */
#ifndef FAULT_CTL_H
#define FAULT_CTL_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* Every function of a version 2.40 CK_FUNCTION_LIST, in its order. */
#define FAULT_FUNCTIONS(X) \
	X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetFunctionList) \
	X(C_GetSlotList) X(C_GetSlotInfo) X(C_GetTokenInfo) \
	X(C_GetMechanismList) X(C_GetMechanismInfo) X(C_InitToken) X(C_InitPIN) \
	X(C_SetPIN) X(C_OpenSession) X(C_CloseSession) X(C_CloseAllSessions) \
	X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState) \
	X(C_Login) X(C_Logout) X(C_CreateObject) X(C_CopyObject) \
	X(C_DestroyObject) X(C_GetObjectSize) X(C_GetAttributeValue) \
	X(C_SetAttributeValue) X(C_FindObjectsInit) X(C_FindObjects) \
	X(C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) \
	X(C_EncryptFinal) X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) \
	X(C_DecryptFinal) X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) \
	X(C_DigestKey) X(C_DigestFinal) X(C_SignInit) X(C_Sign) X(C_SignUpdate) \
	X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover) X(C_VerifyInit) \
	X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal) X(C_VerifyRecoverInit) \
	X(C_VerifyRecover) X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate) \
	X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey) \
	X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) \
	X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus) \
	X(C_CancelFunction) X(C_WaitForSlotEvent)

enum fault_fn {
#define FAULT_FN_ENUM(name) FAULT_FN_##name,
	FAULT_FUNCTIONS(FAULT_FN_ENUM)
#undef FAULT_FN_ENUM
	FAULT_FN_COUNT,
	FAULT_FN_ANY = -1	/* "*" in a fail rule */
};

/* Limits of one control file; a file that exceeds one is refused. */
#define FAULT_CTL_MAX_BYTES	16384
#define FAULT_MAX_RULES		16
#define FAULT_MAX_REMOVED	8
#define FAULT_MAX_ATTR_LEN	8
#define FAULT_LABEL_MAX		32	/* CK_TOKEN_INFO.label */
#define FAULT_PIN_MAX		255
#define FAULT_TOKEN_MAX		63	/* reset_counts value */
#define FAULT_DELAY_MAX_MS	600000	/* ten minutes: a test bounds its waits */
#define FAULT_SIG_LEN_MAX	512

enum fault_sig_s { FAULT_S_ASIS, FAULT_S_HIGH, FAULT_S_LOW };
enum fault_sig_format { FAULT_SIG_RAW, FAULT_SIG_DER };
enum fault_sig_digest { FAULT_DIGEST_ASIS, FAULT_DIGEST_OTHER };
enum fault_point_format { FAULT_POINT_ASIS, FAULT_POINT_DER, FAULT_POINT_RAW };
enum fault_point_on { FAULT_ON_PUBLIC, FAULT_ON_PRIVATE, FAULT_ON_BOTH };

/* fail = FUNCTION CKR_X [after=N] [times=N] [reset] */
struct fault_rule {
	int fn;			/* enum fault_fn or FAULT_FN_ANY */
	CK_RV rv;
	unsigned long after;	/* let this many matching calls through first */
	unsigned long times;	/* fail this many times, then pass; 0 = always */
	int reset;		/* also drop every session of the slot */
};

/* One item of "removed": every slot with a token, a slot ID or a label. */
struct fault_removed {
	enum { FAULT_RM_ALL, FAULT_RM_SLOT, FAULT_RM_LABEL } kind;
	CK_SLOT_ID slot;
	char label[FAULT_LABEL_MAX + 1];
};

struct fault_attr_len {
	CK_ATTRIBUTE_TYPE type;
	unsigned long len;
};

struct fault_ctl {
	enum fault_sig_s sig_s;
	enum fault_sig_format sig_format;
	enum fault_sig_digest sig_digest;	/* OTHER: C_Sign signs the data with a bit flipped */
	long sig_len;			/* -1: the real length */
	unsigned long sign_delay_ms;
	unsigned long session_info_delay_ms;

	enum fault_point_format point_format;
	enum fault_point_on point_on;
	struct fault_attr_len attr_len[FAULT_MAX_ATTR_LEN];
	size_t n_attr_len;

	struct fault_rule rules[FAULT_MAX_RULES];
	size_t n_rules;

	struct fault_removed removed[FAULT_MAX_REMOVED];
	size_t n_removed;
	int slot_events;		/* 0: C_WaitForSlotEvent is not supported */

	CK_FLAGS pin_flags;		/* CKF_USER_PIN_* added to the token info */
	int pin_incorrect;
	int protected_auth;
	int pad_only;
	int pad_cancel;
	unsigned long pad_delay_ms;
	char pad_pin[FAULT_PIN_MAX + 1];
	size_t pad_pin_len;

	char reset_counts[FAULT_TOKEN_MAX + 1];
};

/* The defaults: nothing injected, slot events supported. */
void fault_ctl_init(struct fault_ctl *ctl);

/*
 * Parse the control text (len bytes, need not be NUL-terminated) into *ctl.
 * Returns 0, or -1 with a message naming the line in err (errlen bytes,
 * always NUL-terminated); *ctl is then the defaults.  A PIN never appears in
 * a message.
 */
int fault_ctl_parse(const char *text, size_t len, struct fault_ctl *ctl,
    char *err, size_t errlen);

/* Clear the pad PIN and everything else; ctl may be NULL. */
void fault_ctl_wipe(struct fault_ctl *ctl);

/* "C_Sign" for FAULT_FN_C_Sign; "?" outside the table. */
const char *fault_fn_name(int fn);
/* FAULT_FN_* for a name, FAULT_FN_ANY for "*", -2 when unknown. */
int fault_fn_parse(const char *name);

/* "CKR_PIN_LOCKED"; for a code outside the table, "0x%lx" written to buf. */
const char *fault_ckr_name(CK_RV rv, char *buf, size_t buflen);
/* 0 and *rvp for a CKR_ name or a number (0x.. or decimal); -1 otherwise. */
int fault_ckr_parse(const char *name, CK_RV *rvp);

/* 0 and *typep for a CKA_ name or a number; -1 otherwise. */
int fault_cka_parse(const char *name, CK_ATTRIBUTE_TYPE *typep);

#endif /* FAULT_CTL_H */
