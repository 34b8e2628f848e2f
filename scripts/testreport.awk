# Reads `go test -v` output and, for every test whose result is WANT
# (FAIL or SKIP), prints its result line and the last MAX lines the test
# logged, so a CI log that keeps only the summary still says why a test
# failed or was skipped. Used by scripts/gotest.
function report(name, kind,   n, i, start) {
  print "  --- " kind ": " name
  n = cnt[name]
  if (n == 0) { print "        (nothing logged)"; return }
  start = 1
  if (n > max) { start = n - max + 1; print "        ... " (start - 1) " earlier lines in the full log" }
  for (i = start; i <= n; i++) print "    " buf[name, i]
}
BEGIN { max = (MAX ? MAX : 40) }
/^=== RUN / { cur = $3; cnt[cur] = 0; next }
/^=== (NAME|CONT) / { cur = $3; next }
/^=== PAUSE / { next }
/^ *--- (FAIL|SKIP): / {
  kind = ($2 == "FAIL:") ? "FAIL" : "SKIP"
  if (kind == WANT) report($3, kind)
  next
}
/^ *--- PASS: / { next }
/^(ok|FAIL|PASS|\?) / { cur = ""; next }
cur != "" { cnt[cur]++; buf[cur, cnt[cur]] = $0 }
