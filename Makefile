# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop top-level build.
#
#   make              build/uloop and build/libuloop.a (+ libuloop-http.a)
#   make check        every test (installs its own test dependencies; root)
#   make check-unit   C unit tests under ASan+UBSan
#   make check-integ  shell tests against the built binaries
#   make check-vm     QEMU boots of Debian's kernel: the three initramfs
#                     flavours, nbd, uloop.ko, the root daemon (root)
#   make reliability  the reliability table of the last test run: which
#                     tests cover each case of the catalogue, and how they did
#   make demo         a diskless QEMU node boots from nginx on 127.0.0.1,
#                     cold then warm (root); make demo-engine: the engine
#                     alone on a demo image
#   make bench        benchmarks (ratios against peers measured in the same run)
#   make bench-peers  uloop next to httpfs2, nbdkit curl+cache and httpdirfs
#   make bench-update an image update next to zsync and casync (root; the
#                     image pairs are built once, about 2 min)
#                     on this host: boot-like, sequential and random reads
#                     of one squashfs from nginx on 127.0.0.1 (root; about
#                     10 min; not part of check; bench/README)
#   make bench-boot   the guest table: diskless boots in QEMU cold, warm,
#                     with a boot profile, hydrated, offline, at +20 ms,
#                     over nbd and uloop.ko, against a local disk and RAM
#                     (root; about 15 min; bench/README)
#   make bench-storm  a boot storm: 10, 50, 100 simulated nodes against the
#                     origin alone, the configs/ cache tier, an origin
#                     shedding load and a failover (root; part of make
#                     bench; bench/README)
#   make fuzz         each libFuzzer harness (tests/fuzz) for FUZZ_SECONDS (600)
#   make static       build/static/uloop: one static binary for initramfs
#   make install      PREFIX=/usr/local DESTDIR=
#   make clean
#
# libcurl is built from Debian 12's source against static nghttp2, c-ares
# and mbedTLS 3.6, itself built from Debian 13's source
# (tools/build-curl.sh, tools/build-mbedtls.sh), into $(ULOOP_DEPS),
# outside the tree, once per version of those scripts; both binaries use
# that one libcurl and that one mbedTLS.

VERSION := 0.1
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
SBINDIR ?= $(PREFIX)/sbin
INCDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/uloop
DRACUTDIR ?= /usr/lib/dracut/modules.d
ITOOLSDIR ?= /usr/share/initramfs-tools
# Where DKMS looks for module sources, whatever the PREFIX.  DKMS=no:
# install the source only, never run dkms (a package build does that in
# its postinst).
DKMSSRCDIR ?= /usr/src
DKMS ?= auto

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wvla
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread \
	-DULOOP_VERSION='"$(VERSION)"' $(WARN) -MMD -MP -ffunction-sections -fdata-sections \
	-Ikmod/include/uapi
LDLIBS += -pthread
# The last commit's time: a floor for the clock https certificates are
# checked against (src/source_http.c); none outside a git tree.
BUILD_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BASE_CFLAGS += -DULO_BUILD_EPOCH=$(or $(BUILD_EPOCH),0)

ULOOP_DEPS ?= /var/cache/uloop-deps
MBEDTLS_INPUTS := tools/build-mbedtls.sh tools/mbedtls-chacha20-simd.patch \
	tools/mbedtls-poly1305-avx2.patch
MBEDTLS_DIR := $(ULOOP_DEPS)/mbedtls-$(shell cat $(MBEDTLS_INPUTS) | sha256sum | cut -c1-12)
MBEDTLS_LIB := $(MBEDTLS_DIR)/lib/libmbedtls.a
# libcurl is compiled against that mbedTLS: its name carries both scripts.
CURL_DIR := $(ULOOP_DEPS)/curl-$(shell cat tools/build-curl.sh tools/curl-mbedtls36.patch $(MBEDTLS_INPUTS) | sha256sum | cut -c1-12)
CURL_LIB := $(CURL_DIR)/lib/libcurl.a
CURL_CFLAGS := -I$(CURL_DIR)/include -I$(MBEDTLS_DIR)/include -DCURL_STATICLIB
CURL_LIBS := $(CURL_LIB) -lcares -lnghttp2 $(MBEDTLS_DIR)/lib/libmbedtls.a \
	$(MBEDTLS_DIR)/lib/libmbedx509.a $(MBEDTLS_DIR)/lib/libmbedcrypto.a
BASE_CFLAGS += $(CURL_CFLAGS)
# libblkid (static in the initramfs binary): src/devsig.c.
LDLIBS := $(CURL_LIBS) -lblkid -lzstd $(LDLIBS)

B := build
# libuloop.a, installed: the engine, caches, the file source, the 2007 API,
# the transports.  It needs libblkid and libc only: nothing in it names the
# HTTP source (sources are registered: src/source.c).
LIB_SRC := util.c crc32c.c bitmap.c devsig.c identity.c bind.c source.c source_file.c source_verity.c seedmap.c seedmap_compute.c seed.c \
	cache_header.c cache.c cache_native.c cache_2007.c cache_compact.c cache_umlcow.c cache_verify.c json.c stats.c \
	plan.c profile.c sha256.c verity.c manifest.c engine.c fill.c ramstore.c progress.c failpoint.c transport_fuse.c api2007.c \
	nbd_server.c nbd_netlink.c transport_nbd.c transport_kmod.c uring.c transport_ublk.c transport.c offline.c daemon.c runstate.c ramwrites.c cow_uml.c cow_pending.c cow.c wlayer.c \
	dm_verity.c
# libuloop-http.a: the HTTP source, for the uloop command, which registers
# it, the manifest signatures (sign.c) and updates' packs (seedpack.c,
# update.c: zstd).  Not installed: it needs the libcurl + mbedTLS built
# above.
HTTP_SRC := source_http.c http_client.c http_parse.c tls_verify.c sign.c seedpack.c update.c
CLI_SRC := main.c cli.c cmd_hydrate.c cmd_info.c cmd_info_cow.c cmd_check.c cmd_export.c \
	cmd_cat.c cmd_attach.c cmd_detach.c cmd_profile.c cmd_status.c cmd_ulo2007.c \
	cmd_sync.c cmd_shutdown.c cmd_publish.c cmd_verity.c cmd_snapshot.c cmd_merge.c

LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
HTTP_OBJ := $(HTTP_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
# The test build: failpoints compiled in, never installed.
T_LIB_OBJ := $(LIB_SRC:%.c=$(B)/test/obj/%.o) $(HTTP_SRC:%.c=$(B)/test/obj/%.o)
T_CLI_OBJ := $(CLI_SRC:%.c=$(B)/test/obj/%.o)
# Unit tests: the library again under ASan+UBSan.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
U_LIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/obj/%.o) $(HTTP_SRC:%.c=$(B)/asan/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/%)

.PHONY: all static check check-unit check-integ check-vm reliability demo demo-engine bench bench-peers bench-boot bench-update bench-storm install \
	clean fuzz \
	test-bins deps-check

all: $(B)/uloop $(B)/libuloop.a

static: $(B)/static/uloop

$(MBEDTLS_LIB): $(MBEDTLS_INPUTS) tools/trixie-apt.sh
	tools/build-mbedtls.sh $(MBEDTLS_DIR)

$(CURL_LIB): tools/build-curl.sh tools/curl-mbedtls36.patch $(MBEDTLS_LIB) | $(B)/.build-deps
	tools/build-curl.sh $(CURL_DIR) $(MBEDTLS_DIR)

# The other build dependencies (libblkid), checked once per build tree.
$(B)/.build-deps: tools/build-deps.sh
	tools/build-deps.sh
	@mkdir -p $(@D)
	@touch $@

$(B)/obj/%.o: src/%.c | $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/test/obj/%.o: src/%.c | $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -DULOOP_FAILPOINTS -c -o $@ $<

$(B)/asan/obj/%.o: src/%.c | $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -DULOOP_FAILPOINTS -c -o $@ $<

$(B)/libuloop.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/libuloop-http.a: $(HTTP_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/uloop: $(CLI_OBJ) $(B)/libuloop-http.a $(B)/libuloop.a $(CURL_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libuloop-http.a $(B)/libuloop.a $(LDLIBS)

# Fully static: glibc, libcurl, mbedTLS, nghttp2, c-ares.  c-ares does its
# own /etc/hosts and DNS lookups, so no NSS module is ever dlopen()ed.
# Built for size (-Os): it goes into every initramfs (about 3.0 MiB: glibc
# 0.85, libzstd 0.65 (publish and updates), mbedTLS 0.55, libblkid 0.2).
S_OBJ := $(LIB_SRC:%.c=$(B)/static/obj/%.o) $(HTTP_SRC:%.c=$(B)/static/obj/%.o) \
	$(CLI_SRC:%.c=$(B)/static/obj/%.o) $(B)/static/obj/static_nss.o
# No unwind tables: plain C without exceptions or thread cancellation,
# and strip keeps .eh_frame (about 10% of our code).
$(B)/static/obj/%.o: src/%.c | $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Os -g -fno-asynchronous-unwind-tables \
		-fno-unwind-tables -c -o $@ $<

$(B)/static/uloop: $(S_OBJ) $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) -static $(LDFLAGS) -Wl,--gc-sections -o $@.debug $(S_OBJ) $(LDLIBS)
	strip -o $@ $@.debug
	@ls -l $@ | awk '{ printf "static uloop: %d bytes stripped\n", $$5 }'

# The same with the test build's failpoints, for guests: the power-cut
# test's control leaves a flush out with it (src/failpoint.h).
SFP_OBJ := $(S_OBJ:$(B)/static/obj/%=$(B)/static-fp/obj/%)
$(B)/static-fp/obj/%.o: src/%.c | $(CURL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Os -g -fno-asynchronous-unwind-tables \
		-fno-unwind-tables -DULOOP_FAILPOINTS -c -o $@ $<

$(B)/static-fp/uloop: $(SFP_OBJ) $(CURL_LIB)
	$(CC) -static $(LDFLAGS) -Wl,--gc-sections -o $@ $(SFP_OBJ) $(LDLIBS)

# The host side of the power-cut test: a dm-log-writes log replayed.
$(B)/test/replay-writes: tests/vm/replay-writes.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -o $@ $<

# uloop.ko's fuzzer, static for the guests (test-vm-kmod-fuzz).
$(B)/test/ioctl-fuzz: tests/vm/ioctl-fuzz.c kmod/include/uapi/linux/uloop.h
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -Wextra -Ikmod/include/uapi -o $@ $<

# The kernel's command-line tokeniser, ported, for test-kcmdline.sh.
$(B)/test/kcmdline: tests/integ/kcmdline.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -o $@ $<

# The COW power-cut test's writer (in the guest) and checker (on the host).
$(B)/test/cow-stamp: tests/vm/cow-stamp.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -static -o $@ $<

# Memory pressure in a guest (D3): static, for a busybox root.
$(B)/test/memhog: tests/vm/memhog.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -static -o $@ $<

$(B)/test/uloop: $(T_CLI_OBJ) $(T_LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/asan/uloop: $(U_LIB_OBJ) $(CLI_SRC:%.c=$(B)/asan/obj/%.o)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(B)/asan/test-%: tests/unit/test-%.c tests/unit/unit.h $(U_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Isrc -o $@ $< $(U_LIB_OBJ) $(LDLIBS)

# Built the way docs/libuloop.md says a 2007 program is: the installed
# header's name, -luloop -lblkid -pthread, no libcurl.
$(B)/include/uloop/libuloop.h: src/libuloop.h
	@mkdir -p $(@D)
	cp $< $@

$(B)/examples/ulo2007-example: docs/examples/ulo2007-example.c $(B)/libuloop.a \
		$(B)/include/uloop/libuloop.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(B)/include -o $@ $< -L$(B) -luloop -lblkid -pthread

# libFuzzer needs clang; without it the fuzz tests skip (tests/install-deps.sh
# installs it for make check).  Each harness is built from the sources it
# fuzzes, under ASan+UBSan; its corpus, tests/fuzz/corpus-NAME, is run as
# a regression test by tests/integ/test-fuzz-*.sh.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc
FUZZ_NAMES := http-parse cache-header url manifest options
FUZZ_BIN := $(FUZZ_NAMES:%=$(B)/fuzz/fuzz-%)
FUZZ_SRC_http-parse := src/http_parse.c
FUZZ_SRC_cache-header := src/cache_header.c src/crc32c.c src/util.c src/bitmap.c
FUZZ_SRC_url := src/http_client.c src/tls_verify.c src/util.c src/http_parse.c \
	src/identity.c
FUZZ_SRC_manifest := src/manifest.c src/seedmap.c src/profile.c src/verity.c \
	src/sha256.c src/util.c src/identity.c src/bitmap.c
FUZZ_SRC_options := src/util.c
# The URL harness runs libcurl's URL parser (the one uloop links).
FUZZ_LIBS_url := $(CURL_LIBS) -lz -pthread
FUZZ_CFLAGS_url := $(CURL_CFLAGS) -DULOOP_VERSION='"fuzz"'

.SECONDEXPANSION:
$(FUZZ_BIN): $(B)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $$(FUZZ_SRC_$$*) $(wildcard src/*.h) | $(CURL_LIB)
	@mkdir -p $(@D)
	if command -v $(FUZZ_CC) >/dev/null; then \
		$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_CFLAGS_$*) -o $@ $< $(FUZZ_SRC_$*) \
			$(FUZZ_LIBS_$*); \
	else rm -f $@; fi

# Each harness for FUZZ_SECONDS, its new inputs kept in build/fuzz
# (copy the interesting ones to tests/fuzz/corpus-NAME, NAME the
# harness's first word: http, cache, url, manifest, options).
fuzz: $(FUZZ_BIN)
	for n in $(FUZZ_NAMES); do \
		c=$${n%%-*}; mkdir -p $(B)/fuzz/corpus-$$c && \
		UBSAN_OPTIONS=halt_on_error=1 $(B)/fuzz/fuzz-$$n \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/ \
			$(B)/fuzz/corpus-$$c tests/fuzz/corpus-$$c || exit 1; \
	done

test-bins: all static $(B)/test/uloop $(B)/asan/uloop $(UNIT_BIN) \
	$(B)/static-fp/uloop $(B)/test/replay-writes $(B)/test/ioctl-fuzz \
	$(B)/test/kcmdline $(B)/test/memhog $(B)/test/cow-stamp \
	$(FUZZ_BIN) \
	$(B)/examples/ulo2007-example $(B)/kmod/uloopd-test

# Test dependencies come from the distribution; the script skips what is
# already there, so a warm machine spends no time here.
deps-check:
	tests/install-deps.sh

# The test binaries (six builds of uloop, the fuzzers) are built one job
# per core even under a plain `make check`, CI's command: 65 s instead of
# 116 on 2 cores.
TEST_BINS = $(MAKE) -j$(shell nproc) test-bins

check: deps-check
	$(TEST_BINS)
	tests/run-tests.sh tests/unit tests/integ tests/kmod tests/vm

check-unit:
	$(TEST_BINS)
	tests/run-tests.sh tests/unit

check-integ:
	$(TEST_BINS)
	tests/run-tests.sh tests/integ

check-vm:
	$(TEST_BINS)
	tests/run-tests.sh tests/vm

# The reliability table of the last test run (make check prints it too).
reliability:
	@sh tests/reliability-report.sh

demo: deps-check all static
	bench/demo.sh

# The engine alone on a local image (no boot): make demo-engine.
demo-engine: deps-check all
	bench/engine-demo.sh

bench: all static $(B)/bench/randread $(B)/kmod/uloopd-test
	bench/file-fill.sh
	bench/http-fill.sh
	bench/nbd.sh
	bench/kmod.sh
	bench/storm.sh

# A boot storm through the configs/ servers (bench/storm.sh).
bench-storm: deps-check all static
	bench/storm.sh

# uloop side by side with its peers, on the host (FUSE files, loop devices).
bench-peers: all $(B)/bench/randread
	bench/peers.sh

# Image updates side by side with zsync and casync (bench/update.sh).
bench-update: all
	@command -v zsync >/dev/null && command -v casync >/dev/null || \
		apt-get install -y -qq --no-install-recommends zsync casync curl >/dev/null
	bench/update.sh

# Diskless boots in QEMU, side by side with a local disk and RAM.
bench-boot: deps-check all static
	bench/boot.sh

# uloop.ko's test daemon, static for the guests (the module itself is
# built per guest kernel by tests/kmod/build-kmod.sh).
$(B)/kmod/uloopd-test: tests/kmod/uloopd-test.c kmod/include/uapi/linux/uloop.h
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -Ikmod/include/uapi -o $@ $<

# The guests' load generator: static, they have only busybox.
$(B)/bench/randread: bench/randread.c
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -o $@ $<

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCDIR)/uloop $(DESTDIR)$(DOCDIR)
	install -m 0755 $(B)/uloop $(DESTDIR)$(BINDIR)/uloop
	ln -sf uloop $(DESTDIR)$(BINDIR)/ulohttp
	ln -sf uloop $(DESTDIR)$(BINDIR)/ulobdev
	install -m 0644 $(B)/libuloop.a $(DESTDIR)$(LIBDIR)/libuloop.a
	install -m 0644 src/libuloop.h $(DESTDIR)$(INCDIR)/uloop/libuloop.h
	install -m 0644 README docs/*.md $(DESTDIR)$(DOCDIR)/
	if [ -x $(B)/static/uloop ]; then \
		install -d $(DESTDIR)$(LIBDIR)/uloop; \
		install -m 0755 $(B)/static/uloop $(DESTDIR)$(LIBDIR)/uloop/uloop.static; \
	fi
	# The initramfs builder, next to its /init and lib (it finds the
	# static uloop one level up); a link to it on the admin's PATH.
	install -d $(DESTDIR)$(LIBDIR)/uloop/initramfs/lib $(DESTDIR)$(SBINDIR)
	install -m 0755 initramfs/uloop-mkinitramfs initramfs/init initramfs/udhcpc.sh \
		$(DESTDIR)$(LIBDIR)/uloop/initramfs/
	install -m 0644 initramfs/lib/*.sh $(DESTDIR)$(LIBDIR)/uloop/initramfs/lib/
	ln -sf ../lib/uloop/initramfs/uloop-mkinitramfs $(DESTDIR)$(SBINDIR)/uloop-mkinitramfs
	# dracut and initramfs-tools look in their own fixed places, whatever
	# the PREFIX; the man pages.
	install -d $(DESTDIR)$(DRACUTDIR)/90uloop $(DESTDIR)$(ITOOLSDIR)/hooks \
		$(DESTDIR)$(ITOOLSDIR)/scripts/init-top $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 hooks/dracut/90uloop/*.sh $(DESTDIR)$(DRACUTDIR)/90uloop/
	install -m 0755 hooks/initramfs-tools/hooks/uloop $(DESTDIR)$(ITOOLSDIR)/hooks/uloop
	# The hooks find the static uloop and the boot library where this
	# install put them, whatever the PREFIX.
	sed -i 's|@LIBDIR@|$(LIBDIR)|' $(DESTDIR)$(DRACUTDIR)/90uloop/module-setup.sh \
		$(DESTDIR)$(ITOOLSDIR)/hooks/uloop
	install -m 0755 hooks/initramfs-tools/scripts/init-top/uloop $(DESTDIR)$(ITOOLSDIR)/scripts/init-top/uloop
	install -m 0644 hooks/initramfs-tools/scripts/uloop $(DESTDIR)$(ITOOLSDIR)/scripts/uloop
	install -m 0644 docs/man/*.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	# uloop.ko's source where DKMS finds it, its dkms.conf carrying this
	# version; then, on the machine itself (no DESTDIR) with dkms there,
	# registered and built for every kernel that has headers
	# (tools/dkms-install.sh; docs/kmod.md).
	install -d $(DESTDIR)$(DKMSSRCDIR)/uloop-$(VERSION)/include/uapi/linux
	install -m 0644 kmod/Kbuild kmod/Makefile kmod/*.c kmod/*.h \
		$(DESTDIR)$(DKMSSRCDIR)/uloop-$(VERSION)/
	install -m 0644 kmod/include/uapi/linux/uloop.h \
		$(DESTDIR)$(DKMSSRCDIR)/uloop-$(VERSION)/include/uapi/linux/
	sed 's/@VERSION@/$(VERSION)/' kmod/dkms.conf >$(DESTDIR)$(DKMSSRCDIR)/uloop-$(VERSION)/dkms.conf
	if [ -z "$(DESTDIR)" ] && [ "$(DKMS)" != no ]; then \
		tools/dkms-install.sh $(VERSION) $(DKMSSRCDIR); \
	fi

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
