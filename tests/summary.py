"""summary: the closing line of `make test`: the unit binaries (each one a
test: its "N passed, M failed" line says whether it passed) plus the
integration tests (pytest's JUnit XML), as "total: N passed, M failed, K
skipped"."""

import re
import sys
import xml.etree.ElementTree as ET

unit_log, junit = sys.argv[1], sys.argv[2]
passed = failed = skipped = 0
for line in open(unit_log, errors="replace"):
    m = re.fullmatch(r"(\d+) passed, (\d+) failed\s*", line)
    if m:
        passed += int(m.group(2)) == 0
        failed += int(m.group(2)) != 0
for suite in ET.parse(junit).getroot().iter("testsuite"):
    n = int(suite.get("tests", 0))
    f = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    s = int(suite.get("skipped", 0))
    passed += n - f - s
    failed += f
    skipped += s
print("total: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
