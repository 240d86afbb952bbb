# p11signer - GNU make build.  See README.md; `make help` lists the targets.
#
# Honours PREFIX, DESTDIR, CC, CFLAGS, LDFLAGS, V=1 and BUILD (output folder).
# Warnings are errors when WERROR=1, which CI sets (CI=true implies it).

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/p11signer
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/p11signer
DESTDIR  ?=
# Cross builds: `make CROSS=arm-linux-gnueabihf-` uses that prefix's gcc and
# pkg-config (Debian multiarch libraries; scripts/cross-armhf sets them up)
# and builds into build-arm-linux-gnueabihf/.
ifdef CROSS
CC       := $(CROSS)gcc
AR       := $(CROSS)ar
PKG_CONFIG := $(CROSS)pkg-config
BUILD    ?= build-$(patsubst %-,%,$(CROSS))
endif
BUILD    ?= build
CC       ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(CI),true)
WERROR ?= 1
endif

CFLAGS   ?= -O2 -g
PKGS      = libsecp256k1 gmp nettle jansson libmicrohttpd libcurl gnutls
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# -lm: floor() is a libm call on targets without a rounding instruction (armhf).
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
# p11-kit only for src/p11 (the token helper side) and what tests it.
P11KIT_CFLAGS := $(shell $(PKG_CONFIG) --cflags p11-kit-1 2>/dev/null)
P11KIT_LIBS := $(shell $(PKG_CONFIG) --libs p11-kit-1 2>/dev/null)
# Where p11-kit looks for registered modules, as it was built, so that
# --module NAME resolves as p11-kit would (src/p11/registry.c).
P11KIT_MODULE_PATH := $(shell $(PKG_CONFIG) --variable=p11_module_path p11-kit-1 2>/dev/null)
P11KIT_MODULE_CONFIGS := $(shell $(PKG_CONFIG) --variable=p11_module_configs p11-kit-1 2>/dev/null)
P11KIT_SYSCONFDIR := $(shell $(PKG_CONFIG) --variable=sysconfdir p11-kit-1 2>/dev/null)
P11KIT_CFLAGS += $(if $(P11KIT_MODULE_PATH),-DP11S_P11_MODULE_PATH='"$(P11KIT_MODULE_PATH)"') \
	$(if $(P11KIT_MODULE_CONFIGS),-DP11S_P11_PACKAGE_MODULES='"$(P11KIT_MODULE_CONFIGS)"') \
	$(if $(P11KIT_SYSCONFDIR),-DP11S_P11_SYSCONFDIR='"$(P11KIT_SYSCONFDIR)"')
# libusb only for the token helper's USB hotplug notifications.
LIBUSB_CFLAGS := $(shell $(PKG_CONFIG) --cflags libusb-1.0 2>/dev/null)
LIBUSB_LIBS := $(shell $(PKG_CONFIG) --libs libusb-1.0 2>/dev/null)

WARNINGS  = -Wall -Wextra -Wformat=2 -Wvla -Wstrict-prototypes \
            -Wmissing-prototypes -Wshadow -Wpointer-arith -Wcast-qual \
            -Wno-unused-parameter
HARDENING = -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Isrc $(WARNINGS) $(HARDENING) \
             $(if $(filter 1,$(WERROR)),-Werror) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)

ifneq ($(V),1)
Q = @
quiet = @printf '  %-7s %s\n' $(1) $(2);
endif

CORE_SRCS := $(wildcard src/core/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
LIBCORE   := $(BUILD)/libcore.a
ETH_SRCS  := $(wildcard src/eth/*.c)
ETH_OBJS  := $(ETH_SRCS:%.c=$(BUILD)/%.o)
LIBETH    := $(BUILD)/libeth.a
RPC_SRCS  := $(wildcard src/rpc/*.c)
RPC_OBJS  := $(RPC_SRCS:%.c=$(BUILD)/%.o)
LIBRPC    := $(BUILD)/librpc.a
RELAY_SRCS := $(wildcard src/relay/*.c)
RELAY_OBJS := $(RELAY_SRCS:%.c=$(BUILD)/%.o)
LIBRELAY  := $(BUILD)/librelay.a
# src/p11 is two libraries: the daemon's side (the protocol and its client)
# and the helper's (token, helper, registry), the only objects that see p11-kit.
P11CLIENT_SRCS := $(wildcard src/p11/client*.c src/p11/proto*.c)
P11CLIENT_OBJS := $(P11CLIENT_SRCS:%.c=$(BUILD)/%.o)
LIBP11CLIENT := $(BUILD)/libp11client.a
P11TOKEN_SRCS := $(filter-out $(P11CLIENT_SRCS),$(wildcard src/p11/*.c))
P11TOKEN_OBJS := $(P11TOKEN_SRCS:%.c=$(BUILD)/%.o)
LIBP11TOKEN := $(BUILD)/libp11token.a
SIGNER_SRCS := $(wildcard src/signer/*.c)
SIGNER_OBJS := $(SIGNER_SRCS:%.c=$(BUILD)/%.o)
LIBSIGNER := $(BUILD)/libsigner.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TESTLIB_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/%.o)
TESTLIB   := $(BUILD)/libtest.a
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

.DEFAULT_GOAL := all
.SECONDARY:
.PHONY: all check asan demo install uninstall clean deps help unit tools fixtures replay fuzz fuzzers

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCORE): $(CORE_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIBETH): $(ETH_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIBRELAY): $(RELAY_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(P11TOKEN_OBJS): ALL_CFLAGS += $(P11KIT_CFLAGS) $(LIBUSB_CFLAGS)

$(LIBP11CLIENT): $(P11CLIENT_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIBP11TOKEN): $(P11TOKEN_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIBSIGNER): $(SIGNER_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIBRPC): $(RPC_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(TESTLIB): $(TESTLIB_OBJS)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(TESTLIB) $(LIBRELAY) $(LIBSIGNER) $(LIBP11TOKEN) $(LIBP11CLIENT) $(LIBRPC) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(P11KIT_LIBS) $(CMOCKA_LIBS) -lpthread

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIBP11TOKEN) $(LIBP11CLIENT) $(LIBRPC) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(P11KIT_LIBS) -lpthread

# ---- token layer: src/p11, src/cmd, the token helper (section owned by the token-layer work) ----
# p11signer (the daemon and its commands) loads no PKCS#11 code: it links
# libp11client (the protocol and the client) and never libp11token, so the
# linker, not the order of an archive, keeps the PKCS#11 code out of it.
# p11signer-token is the only program that links p11-kit;
# tests/integration/layers.test checks both binaries.
P11_BINS := $(BUILD)/p11signer $(BUILD)/p11signer-token
# p11signer: main() in p11signer.c, its options and commands beside it
P11SIGNER_OBJS := $(addprefix $(BUILD)/src/cmd/,p11signer.o options.o token_clients.o serve.o \
    token_cmds.o doctor.o tls_init.o audit_verify.o)
$(BUILD)/src/cmd/options.o: ALL_CFLAGS += -DP11S_LIBEXECDIR='"$(LIBEXECDIR)"'
# The helper's path is compiled in: rebuild when PREFIX/LIBEXECDIR changes.
LIBEXEC_STAMP := $(BUILD)/libexecdir.stamp
$(shell mkdir -p $(BUILD) && [ "$$(cat $(LIBEXEC_STAMP) 2>/dev/null)" = "$(LIBEXECDIR)" ] || echo "$(LIBEXECDIR)" >$(LIBEXEC_STAMP))
$(BUILD)/src/cmd/options.o: $(LIBEXEC_STAMP)
$(BUILD)/src/cmd/p11signer-token.o: ALL_CFLAGS += $(P11KIT_CFLAGS)
$(BUILD)/p11signer: $(P11SIGNER_OBJS) $(LIBSIGNER) $(LIBP11CLIENT) $(LIBRPC) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread
$(BUILD)/p11signer-token: $(BUILD)/src/cmd/p11signer-token.o $(LIBP11TOKEN) $(LIBP11CLIENT) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(P11KIT_LIBS) $(LIBUSB_LIBS) -ldl -lpthread
# ---- end token layer ----

# ---- test fixtures: fault-injecting PKCS#11 module, SoftHSM2 helpers (section owned by the fault-module work) ----
# Add FIXTURES (built by `make check` before tests run) and rules here.
#
# The fault-injecting PKCS#11 module (tests/fault/README.md) is a shared
# object: its objects are built -fPIC (after the project's -fPIE, so PIC
# wins) with only C_GetFunctionList exported.  p11drive is the small PKCS#11
# consumer the fixtures test drives it with.  udev-check fails when
# udev/60-p11signer.rules or tokens/devices.md is not what scripts/gen-udev
# makes of tokens/devices.tsv; `make udev` rewrites both.
FAULT_OBJS := $(BUILD)/tests/fault/p11fault.pic.o $(BUILD)/tests/fault/fault_ctl.pic.o \
              $(BUILD)/tests/fault/fault_sig.pic.o
FAULT_SO   := $(BUILD)/tests/fault/libp11fault.so
P11DRIVE   := $(BUILD)/tests/fault/p11drive
UDEV_TABLE := tokens/devices.tsv
UDEV_RULES := udev/60-p11signer.rules
UDEV_DOC   := tokens/devices.md
FIXTURES := $(FAULT_SO) $(P11DRIVE) udev-check
.PHONY: udev udev-check

$(BUILD)/tests/fault/%.pic.o: tests/fault/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(ALL_CFLAGS) $(P11KIT_CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(FAULT_SO): $(FAULT_OBJS)
	$(call quiet,LD,$@)$(CC) -shared -Wl,-z,relro,-z,now -Wl,--no-undefined $(LDFLAGS) \
	    -o $@ $^ -lsecp256k1 -lpthread -ldl

$(P11DRIVE): $(BUILD)/tests/fault/p11drive.pic.o $(BUILD)/tests/fault/fault_ctl.pic.o
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread -ldl

udev:
	$(call quiet,GEN,$(UDEV_RULES))scripts/gen-udev $(UDEV_TABLE) $(UDEV_RULES) $(UDEV_DOC)

udev-check:
	$(Q)scripts/gen-udev --check $(UDEV_TABLE) $(UDEV_RULES) $(UDEV_DOC)

# ---- end test fixtures ----

# Fuzzing: tests/fuzz/fuzz_<t>.c are libFuzzer targets.  `make fuzz` builds them
# with clang under ASan+UBSan in build-fuzz/ and runs each for FUZZ_SECONDS;
# `make check` replays tests/fuzz/corpus/<t>/ through each with a plain driver.
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BINS := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_LIBS := $(LIBRELAY) $(LIBSIGNER) $(LIBP11TOKEN) $(LIBP11CLIENT) $(LIBRPC) $(LIBETH) $(LIBCORE)
# The fuzzers share the test library's software key (tests/unit/softkey.h).
FUZZ_LIBS := $(TESTLIB) $(FUZZ_LIBS)
$(BUILD)/tests/fuzz/%.o: ALL_CFLAGS += -Itests/unit

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(FUZZ_LIBS)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(P11KIT_LIBS) -lpthread

$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(P11KIT_LIBS) -lpthread

replay: $(REPLAY_BINS)
fuzzers: $(FUZZ_BINS)

FUZZ_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_FLAGS)" \
	    LDFLAGS="-fsanitize=fuzzer,address,undefined" fuzzers
	$(Q)BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz $(FUZZ_TARGETS)

# Programs outside the token layer's section.
RELAY_BIN := $(BUILD)/p11signer-relay
$(RELAY_BIN): $(BUILD)/src/cmd/p11signer-relay.o $(LIBRELAY) $(LIBRPC) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread
BINS := $(P11_BINS) $(RELAY_BIN)
# ---- qubes-sim: the C stand-in for qrexec-client-vm (tests/qubes-sim, bench/) ----
QUBES_SIM_BINS := $(BUILD)/tests/qubes-sim/qrexec-client-vm
$(BUILD)/tests/qubes-sim/qrexec-client-vm: $(BUILD)/tests/qubes-sim/qrexec-client-vm.o
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^
all: $(QUBES_SIM_BINS)
# ---- end qubes-sim ----

# ---- p11signer-approve, the GTK 4 approver (src/approve; section owned by the approver work) ----
# Built only where GTK 4 is installed (scripts/deps installs libgtk-4-dev; CI has it).
GTK4_CFLAGS := $(shell $(PKG_CONFIG) --cflags gtk4 2>/dev/null)
GTK4_LIBS := $(shell $(PKG_CONFIG) --libs gtk4 2>/dev/null)
APPROVE_BIN := $(BUILD)/p11signer-approve
$(BUILD)/src/approve/approve.o $(BUILD)/src/approve/windows.o: ALL_CFLAGS += $(GTK4_CFLAGS)
$(APPROVE_BIN): $(BUILD)/src/approve/approve.o $(BUILD)/src/approve/windows.o $(BUILD)/src/approve/text.o $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(GTK4_LIBS) $(PKG_LIBS)
ifneq ($(GTK4_LIBS),)
BINS += $(APPROVE_BIN)
endif
# The unit test of approve/text links its object (no GTK).
$(BUILD)/tests/test_approve_text: $(BUILD)/src/approve/text.o
# `make demo-gui`: the daemon and the approver under Xvfb, a screenshot of a
# transaction waiting for approval in $(BUILD)/demo-gui.png (scripts/demo-gui).
.PHONY: demo-gui
demo-gui: all
	$(Q)BUILD=$(BUILD) scripts/demo-gui
# ---- end approver ----

all: $(LIBETH) $(LIBCORE) $(LIBRPC) $(LIBP11CLIENT) $(LIBP11TOKEN) $(LIBSIGNER) $(LIBRELAY) $(BINS) $(TOOL_BINS)
unit: $(UNIT_BINS)
fixtures: $(FIXTURES)
tools: $(TOOL_BINS)

# Installs what is missing (Debian packages, npm packages for interop tests).
deps:
	$(Q)scripts/deps

# Every test; the last line printed is "N passed, N failed".
check: deps
	$(Q)$(MAKE) --no-print-directory all unit fixtures replay
	$(Q)BUILD=$(BUILD) tests/run

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" \
	    LDFLAGS="-fsanitize=address,undefined" all unit fixtures replay
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    BUILD=build-asan tests/run

# Benchmarks: bench/*.c are measuring tools (a raw C_Sign loop, load
# clients); bench/run measures and writes bench/REPORT.md.  Not part of check.
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
.PHONY: bench
$(BUILD)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(ALL_CFLAGS) $(P11KIT_CFLAGS) -c -o $@ $<
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBRPC) $(LIBETH) $(LIBCORE)
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl -lpthread
bench: deps
	$(Q)$(MAKE) --no-print-directory all fixtures $(BENCH_BINS)
	$(Q)BUILD=$(BUILD) bench/run

# armhf (USB armory Mk II): build every binary with Debian's armhf libraries,
# then run the unit and SoftHSM2 integration suites under qemu-user.
.PHONY: armhf check-armhf
armhf:
	$(Q)scripts/cross-armhf build
check-armhf:
	$(Q)scripts/cross-armhf check

# ---- Debian packages (debian/, scripts/make-deb, tests/packages/) ----
# `make deb`: dpkg-buildpackage on a copy of the tree, the packages in
# build/deb/, then lintian (errors fail).  `make deb-armhf`: the same, cross
# built for the USB armory (dpkg-buildpackage -aarmhf).  The chroot test
# tests/packages/chroot.test installs, uses and purges them in Debian 12.
# `make rpm-dom0`: the dom0 policy file alone as a noarch RPM in build/rpm/.
.PHONY: deb deb-armhf rpm-dom0
rpm-dom0:
	$(Q)scripts/make-rpm-dom0
deb:
	$(Q)scripts/make-deb
deb-armhf:
	$(Q)scripts/make-deb -aarmhf
# ---- end Debian packages ----

# The demos never need Go (only the geth interop test does): deps without it.
.PHONY: deps-no-go
deps-no-go:
	$(Q)scripts/deps --no-go

demo: deps-no-go
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo

# The Qubes simulation in network namespaces, each hop printed (docs/qubes.md).
.PHONY: demo-qubes
demo-qubes: deps-no-go
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo-qubes

# Programs go to BINDIR, except the token helper, which only the daemon starts.
UDEVDIR ?= $(PREFIX)/lib/udev/rules.d
install: all
	$(Q)for b in $(notdir $(BINS)); do \
	    case $$b in p11signer-token) d=$(LIBEXECDIR);; *) d=$(BINDIR);; esac; \
	    install -D -m 0755 $(BUILD)/$$b $(DESTDIR)$$d/$$b; done
	$(Q)for m in $(wildcard docs/*.1); do install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/$$(basename $$m); done
	$(Q)for r in $(wildcard udev/*.rules); do install -D -m 0644 $$r $(DESTDIR)$(UDEVDIR)/$$(basename $$r); done
	$(Q)for d in README.md $(wildcard docs/*.md docs/*.svg docs/*.png); do install -D -m 0644 $$d $(DESTDIR)$(DOCDIR)/$$(basename $$d); done

uninstall:
	$(Q)for b in $(notdir $(BINS)); do rm -f $(DESTDIR)$(BINDIR)/$$b $(DESTDIR)$(LIBEXECDIR)/$$b; done
	$(Q)for m in $(wildcard docs/*.1); do rm -f $(DESTDIR)$(MANDIR)/man1/$$(basename $$m); done
	$(Q)for r in $(wildcard udev/*.rules); do rm -f $(DESTDIR)$(UDEVDIR)/$$(basename $$r); done
	$(Q)rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-asan build-fuzz

help:
	@echo "make [all]     build"
	@echo "make check     install what is missing, build, run every test"
	@echo "make asan      the same under ASan+UBSan"
	@echo "make fuzz      libFuzzer targets, FUZZ_SECONDS=60 each"
	@echo "make demo      install what is missing, build, show what works"
	@echo "make demo-gui  the signer and p11signer-approve under Xvfb; build/demo-gui.png"
	@echo "make demo-qubes  the Qubes simulation in network namespaces, hop by hop"
	@echo "make install   PREFIX=/usr/local DESTDIR="
	@echo "make bench     throughput, latency and memory against the raw token: bench/REPORT.md"
	@echo "make armhf     every binary for armhf (USB armory), Debian multiarch"
	@echo "make check-armhf  unit and SoftHSM2 suites for armhf under qemu-user"
	@echo "make deb       the Debian packages in build/deb/, checked by lintian"
	@echo "make rpm-dom0  the dom0 policy file as an RPM in build/rpm/"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
