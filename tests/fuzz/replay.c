/*
 * replay.c - run a fuzz target over files, without libFuzzer: `make check`
 * replays tests/fuzz/corpus/<target>/ (every crash ever found, and seeds)
 * through each target so a fixed bug stays fixed.  Prints TAP, one case per
 * file; a crash kills the program, which tests/run counts as a failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path, int n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		printf("not ok %d - %s: cannot read\n", n, path);
		if (f != NULL)
			fclose(f);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		printf("not ok %d - %s: cannot read\n", n, path);
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	printf("ok %d - %s\n", n, path);
	return 0;
}

int
main(int argc, char **argv)
{
	int i, n = 0, failed = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			printf("not ok %d - %s: missing\n", ++n, argv[i]);
			failed++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **ents;
			int k, m = scandir(argv[i], &ents, NULL, alphasort);
			for (k = 0; k < m; k++) {
				char p[4096];
				if (ents[k]->d_name[0] != '.') {
					snprintf(p, sizeof(p), "%s/%s", argv[i], ents[k]->d_name);
					failed += run_file(p, ++n);
				}
				free(ents[k]);
			}
			free(ents);
		} else
			failed += run_file(argv[i], ++n);
	}
	if (n == 0)
		printf("not ok 1 - no inputs given\n");
	return failed != 0 || n == 0;
}
