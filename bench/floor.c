/*
 * floor - what the parts of a request that p11signer's processes cannot do
 * without cost on this machine, each measured with nothing else in it:
 *
 *   - a round trip between two processes over a Unix socket, as between a
 *     client and the daemon, and between the daemon and its token helper
 *     (a request's bytes one way, an answer's the other);
 *   - the daemon's one verification of a signature, eth_sig_verify_addr():
 *     the Keccak of the key, compared with the account's address, and ECDSA's
 *     point R computed with one libsecp256k1 recovery.
 *
 * bench/run sets the daemon's added latency and CPU against these.
 *
 *   floor [--trips N] [--recoveries N]
 *
 * Prints one line of key=value figures:
 *   floor trips=N hop_p50_us=U hop_cpu_us=U recoveries=N recover_us=U
 * (hop_cpu_us: CPU time of both processes per round trip, the kernel's
 * included; recover_us: CPU time per verification).  Exit status 0, 1 when
 * a step failed, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "core/parse.h"
#include "eth/addr.h"
#include "eth/keccak.h"
#include "eth/sig.h"

#define FLOOR_REQUEST_BYTES	300	/* about an account_signTransaction */
#define FLOOR_ANSWER_BYTES	800	/* about its answer */
#define FLOOR_MAX_TRIPS		1000000UL

static double
now_us(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double
rusage_us(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* All of n bytes, or -1. */
static int
xfer(int fd, void *p, size_t n, int writing)
{
	uint8_t *b = p;
	ssize_t k;

	while (n > 0) {
		k = writing ? write(fd, b, n) : read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Round trips to a child process: their median and the CPU of both per trip. */
static int
hops(unsigned long trips, double *p50p, double *cpup)
{
	uint8_t req[FLOOR_REQUEST_BYTES], ans[FLOOR_ANSWER_BYTES];
	double *lat, t, cpu0, cpu1;
	unsigned long i;
	int sv[2], status, r = -1;
	pid_t pid;

	if ((lat = calloc(trips, sizeof(*lat))) == NULL)
		return -1;
	memset(req, 'q', sizeof(req));
	memset(ans, 'a', sizeof(ans));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		goto out;
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		while (xfer(sv[1], req, sizeof(req), 0) == 0 && xfer(sv[1], ans, sizeof(ans), 1) == 0)
			;
		_exit(0);
	}
	close(sv[1]);
	cpu0 = rusage_us(RUSAGE_SELF);
	for (i = 0; i < trips; i++) {
		t = now_us(CLOCK_MONOTONIC);
		if (xfer(sv[0], req, sizeof(req), 1) != 0 || xfer(sv[0], ans, sizeof(ans), 0) != 0)
			break;
		lat[i] = now_us(CLOCK_MONOTONIC) - t;
	}
	cpu1 = rusage_us(RUSAGE_SELF);
	close(sv[0]);	/* the child sees end of file and exits */
	if (waitpid(pid, &status, 0) != pid || i < trips)
		goto out;
	qsort(lat, trips, sizeof(*lat), cmp_double);
	*p50p = lat[trips / 2];
	*cpup = (cpu1 - cpu0 + rusage_us(RUSAGE_CHILDREN)) / (double)trips;
	r = 0;
 out:
	free(lat);
	return r;
}

/* The daemon's verification of one signature, n times: CPU per time. */
static int
recoveries(unsigned long n, double *usp)
{
	secp256k1_context *ctx;
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pub;
	uint8_t seckey[32], digest[32], sig65[65], pub65[65], want[ETH_ADDR_LEN];
	size_t publen = sizeof(pub65);
	unsigned long i;
	double t;
	int recid, got, r = -1;

	if ((ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE)) == NULL)
		return -1;
	/* A key made here and thrown away: nothing is kept. */
	do {
		if (getrandom(seckey, sizeof(seckey), 0) != (ssize_t)sizeof(seckey))
			goto out;
	} while (!secp256k1_ec_seckey_verify(ctx, seckey));
	memset(digest, 0x5a, sizeof(digest));
	if (!secp256k1_ec_pubkey_create(ctx, &pub, seckey) ||
	    !secp256k1_ec_pubkey_serialize(ctx, pub65, &publen, &pub, SECP256K1_EC_UNCOMPRESSED) ||
	    !secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, seckey, NULL, NULL) ||
	    !secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig65, &recid, &rs))
		goto out;
	eth_keccak256(pub65 + 1, 64, digest);	/* digest reused: keccak(X||Y) */
	memcpy(want, digest + 12, ETH_ADDR_LEN);
	memset(digest, 0x5a, sizeof(digest));
	t = now_us(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < n; i++)
		if (eth_sig_verify_addr(digest, sig65, pub65, want, &got) != 0 || got != recid)
			goto out;
	*usp = (now_us(CLOCK_PROCESS_CPUTIME_ID) - t) / (double)n;
	r = 0;
 out:
	explicit_bzero(seckey, sizeof(seckey));
	secp256k1_context_destroy(ctx);
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: floor [--trips N] [--recoveries N]\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "trips", required_argument, NULL, 't' },
		{ "recoveries", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long trips = 5000, nrec = 2000, *v;
	double hop_p50, hop_cpu, rec_us;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
		case 'r':
			v = c == 't' ? &trips : &nrec;
			if (parse_unsigned(optarg, FLOOR_MAX_TRIPS, v) != 0 || *v == 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (hops(trips, &hop_p50, &hop_cpu) != 0) {
		fprintf(stderr, "floor: the round trips failed: %s\n", strerror(errno));
		return 1;
	}
	if (recoveries(nrec, &rec_us) != 0) {
		fprintf(stderr, "floor: a recovery failed\n");
		return 1;
	}
	printf("floor trips=%lu hop_p50_us=%.1f hop_cpu_us=%.1f recoveries=%lu recover_us=%.1f\n",
	    trips, hop_p50, hop_cpu, nrec, rec_us);
	return 0;
}
