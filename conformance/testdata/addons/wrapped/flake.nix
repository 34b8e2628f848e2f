# makeWrapper's layout without nixpkgs (not available offline): the
# derivation is built with /bin/sh and no inputs.
{
  outputs = { self }:
    let
      system = "x86_64-linux";
      drv = derivation {
        name = "wrapped-addon";
        pname = "wrapped-addon";
        inherit system;
        script = ./run.sh;
        builder = "/bin/sh";
        args = [ "-c" ''
          PATH=/usr/bin:/bin
          mkdir -p $out/bin
          cp $script $out/bin/.wrapped-addon-wrapped
          chmod 0555 $out/bin/.wrapped-addon-wrapped
          printf '#!/bin/sh\nexport WRAPPED_BY=the-wrapper\nexec "%s/bin/.wrapped-addon-wrapped" "$@"\n' "$out" > $out/bin/wrapped-addon
          chmod 0555 $out/bin/wrapped-addon
        '' ];
      };
    in {
      packages.${system}.default = drv;
    };
}
