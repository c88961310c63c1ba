#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H8
# The HTTP field parsers under libFuzzer (status line, Content-Range,
# Content-Length, ETag, Retry-After): the checked-in corpus once, then a
# short run (make fuzz runs long); no crash, no sanitizer report, no broken
# contract (the harness aborts).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuzz-functions.sh"
fuzz_regress http-parse
