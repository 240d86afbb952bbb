/*
 * fault_sig.c - bend signatures and EC points.  TEST FIXTURE.
 */
#include <string.h>

#include <secp256k1.h>

#include "fault_sig.h"

const uint8_t fault_secp256k1_params[7] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a
};

/* Make s high or low.  sig64 is r||s; a value libsecp256k1 refuses (r or s
 * zero or >= n) is left alone: the module passes on what the token said. */
static void
flip_s(uint8_t sig64[64], enum fault_sig_s want)
{
	secp256k1_ecdsa_signature sig;
	int was_high;

	if (!secp256k1_ecdsa_signature_parse_compact(secp256k1_context_static,
	    &sig, sig64))
		return;
	/* normalize() answers whether s was high; its output is not used. */
	was_high = secp256k1_ecdsa_signature_normalize(secp256k1_context_static,
	    NULL, &sig);
	if ((want == FAULT_S_HIGH && !was_high) || (want == FAULT_S_LOW && was_high)) {
		/* n - s: s is a valid non-zero scalar, which is all negate needs. */
		if (!secp256k1_ec_seckey_negate(secp256k1_context_static, sig64 + 32))
			return;
	}
}

/* DER INTEGER of an unsigned big-endian number; returns bytes written. */
static size_t
der_integer(const uint8_t *num, size_t len, uint8_t *out)
{
	size_t n = 0;

	while (len > 1 && num[0] == 0) {
		num++;
		len--;
	}
	out[n++] = 0x02;
	out[n++] = (uint8_t)(len + (num[0] & 0x80 ? 1 : 0));
	if (num[0] & 0x80)
		out[n++] = 0x00;
	memcpy(out + n, num, len);
	return n + len;
}

int
fault_force_len(uint8_t *buf, size_t cap, size_t len, size_t newlen)
{
	if (newlen > cap)
		return -1;
	if (newlen > len)
		memset(buf + len, 0xa5, newlen - len);
	return 0;
}

int
fault_sig_transform(const uint8_t *in, size_t inlen, int is_secp256k1,
    enum fault_sig_s sig_s, enum fault_sig_format format, long sig_len,
    uint8_t *out, size_t outcap, size_t *outlenp)
{
	uint8_t rs[2 * 66], body[2 * (2 + 1 + 66)];
	size_t half, blen, len;
	int r = -1;

	*outlenp = 0;
	/* Raw ECDSA signatures up to P-521 (2 x 66 bytes). */
	if (inlen % 2 != 0 || inlen > sizeof(rs))
		goto out;
	memcpy(rs, in, inlen);
	half = inlen / 2;

	if (is_secp256k1 && inlen == 64 && sig_s != FAULT_S_ASIS)
		flip_s(rs, sig_s);

	if (format == FAULT_SIG_DER && half > 0) {
		blen = der_integer(rs, half, body);
		blen += der_integer(rs + half, half, body + blen);
		/* SEQUENCE; long-form length only for curves past P-384. */
		len = 2 + (blen >= 0x80) + blen;
		if (len > outcap)
			goto out;
		out[0] = 0x30;
		if (blen >= 0x80) {
			out[1] = 0x81;
			out[2] = (uint8_t)blen;
		} else {
			out[1] = (uint8_t)blen;
		}
		memcpy(out + len - blen, body, blen);
	} else {
		len = inlen;
		if (len > outcap)
			goto out;
		memcpy(out, rs, len);
	}
	if (sig_len >= 0) {
		if (fault_force_len(out, outcap, len, (size_t)sig_len) != 0)
			goto out;
		len = (size_t)sig_len;
	}
	*outlenp = len;
	/* success */
	r = 0;
 out:
	return r;
}

/* The content of a DER OCTET STRING that is the whole of in, or NULL. */
static const uint8_t *
octet_string(const uint8_t *in, size_t inlen, size_t *lenp)
{
	size_t len, hdr;

	if (inlen < 2 || in[0] != 0x04)
		return NULL;
	if (in[1] < 0x80) {
		len = in[1];
		hdr = 2;
	} else if (in[1] == 0x81 && inlen >= 3 && in[2] >= 0x80) {
		len = in[2];
		hdr = 3;
	} else {
		return NULL;
	}
	if (hdr + len != inlen)
		return NULL;
	*lenp = len;
	return in + hdr;
}

int
fault_point_transform(const uint8_t *in, size_t inlen,
    enum fault_point_format format, uint8_t *out, size_t outcap,
    size_t *outlenp)
{
	const uint8_t *content;
	size_t clen, hdr;

	*outlenp = 0;
	content = octet_string(in, inlen, &clen);
	/* Only an OCTET STRING holding an uncompressed point (04 X Y, odd
	 * length) counts as the DER form.  SoftHSM2 always answers in that
	 * form, so the test below only keeps a value from being wrapped or
	 * unwrapped twice. */
	if (content != NULL && (clen == 0 || content[0] != 0x04 ||
	    clen % 2 == 0))
		content = NULL;

	if (format == FAULT_POINT_RAW && content != NULL) {
		if (clen > outcap)
			return -1;
		memcpy(out, content, clen);
		*outlenp = clen;
		return 0;
	}
	if (format == FAULT_POINT_DER && content == NULL) {
		hdr = inlen < 0x80 ? 2 : 3;
		if (inlen > 0xff || hdr + inlen > outcap)
			return -1;
		out[0] = 0x04;
		if (hdr == 2) {
			out[1] = (uint8_t)inlen;
		} else {
			out[1] = 0x81;
			out[2] = (uint8_t)inlen;
		}
		memcpy(out + hdr, in, inlen);
		*outlenp = hdr + inlen;
		return 0;
	}
	if (inlen > outcap)
		return -1;
	memcpy(out, in, inlen);
	*outlenp = inlen;
	return 0;
}
