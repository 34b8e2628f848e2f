# nixpkgs' makeWrapper layout: bin/run sets the environment and execs the
# real program, kept as bin/.run-wrapped.
PATH=/usr/bin:/bin
mkdir -p $out/bin
cp $script $out/bin/.run-wrapped
chmod 0555 $out/bin/.run-wrapped
printf '#!/bin/sh\nexport BERTH_TEST_WRAPPED=by-the-wrapper\nexec "%s/bin/.run-wrapped" "$@"\n' "$out" > $out/bin/run
chmod 0555 $out/bin/run
