{
  description = "nix-hello: a berth/Docspell addon packaged as a flake";

  # No inputs: the derivation below needs nothing but /bin/sh, so it
  # builds offline. A real addon would take nixpkgs as input and use
  # stdenv or writeShellApplication.
  outputs = { self }:
    let
      forSystem = system: {
        default = derivation {
          name = "nix-hello-1.0.0";
          inherit system;
          src = ./nix-hello.sh;
          builder = "/bin/sh";
          args = [ "-c" "PATH=/usr/bin:/bin; mkdir -p $out/bin && cp $src $out/bin/nix-hello && chmod 0555 $out/bin/nix-hello" ];
        };
      };
    in {
      packages.x86_64-linux = forSystem "x86_64-linux";
      packages.aarch64-linux = forSystem "aarch64-linux";
    };
}
