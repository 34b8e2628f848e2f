# The published flake (flake.nix:11-31) builds nix/addon.nix from
# nixpkgs for x86_64-linux and exposes it as defaultPackage and, through
# flake-utils' mkApp, defaultApp with program <drv>/bin/audio-files-addon.
# The same outputs here, built with /bin/sh and no inputs (nixpkgs is
# not available offline).
{
  outputs = { self }:
    let
      system = "x86_64-linux";
      drv = derivation {
        name = "audio-files-addon";
        inherit system;
        script = ./src/addon.sh;
        builder = "/bin/sh";
        args = [ "-c" "PATH=/usr/bin:/bin; mkdir -p $out/bin && cp $script $out/bin/audio-files-addon && chmod 0555 $out/bin/audio-files-addon" ];
      };
    in {
      defaultPackage.${system} = drv;
      defaultApp.${system} = { type = "app"; program = "${drv}/bin/audio-files-addon"; };
    };
}
