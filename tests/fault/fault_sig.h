/*
 * fault_sig.h - how the fault module bends signatures and EC points.
 *
 * TEST FIXTURE.  These turn what SoftHSM2 returns into what other tokens
 * return (high-s, DER, raw points) or into garbage (wrong lengths).  They
 * never make a signature invalid except through a forced length: a high-s
 * signature is still a valid ECDSA signature, which is the point of the test.
 *
 * The s flip uses libsecp256k1 (s := n - s), so it is done only for
 * secp256k1 signatures; other curves keep their s.
 */
#ifndef FAULT_SIG_H
#define FAULT_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "fault_ctl.h"

/* DER of the secp256k1 OID 1.3.132.0.10, as CKA_EC_PARAMS holds it. */
extern const uint8_t fault_secp256k1_params[7];

/*
 * Turn a raw r||s signature (inlen bytes, even) into what the control asks:
 * s made high or low (secp256k1 only, is_secp256k1 != 0), DER-encoded, then
 * cut or padded to sig_len bytes when sig_len >= 0 (padding is 0xa5).
 * out has room for outcap bytes.  Returns 0 and *outlenp, or -1 when inlen
 * is odd, too long, or the result does not fit.
 */
int fault_sig_transform(const uint8_t *in, size_t inlen, int is_secp256k1,
    enum fault_sig_s sig_s, enum fault_sig_format format, long sig_len,
    uint8_t *out, size_t outcap, size_t *outlenp);

/*
 * CKA_EC_POINT in the form asked: FAULT_POINT_RAW unwraps a DER OCTET
 * STRING (04 41 04 X Y -> 04 X Y), FAULT_POINT_DER wraps a raw point,
 * FAULT_POINT_ASIS copies.  A value already in the asked form is copied.
 * Returns 0 and *outlenp, or -1 when the result does not fit in outcap.
 */
int fault_point_transform(const uint8_t *in, size_t inlen,
    enum fault_point_format format, uint8_t *out, size_t outcap,
    size_t *outlenp);

/*
 * Cut or pad (with 0xa5) a value of len bytes in buf (room for cap) to
 * newlen bytes.  Returns 0, or -1 when newlen > cap.
 */
int fault_force_len(uint8_t *buf, size_t cap, size_t len, size_t newlen);

#endif /* FAULT_SIG_H */
