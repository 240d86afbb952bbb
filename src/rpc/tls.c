#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "core/err.h"
#include "eth/hex.h"
#include "rpc/tls.h"

const char rpc_tls_init_usage[] =
    "usage: p11signer tls init DIR NAME\n"
    "  Make an ECDSA P-256 key and a self-signed certificate for mutual TLS in\n"
    "  network mode (docs/tls.md): writes DIR/NAME.key (mode 0600) and\n"
    "  DIR/NAME.crt, never overwriting either, and prints the certificate's\n"
    "  fingerprint (sha256:HEX, the SHA-256 of the DER certificate, as\n"
    "  `openssl x509 -noout -fingerprint -sha256 -in DIR/NAME.crt` shows it)\n"
    "  for the other side to pin.  NAME: letters, digits, '_', '.' and '-'.\n"
    "    on the signer:  p11signer tls init /etc/p11signer/tls signer\n"
    "                    then pin the relay: --http.tls.client-fingerprint sha256:...\n"
    "    on the host:    p11signer tls init ~/.config/p11signer relay\n"
    "                    then pin the signer: --tls.server-fingerprint sha256:...\n";

static const char hexdig[] = "0123456789abcdef";

void
rpc_tls_fingerprint_format(const unsigned char fp[RPC_TLS_FP_BYTES], char out[RPC_TLS_FP_SIZE])
{
	size_t i;

	memcpy(out, "sha256:", 7);
	for (i = 0; i < RPC_TLS_FP_BYTES; i++) {
		out[7 + 2 * i] = hexdig[fp[i] >> 4];
		out[8 + 2 * i] = hexdig[fp[i] & 15];
	}
	out[7 + 2 * RPC_TLS_FP_BYTES] = '\0';
}

int
rpc_tls_fingerprint_parse(const char *untrusted_text, unsigned char out[RPC_TLS_FP_BYTES])
{
	unsigned char fp[RPC_TLS_FP_BYTES];
	const char *p;
	size_t i, n;
	int colons, hi, lo;

	if (untrusted_text == NULL || strncasecmp(untrusted_text, "sha256:", 7) != 0)
		return ERR_INVALID_ARGUMENT;
	p = untrusted_text + 7;
	n = strnlen(p, 3 * RPC_TLS_FP_BYTES + 1);
	if (n == 2 * RPC_TLS_FP_BYTES)
		colons = 0;
	else if (n == 3 * RPC_TLS_FP_BYTES - 1)
		colons = 1;
	else
		return ERR_INVALID_ARGUMENT;
	for (i = 0; i < RPC_TLS_FP_BYTES; i++) {
		if (colons && i > 0 && *p++ != ':')
			return ERR_INVALID_ARGUMENT;
		if ((hi = eth_hex_digit((unsigned char)p[0])) < 0 || (lo = eth_hex_digit((unsigned char)p[1])) < 0)
			return ERR_INVALID_ARGUMENT;
		fp[i] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	memcpy(out, fp, sizeof(fp));
	return 0;
}

int
rpc_tls_pin_match(const char *fp, const unsigned char (*pins)[RPC_TLS_FP_BYTES], size_t npins)
{
	unsigned char b[RPC_TLS_FP_BYTES];
	size_t i;

	if (rpc_tls_fingerprint_parse(fp, b) != 0)
		return 0;
	for (i = 0; i < npins; i++)
		if (memcmp(b, pins[i], RPC_TLS_FP_BYTES) == 0)
			return 1;
	return 0;
}

int
rpc_tls_fingerprint_der(const void *der, size_t len, char out[RPC_TLS_FP_SIZE])
{
	unsigned char md[RPC_TLS_FP_BYTES];

	if (der == NULL || len == 0)
		return ERR_INVALID_ARGUMENT;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, md) != 0)
		return ERR_INTERNAL;
	rpc_tls_fingerprint_format(md, out);
	return 0;
}

int
rpc_tls_fingerprint_pem(const char *pem, size_t len, char out[RPC_TLS_FP_SIZE])
{
	gnutls_datum_t in, der = { NULL, 0 };
	gnutls_x509_crt_t crt = NULL;
	int r;

	if (pem == NULL || len == 0 || len > UINT_MAX)
		return ERR_INVALID_ARGUMENT;
	in.data = (unsigned char *)(uintptr_t)pem;
	in.size = (unsigned)len;
	/* The DER exactly as it is in the file: what openssl and certtool hash. */
	if (gnutls_pem_base64_decode2("CERTIFICATE", &in, &der) < 0) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (gnutls_x509_crt_init(&crt) < 0) {
		r = ERR_NOMEM;
		goto out;
	}
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	r = rpc_tls_fingerprint_der(der.data, der.size, out);
 out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	gnutls_free(der.data);
	return r;
}

void
rpc_tls_pem_free(char *pem, size_t len)
{
	if (pem == NULL)
		return;
	explicit_bzero(pem, len);
	free(pem);
}

int
rpc_tls_pem_read(const char *path, int is_key, char **pemp, size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;

	*pemp = NULL;
	*lenp = 0;
	if (path == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ERR_IO;
	if (fstat(fd, &st) != 0) {
		r = ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		r = ERR_IO;
		goto out;
	}
	if (is_key && (st.st_mode & 077) != 0) {
		errno = EPERM;
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (st.st_size > RPC_TLS_LIMIT_PEM) {
		r = ERR_TOO_LONG;
		goto out;
	}
	if ((buf = malloc(RPC_TLS_LIMIT_PEM + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	/* The size may change under us: read to EOF, within the limit. */
	for (;;) {
		n = read(fd, buf + len, RPC_TLS_LIMIT_PEM + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > RPC_TLS_LIMIT_PEM) {
			r = ERR_TOO_LONG;
			goto out;
		}
	}
	buf[len] = '\0';
	*pemp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
 out:
	rpc_tls_pem_free(buf, RPC_TLS_LIMIT_PEM + 1);
	if (fd >= 0)
		close(fd);
	return r;
}

int
rpc_tls_fingerprint_file(const char *path, char out[RPC_TLS_FP_SIZE])
{
	char *pem;
	size_t len;
	int r;

	if ((r = rpc_tls_pem_read(path, 0, &pem, &len)) != 0)
		return r;
	r = rpc_tls_fingerprint_pem(pem, len, out);
	rpc_tls_pem_free(pem, len);
	return r;
}

static int
valid_name(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= RPC_TLS_LIMIT_NAME && name[0] != '.' && name[0] != '-' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Create path (never an existing file, never through a symlink) with mode and contents. */
static int
write_new_file(const char *path, mode_t mode, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	if (fd < 0)
		return ERR_IO;
	/* umask may have taken bits away; a key file must not have more. */
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
 fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(path);
	errno = saved;
	return ERR_IO;
}

/* A private key's PEM, as gnutls gave it: wiped, then freed.  NULL data is fine. */
static void
datum_wipe_free(gnutls_datum_t *d)
{
	if (d->data != NULL) {
		explicit_bzero(d->data, d->size);
		gnutls_free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* Key pair and self-signed certificate, as PEM (key: PKCS#8, unencrypted). */
static int
make_pair(const char *cn, gnutls_datum_t *keyp, gnutls_datum_t *crtp, char fp[RPC_TLS_FP_SIZE])
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t k = { NULL, 0 }, c = { NULL, 0 };
	unsigned char serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	time_t now = time(NULL);
	int r = ERR_INTERNAL;

	if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0) {
		r = ERR_NOMEM;
		goto out;
	}
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		goto out;
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f;	/* a positive INTEGER */
	serial[0] |= 0x01;	/* and no leading zero byte */
	/* A USB armory has no clock battery: its date may be 1970, and nobody
	 * checks it, since the peer pins the certificate itself. */
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now > 86400 ? now - 86400 : 0) < 0 ||
	    /* (time_t)-1 is what GnuTLS writes as 99991231235959Z (RFC 5280's "no
	     * well-defined expiration"), with 32- and 64-bit time_t alike; its
	     * GNUTLS_X509_NO_WELL_DEFINED_EXPIRATION macro gives a date in 2106. */
	    gnutls_x509_crt_set_expiration_time(crt, (time_t)-1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	        (unsigned)strlen(cn)) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    /* One certificate serves either end: the signer's or the relay's. */
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) < 0)
		goto out;
	if (gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len) < 0)
		goto out;
	if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &k) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c) < 0)
		goto out;
	if ((r = rpc_tls_fingerprint_pem((const char *)c.data, c.size, fp)) != 0)
		goto out;
	*keyp = k;
	*crtp = c;
	k.data = c.data = NULL;
	r = 0;
 out:
	datum_wipe_free(&k);
	gnutls_free(c.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	return r;
}

int
rpc_tls_init(const char *dir, const char *name, char fingerprint[RPC_TLS_FP_SIZE])
{
	gnutls_datum_t key = { NULL, 0 }, crt = { NULL, 0 };
	char keypath[PATH_MAX], crtpath[PATH_MAX], fp[RPC_TLS_FP_SIZE];
	int r, saved;

	if (dir == NULL || *dir == '\0' || name == NULL || !valid_name(name))
		return ERR_INVALID_ARGUMENT;
	if ((size_t)snprintf(keypath, sizeof(keypath), "%s/%s.key", dir, name) >= sizeof(keypath) ||
	    (size_t)snprintf(crtpath, sizeof(crtpath), "%s/%s.crt", dir, name) >= sizeof(crtpath))
		return ERR_INVALID_ARGUMENT;
	if ((r = make_pair(name, &key, &crt, fp)) != 0)
		goto out;
	if ((r = write_new_file(keypath, 0600, key.data, key.size)) != 0)
		goto out;
	if ((r = write_new_file(crtpath, 0644, crt.data, crt.size)) != 0) {
		saved = errno;
		unlink(keypath);
		errno = saved;
		goto out;
	}
	memcpy(fingerprint, fp, sizeof(fp));
	r = 0;
 out:
	datum_wipe_free(&key);
	gnutls_free(crt.data);
	return r;
}
