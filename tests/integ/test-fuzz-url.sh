#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H8
# URL and redirect handling under libFuzzer: a Location resolved against
# the URL it came from, the response head line by line, IP literals, the
# "same URL but for its query" identity rule.  The checked-in corpus once,
# then a short run (make fuzz runs long).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuzz-functions.sh"
fuzz_regress url
