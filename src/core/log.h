/*
 * log.h - the one logger of every program: a line on stderr, in one
 * write(2), so that lines from several threads or processes sharing the
 * stream never interleave.
 *
 * A line is "<prefix>: <message>\n"; the prefix is the program's name
 * (program_invocation_short_name) unless log_init() gave another, such as
 * "p11signer-token[1234]".  A line is cut at LIMIT_LOG_LINE bytes.  The
 * message is written as given: text that came from outside (a module's
 * label, a peer's request) must be made printable by the caller first (as
 * proto_text_clean() does), never passed as the format.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

/* Set the prefix (copied; NULL: the program's name).  Call before threads start. */
void log_init(const char *prefix);

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_msg(), then exit(1): for a main() that cannot go on. */
void log_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* CORE_LOG_H */
