// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kcmdline.c - the kernel's reading of a command line, for the
 * differential test of initramfs/lib/cmdline.sh (test-kcmdline.sh).
 *
 * Design.  The boot library parses /proc/cmdline in POSIX sh; the kernel
 * splits the same text with next_arg() (lib/cmdline.c, called by
 * parse_args() in kernel/params.c).  This is a port of that tokenisation,
 * written from its behaviour:
 *  - blanks are the kernel's isspace(): space, \t \n \v \f \r and the
 *    byte 0xa0 (the kernel's ctype table is Latin-1), outside quotes;
 *    runs of them separate words, leading ones are skipped;
 *  - a '"' toggles quoting wherever it stands, and stays in the word,
 *    except: a word that starts with '"' loses it, and then a '"' that
 *    ends the word; a value that starts with '"' loses it, and then a
 *    '"' that ends the word;
 *  - param and value split at the first '=' that is not the word's
 *    first byte (the kernel keeps "equals = i" only while equals is 0);
 *    no '=': a value-less word;
 *  - a value-less "--" ends the parameters (the rest is init's argv).
 * No NUL can be in a command line, so none is generated.
 *
 * Modes:
 *   kcmdline words FILE    the words of FILE's text, one a line, framed
 *                          as cmdline.sh's cmdline_words prints them:
 *                          "w" PARAM[=VALUE], or for a word holding a
 *                          newline (only inside quotes) "n" and its text
 *                          up to that newline;
 *   kcmdline expect FILE   the words, then what uloop_parse_line must
 *                          set for them: a model of the parser's rules
 *                          (last value wins; lists in order; an empty
 *                          value or a newline in one of uloop's
 *                          parameters is an error), for the variables
 *                          test-kcmdline.sh prints;
 *   kcmdline all CASES     both of the above for every case of a corpus
 *                          file (one case a line, bytes other than
 *                          printable ASCII and '\' as \0ooo, as printf
 *                          %b reads them), each after a line "#case N";
 *   kcmdline gen SEED N    N generated cases in that form: uloop's
 *                          parameters and others, repeated, quoted every
 *                          way, very long values, tabs, newlines, \r,
 *                          0xa0 and other non-UTF-8 bytes, "--", empty
 *                          values, '=' in values.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXLINE 8192
#define MAXWORDS 2048

struct word {
	char *param, *val;	/* val NULL: no '=' */
};

static bool kspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

/* Split @s (changed in place) into @w; returns the count.  A port of
 * next_arg() and parse_args()'s loop around it. */
static size_t ksplit(char *s, struct word *w, size_t max)
{
	size_t n = 0;

	while (kspace((unsigned char)*s))
		s++;
	while (*s && n < max) {
		size_t i, equals = 0;
		bool inq = false, quoted = false;
		char *param, *val;

		if (*s == '"') {
			s++;
			inq = quoted = true;
		}
		for (i = 0; s[i]; i++) {
			if (kspace((unsigned char)s[i]) && !inq)
				break;
			if (!equals && s[i] == '=')
				equals = i;
			if (s[i] == '"')
				inq = !inq;
		}
		param = s;
		val = NULL;
		if (equals) {
			s[equals] = '\0';
			val = s + equals + 1;
			if (*val == '"') {
				val++;
				if (s[i - 1] == '"')
					s[i - 1] = '\0';
			}
		}
		if (quoted && i > 0 && s[i - 1] == '"')
			s[i - 1] = '\0';
		if (s[i]) {
			s[i] = '\0';
			s += i + 1;
		} else {
			s += i;
		}
		while (kspace((unsigned char)*s))
			s++;
		if (!val && !strcmp(param, "--"))
			break;	/* the rest is init's */
		w[n].param = param;
		w[n].val = val;
		n++;
	}
	return n;
}

/* The word as cmdline_words prints it (without its frame letter), into
 * @buf; whether it holds a newline (then @buf ends before it). */
static bool kword(const struct word *w, char *buf, size_t cap)
{
	char *nl;

	snprintf(buf, cap, "%s%s%s", w->param, w->val ? "=" : "", w->val ? w->val : "");
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return nl != NULL;
}

/* ---- the model of uloop_parse_line's rules ---- */

struct model {
	char url[MAXLINE], cache[MAXLINE], overlay[MAXLINE], unionfs[MAXLINE];
	char fstype[MAXLINE], transport[MAXLINE], ca[MAXLINE], roothash[MAXLINE];
	char verity[MAXLINE], profile[MAXLINE], hydrate[MAXLINE], init[MAXLINE];
	char bootif[MAXLINE], reboot_delay[MAXLINE];
	char mirrors[MAXLINE * 2], pins[MAXLINE * 2], ips[MAXLINE * 2], warn[MAXLINE * 2];
	bool offline, debug, reset, ovlro, shell, brk, err;
};

static bool starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static bool ends(const char *s, const char *p)
{
	size_t a = strlen(s), b = strlen(p);

	return a >= b && !strcmp(s + a - b, p);
}

static void set(char *dst, const char *v)
{
	size_t l = 0;

	for (; l < MAXLINE - 1 && v[l]; l++)
		dst[l] = v[l];
	dst[l] = '\0';
}

static void append(char *list, const char *v)
{
	size_t n = strlen(list);

	snprintf(list + n, MAXLINE * 2 - n, "%s%s", n ? "\n" : "", v);
}

/* uloop_bool: off only for a word ending in =0, =no or =off. */
static bool kbool(const char *a)
{
	return !ends(a, "=0") && !ends(a, "=no") && !ends(a, "=off");
}

/* The names whose empty value (or newline) is an error: cmdline.sh's
 * "rd.uloop.?*|rd.live.overlay.?*|root|netroot|ip|init|BOOTIF". */
static bool checked_name(const char *name)
{
	return (starts(name, "rd.uloop.") && name[9]) ||
	       (starts(name, "rd.live.overlay.") && name[16]) ||
	       !strcmp(name, "root") || !strcmp(name, "netroot") || !strcmp(name, "ip") ||
	       !strcmp(name, "init") || !strcmp(name, "BOOTIF");
}

static bool digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void model_run(struct model *m, struct word *w, size_t n)
{
	char a[MAXLINE], name[MAXLINE], jit[MAXLINE] = "";
	bool rootgiven = false;

	memset(m, 0, sizeof(*m));
	set(m->overlay, "tmpfs");
	set(m->unionfs, "overlay");
	set(m->fstype, "auto");
	set(m->transport, "auto");
	set(m->verity, "eio");
	set(m->reboot_delay, "30");
	set(m->init, "/sbin/init");
	for (size_t i = 0; i < n; i++) {
		bool nl = kword(&w[i], a, sizeof(a));
		const char *eq = strchr(a, '='), *v = eq ? eq + 1 : NULL;

		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
		if (nl) {
			/* A value holding a newline: an error for uloop's own
			 * names, anything else is not uloop's business. */
			if (checked_name(name) || !strcmp(name, "rd.neednet") ||
			    !strcmp(name, "rd.shell") || !strcmp(name, "rd.break"))
				m->err = true;
			continue;
		}
		if (eq && !*v && checked_name(name)) {
			m->err = true;
			continue;
		}
		if (starts(a, "root=uloop:")) {
			set(m->url, a + strlen("root=uloop:"));
			rootgiven = true;
		} else if (starts(a, "netroot=uloop:")) {
			if (!rootgiven)
				set(m->url, a + strlen("netroot=uloop:"));
		} else if (starts(a, "root=") || starts(a, "netroot=")) {
		} else if (starts(a, "ip=")) {
			append(m->ips, v);
		} else if (starts(a, "BOOTIF=")) {
			set(m->bootif, v);
		} else if (starts(a, "init=")) {
			set(m->init, v);
		} else if (!strcmp(a, "rd.neednet") || starts(a, "rd.neednet=")) {
		} else if (starts(a, "rd.uloop.cache=")) {
			set(m->cache, v);
		} else if (starts(a, "rd.uloop.overlay=")) {
			set(m->overlay, v);
		} else if (starts(a, "rd.uloop.union=")) {
			set(m->unionfs, v);
		} else if (starts(a, "rd.uloop.fstype=")) {
			set(m->fstype, v);
		} else if (starts(a, "rd.uloop.transport=")) {
			set(m->transport, v);
		} else if (starts(a, "rd.uloop.mirror=")) {
			if ((starts(v, "http://") && v[7]) || (starts(v, "https://") && v[8]))
				append(m->mirrors, v);
			else
				m->err = true;
		} else if (starts(a, "rd.uloop.ca=")) {
			set(m->ca, v);
		} else if (starts(a, "rd.uloop.pin=")) {
			if (starts(v, "sha256//") && v[8])
				append(m->pins, v);
			else
				m->err = true;
		} else if (!strcmp(a, "rd.uloop.offline") || starts(a, "rd.uloop.offline=")) {
			m->offline = kbool(a);
		} else if (!strcmp(a, "rd.uloop.profile=none")) {
			set(m->profile, "");
		} else if (starts(a, "rd.uloop.profile=")) {
			set(m->profile, v);
		} else if (!strcmp(a, "rd.uloop.hydrate")) {
			set(m->hydrate, "-");
		} else if (starts(a, "rd.uloop.hydrate=")) {
			set(m->hydrate, v);
		} else if (starts(a, "rd.uloop.jitter=")) {
			if (!*v || !digits(v) || strlen(v) >= 6 || strtoul(v, NULL, 10) > 86400)
				m->err = true;
			else
				set(jit, v);
		} else if (starts(a, "rd.uloop.roothash=")) {
			set(m->roothash, v);
		} else if (starts(a, "rd.uloop.verity=")) {
			set(m->verity, v);
		} else if (!strcmp(a, "rd.uloop.debug") || starts(a, "rd.uloop.debug=")) {
			m->debug = kbool(a);
		} else if (!strcmp(a, "rd.live.overlay.reset") || starts(a, "rd.live.overlay.reset=")) {
			m->reset = kbool(a);
		} else if (!strcmp(a, "rd.live.overlay.readonly") ||
			   starts(a, "rd.live.overlay.readonly=")) {
			m->ovlro = kbool(a);
		} else if (!strcmp(a, "rd.shell") || !strcmp(a, "rd.shell=1")) {
			m->shell = true;
		} else if (!strcmp(a, "rd.break") || starts(a, "rd.break=")) {
			m->brk = true;
		} else if (starts(a, "rd.uloop.reboot_delay=")) {
			if (digits(v))
				set(m->reboot_delay, v);
			else
				m->err = true;
		} else if (starts(a, "rd.uloop.")) {
			append(m->warn, a);
		}
	}
	/* rd.uloop.jitter joins rd.uloop.hydrate unless it has its own. */
	if (*jit && *m->hydrate && !strstr(m->hydrate, ",jitter=")) {
		char h[MAXLINE + 32];

		if (!strcmp(m->hydrate, "-"))
			snprintf(h, sizeof(h), ",jitter=%s", jit);
		else
			snprintf(h, sizeof(h), "%s,jitter=%s", m->hydrate, jit);
		set(m->hydrate, h);
	}
}

/* The same lines test-kcmdline.sh's sh side prints. */
static void model_print(const struct model *m)
{
	printf("URL=%s\nCACHE=%s\nOVERLAY=%s\nUNION=%s\nFSTYPE=%s\nTRANSPORT=%s\n",
	       m->url, m->cache, m->overlay, m->unionfs, m->fstype, m->transport);
	printf("CA=%s\nROOTHASH=%s\nVERITY=%s\nPROFILE=%s\nHYDRATE=%s\nINIT=%s\n",
	       m->ca, m->roothash, m->verity, m->profile, m->hydrate, m->init);
	printf("BOOTIF=%s\nREBOOT_DELAY=%s\nMIRRORS=%s\nPINS=%s\nIPS=%s\nWARN=%s\n",
	       m->bootif, m->reboot_delay, m->mirrors, m->pins, m->ips, m->warn);
	printf("OFFLINE=%s\nDEBUG=%s\nRESET=%s\nOVLRO=%s\nSHELL=%s\nBREAK=%s\nERR=%s\n",
	       m->offline ? "1" : "", m->debug ? "1" : "", m->reset ? "1" : "",
	       m->ovlro ? "1" : "", m->shell ? "1" : "", m->brk ? "1" : "",
	       m->err ? "1" : "");
}

static void run_case(char *text, bool expect)
{
	static struct word w[MAXWORDS];
	static struct model m;
	char buf[MAXLINE];
	size_t n = ksplit(text, w, MAXWORDS);

	for (size_t i = 0; i < n; i++) {
		bool nl = kword(&w[i], buf, sizeof(buf));

		printf("%c%s\n", nl ? 'n' : 'w', buf);
	}
	if (expect) {
		printf("--\n");
		model_run(&m, w, n);
		model_print(&m);
	}
}

/* ---- corpus lines: \0ooo escapes, as printf %b reads them ---- */

static size_t unescape(const char *line, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = line; *p && n + 1 < cap; p++) {
		if (p[0] == '\\' && p[1] == '0' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7' && p[4] >= '0' && p[4] <= '7') {
			out[n++] = (char)((p[2] - '0') * 64 + (p[3] - '0') * 8 + (p[4] - '0'));
			p += 4;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return n;
}

static void escape(const char *s, size_t n, FILE *f)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\0%03o", c);
	}
	fputc('\n', f);
}

/* ---- the generator ---- */

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	/* xorshift64*: the same cases for the same seed everywhere. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ull >> 11) % n;
}

static const char *const names[] = {
	"root", "netroot", "rd.uloop.cache", "rd.uloop.overlay", "rd.uloop.union",
	"rd.uloop.fstype", "rd.uloop.transport", "rd.uloop.mirror", "rd.uloop.ca",
	"rd.uloop.pin", "rd.uloop.offline", "rd.uloop.profile", "rd.uloop.hydrate",
	"rd.uloop.jitter", "rd.uloop.roothash", "rd.uloop.verity", "rd.uloop.debug",
	"rd.live.overlay.reset", "rd.live.overlay.readonly", "rd.uloop.reboot_delay",
	"ip", "BOOTIF", "init", "rd.neednet", "rd.shell", "rd.break", "rd.uloop.cahce",
	"rd.uloop.", "quiet", "console", "rd.uloop", "ro", "--", "", "=",
};

static const char *const values[] = {
	"uloop:http://h/r.sq", "uloop:https://boot.example/images/root.uloop?sig=a=b",
	"uloop:ftp://x", "/dev/sda1", "LABEL=my cache", "UUID=0a-1b:/var/c", "PARTLABEL=c",
	"tmpfs:size=64M", "none", "aufs", "erofs", "kmod", "http://m/r.sq", "https://m2/r",
	"m/r", "sha256//AAAA=", "sha256//", "md5//x", "0", "1", "no", "off", "yes", "8M",
	"8M,jitter=300", ",jitter=5", "300", "86400", "86401", "00009", "5s", "eio",
	"restart", "/sbin/init", "/bin/sh", "dhcp", "01-52-54-00-12-34-56", "ttyS0,115200",
	"a=b=c", "=", "==", "\"", "\"\"", "x\"y", "none", "/etc/uloop/boot.profile",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "",
};

/* One blank of the kernel's, or 0xa0. */
static char blank(void)
{
	static const char b[] = " \t\n\v\f\r\xa0";

	return rnd(4) ? ' ' : b[rnd(sizeof(b) - 1)];
}

static size_t put(char *out, size_t n, size_t cap, const char *s)
{
	size_t l = strlen(s);

	if (n + l >= cap)
		return n;
	memcpy(out + n, s, l);
	return n + l;
}

/* Noise: bytes a value should not hold but a command line can. */
static size_t noise(char *out, size_t n, size_t cap)
{
	static const char odd[] = "\"= \t\n\r\v\f\xa0\x80\xff\xc3\xa0\xe2\x80\xa0\x01\x1b\x7f'\\$`*?[";
	size_t k = 1 + rnd(3);

	while (k-- && n + 1 < cap)
		out[n++] = rnd(3) ? odd[rnd(sizeof(odd) - 1)] : (char)(1 + rnd(255));
	return n;
}

static size_t gen_value(char *out, size_t n, size_t cap)
{
	n = put(out, n, cap, values[rnd(sizeof(values) / sizeof(values[0]))]);
	if (!rnd(8))
		n = noise(out, n, cap);
	if (!rnd(20)) {	/* very long: up to about the kernel's 2048 */
		size_t l = rnd(1800);

		while (l-- && n + 1 < cap)
			out[n++] = "abcdefghij/._-=:"[rnd(16)];
	}
	if (!rnd(10))
		n = put(out, n, cap, values[rnd(sizeof(values) / sizeof(values[0]))]);
	return n;
}

static size_t gen_word(char *out, size_t n, size_t cap)
{
	const char *name = names[rnd(sizeof(names) / sizeof(names[0]))];
	unsigned style = (unsigned)rnd(12);
	bool eq = rnd(6) != 0;

	/* Quote styles the kernel reads differently: around the word, around
	 * the value, inside either, unterminated. */
	if (style == 1 || style == 7)
		n = put(out, n, cap, "\"");
	n = put(out, n, cap, name);
	if (style == 5)
		n = put(out, n, cap, "\"x\"");
	if (eq) {
		n = put(out, n, cap, "=");
		if (style == 2 || style == 3 || style == 8)
			n = put(out, n, cap, "\"");
		if (style == 9 && n + 1 < cap)
			out[n++] = blank();
		n = gen_value(out, n, cap);
		if (style == 3 && n + 2 < cap) {	/* a quoted blank inside */
			out[n++] = blank();
			n = gen_value(out, n, cap);
		}
		if (style == 4)
			n = put(out, n, cap, "\"tail\"x");
	}
	if (style == 1 || style == 2 || style == 3)
		n = put(out, n, cap, "\"");
	if (style == 6)
		n = noise(out, n, cap);
	return n;
}

static void generate(uint64_t seed, unsigned count)
{
	static char line[MAXLINE];

	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	for (unsigned c = 0; c < count; c++) {
		size_t n = 0, cap = rnd(10) ? 1024 : 2048;
		unsigned words = 1 + (unsigned)rnd(rnd(4) ? 8 : 40);

		if (!rnd(10))
			line[n++] = blank();
		for (unsigned k = 0; k < words && n + 2 < cap; k++) {
			if (k) {
				unsigned b = 1 + (unsigned)rnd(rnd(5) ? 1 : 4);

				while (b-- && n + 1 < cap)
					line[n++] = blank();
			}
			n = gen_word(line, n, cap);
		}
		/* No NUL: no command line holds one. */
		for (size_t i = 0; i < n; i++)
			if (!line[i])
				line[i] = '\x01';
		escape(line, n, stdout);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = malloc(MAXLINE * 8);

	if (!f || !b) {
		perror(path);
		exit(2);
	}
	*len = fread(b, 1, MAXLINE * 8 - 1, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	if (argc == 3 && (!strcmp(argv[1], "words") || !strcmp(argv[1], "expect"))) {
		size_t len;
		char *t = slurp(argv[2], &len);

		if (strlen(t) != len) {
			fprintf(stderr, "%s: holds a NUL: no command line does\n", argv[2]);
			return 2;
		}
		run_case(t, argv[1][0] == 'e');
		free(t);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "all")) {
		static char line[MAXLINE * 5], text[MAXLINE];
		FILE *f = fopen(argv[2], "r");
		unsigned k = 0;

		if (!f) {
			perror(argv[2]);
			return 2;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			unescape(line, text, sizeof(text));
			printf("#case %u\n", ++k);
			run_case(text, true);
		}
		fclose(f);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "gen")) {
		generate(strtoull(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10));
		return 0;
	}
	fprintf(stderr, "usage: kcmdline words|expect FILE | all CASES | gen SEED N\n");
	return 2;
}
