# shellcheck shell=bash
# tests/lib/go.sh - find a Go that builds tests/interop/geth; sourced by
# scripts/deps-go (which installs and fetches) and tests/interop/geth.test
# (which only builds, from the module cache).
#
#   go_find NEED   sets GO_BIN to a go binary and GO_TOOLCHAIN to the value
#                  GOTOOLCHAIN must have when it runs; 0 when one was found,
#                  1 otherwise (GO_FOUND then lists what was seen).
#
# Candidates, first that will do wins: $P11S_GO_CANDIDATES when set (a
# space-separated list of go binaries, for tests), else go on PATH,
# /usr/local/go/bin/go and Debian's versioned packages /usr/lib/go-1.NN/bin/go
# (golang-1.NN-go, newest first).  A Go at least NEED is used as it is
# (GOTOOLCHAIN=local).  A Go from 1.21 on that is older than NEED is used with
# GOTOOLCHAIN=goNEED: it runs that release, which Go itself fetches as the
# module golang.org/toolchain through the module proxy (scripts/deps-go) and
# later finds in the module cache (GOPROXY=off in the test).  Older Go (Debian
# 12's own 1.19) cannot switch toolchains and does not count.

go_version_ge() { # A B: A >= B
	[[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$2" ]]
}

go_candidates() {
	local c
	if [[ -n ${P11S_GO_CANDIDATES+x} ]]; then
		printf '%s\n' $P11S_GO_CANDIDATES
		return
	fi
	command -v go 2>/dev/null || true
	echo /usr/local/go/bin/go
	for c in /usr/lib/go-1.*/bin/go; do
		[[ -x $c ]] && echo "$c"
	done | sort -t- -k2 -V -r
}

go_find() {
	local need=$1 c have
	GO_BIN= GO_TOOLCHAIN= GO_FOUND=
	while read -r c; do
		[[ -n $c && -x $c ]] || continue
		have=$(GOTOOLCHAIN=local "$c" env GOVERSION 2>/dev/null) || continue
		have=${have#go}
		GO_FOUND+="${GO_FOUND:+, }$c (Go $have)"
		if go_version_ge "$have" "$need"; then
			GO_BIN=$c GO_TOOLCHAIN=local
			return 0
		fi
		if [[ -z $GO_BIN ]] && go_version_ge "$have" 1.21; then
			GO_BIN=$c GO_TOOLCHAIN=go$need
		fi
	done < <(go_candidates)
	[[ -n $GO_BIN ]]
}
