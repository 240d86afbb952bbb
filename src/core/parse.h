/*
 * parse.h - numbers from the command line and configuration files.
 */
#ifndef CORE_PARSE_H
#define CORE_PARSE_H

/*
 * A decimal number from 0 to max: digits only (no sign, no space, no
 * "0x"), as a whole string.  Errors: ERR_DECIMAL_INVALID (not such a
 * string), ERR_NUMBER_RANGE (over max).
 */
int parse_unsigned(const char *s, unsigned long max, unsigned long *out);

#endif /* CORE_PARSE_H */
