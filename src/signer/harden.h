/*
 * harden.h - what the daemon (p11signer) does first, before it reads an
 * option: it will hold PINs (a --token URI's pin-value, PINs typed into the
 * tty or stdio UI, which arrive as JSON), so
 *
 *  - it cannot be dumped: PR_SET_DUMPABLE 0 (no ptrace, no gcore, and
 *    /proc/PID/mem, environ, maps closed to other processes of the same
 *    uid) and RLIMIT_CORE 0 (no core file after a crash), as
 *    p11signer-token does;
 *  - jansson wipes every block it frees (json_set_alloc_funcs), so a PIN in
 *    a UI answer does not stay in freed heap memory;
 *  - every argument holding a pkcs11: URI (the --token and --keygen-token
 *    values, in whichever spelling getopt accepts) moves to the heap and is
 *    overwritten in place, so /proc/PID/cmdline, which every local user can
 *    read, no longer shows it.  The option name stays readable ("--token",
 *    "--token=").
 *
 * Nothing here is needed by the subcommands that hold no PIN, but it is
 * harmless to them, and one rule for the whole program is easier to check.
 */
#ifndef SIGNER_HARDEN_H
#define SIGNER_HARDEN_H

/*
 * Do all of the above.  Must be called before anything uses jansson (its
 * allocator can be set only while no JSON value exists) and before argv is
 * parsed (getopt then sees the moved copies, which live for the process's
 * life and are never freed).  Returns 0, or ERR_IO when dumps could not be
 * disabled (errno says why) or ERR_NOMEM: the caller must then exit without
 * touching a token.
 */
int signer_harden_process(int argc, char **argv);

/*
 * The free function given to jansson (its malloc is malloc()), exposed for
 * tests: wipes the whole block (malloc_usable_size()) before free().  A block
 * that jansson allocated may still be given to plain free() (what
 * json_dumps() returns, say): it is then freed without being wiped.
 * signer_harden_free(NULL) does nothing.
 */
void signer_harden_free(void *p);

#endif /* SIGNER_HARDEN_H */
