#!/usr/bin/env bash
# Builds autoglm-edge_<version>_<arch>.deb: the self-contained daemon in /opt/autoglm, the unit in
# /lib/systemd/system, /etc/autoglm/edge.json as a conffile, and maintainer scripts that create the autoglm user,
# enable and start the service (postinst), stop it (prerm) and purge its state (postrm).
#
#   deploy/package-deb.sh --arch arm64                 # dotnet publish -r linux-arm64, then package
#   deploy/package-deb.sh --arch amd64 --from-dir DIR  # package an already published folder
#   --compression xz|gzip|none                          # dpkg-deb's compressor (default xz, smallest; none is fastest)
# The version is <Version> in Directory.Build.props (what `autoglm-edge --version` says); --version overrides it
# and is stamped into the published binary too (with --from-dir the folder must have been published with it).
set -euo pipefail

readonly here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly repo="$(dirname "$here")"

arch=""
from_dir=""
out="$repo/artifacts/deb"
compression=xz
# One version for the package and the binary: <Version> in Directory.Build.props, which `autoglm-edge --version` reports.
version="$(sed -n 's:.*<Version>\([^<]*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)"

die() { echo "package-deb.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?--arch needs arm64 or amd64}"; shift ;;
    --from-dir) from_dir="${2:?--from-dir needs a folder}"; shift ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    --version) version="${2:?--version needs a version}"; shift ;;
    --compression) compression="${2:?--compression needs xz, gzip or none}"; shift ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift
done

case "$arch" in
  arm64) rid=linux-arm64 ;;
  amd64) rid=linux-x64 ;;
  *) die "--arch must be arm64 or amd64 (Debian names)" ;;
esac
case "$compression" in xz|gzip|none) ;; *) die "--compression must be xz, gzip or none (got '$compression')" ;; esac
[ -n "$version" ] || die "no <Version> in $repo/Directory.Build.props (or pass --version)"
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "--version '$version' is not a Debian version"
command -v dpkg-deb >/dev/null || die "dpkg-deb is needed (apt-get install dpkg)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/autoglm-edge"
mkdir -p "$root/opt/autoglm" "$root/DEBIAN"

if [ -n "$from_dir" ]; then
  [ -x "$from_dir/autoglm-edge" ] || die "$from_dir has no executable autoglm-edge"
  cp -a "$from_dir/." "$root/opt/autoglm/"
else
  command -v dotnet >/dev/null || die "the .NET 10 SDK is needed to publish (or pass --from-dir)"
  dotnet publish "$repo/src/AutoGlm.Edge" -c Release -r "$rid" --self-contained -p:DebugType=none -p:Version="$version" -o "$root/opt/autoglm" >&2
fi

# Whatever the publish folder's modes, the installed tree is root-owned, world-readable and not group/other-writable.
chmod -R u+rwX,go+rX,go-w "$root/opt/autoglm"
chmod 0755 "$root/opt/autoglm/autoglm-edge"

install -D -m 0644 "$here/systemd/autoglm-edge.service" "$root/lib/systemd/system/autoglm-edge.service"
install -D -m 0640 "$here/systemd/edge.json" "$root/etc/autoglm/edge.json"
install -D -m 0644 "$here/systemd/60-autoglm-gpio.rules" "$root/lib/udev/rules.d/60-autoglm-gpio.rules"
# The Jetson drop-in and profiles travel in the package; postinst installs the drop-in on a Jetson.
install -D -m 0644 "$here/jetson/autoglm-edge.service.d/jetson.conf" "$root/opt/autoglm/deploy/jetson/autoglm-edge.service.d/jetson.conf"
install -D -m 0644 "$here/jetson/appsettings.Jetson.json" "$root/opt/autoglm/deploy/jetson/appsettings.Jetson.json"
cp -r "$here/jetson/memory" "$root/opt/autoglm/deploy/jetson/memory"
install -D -m 0755 "$here/jetson/check.sh" "$root/opt/autoglm/deploy/jetson/check.sh"
install -D -m 0644 "$repo/README.md" "$root/usr/share/doc/autoglm-edge/README.md"
mkdir -p "$root/usr/bin"
ln -s /opt/autoglm/autoglm-edge "$root/usr/bin/autoglm-edge"

size_kb="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: autoglm-edge
Version: $version
Architecture: $arch
Maintainer: AutoGlm.Edge maintainers <autoglm-edge@localhost>
Installed-Size: $size_kb
Depends: libc6 (>= 2.31), libstdc++6, adduser, init-system-helpers (>= 1.54)
Section: misc
Priority: optional
Homepage: https://github.com/autoglm/autoglm-edge
Description: offline multimodal GLM assistant for Jetson and Raspberry Pi
 A .NET daemon that runs an INT4 GLM-family model with ONNX Runtime, takes jobs
 over MQTT and serves an OpenAI-compatible HTTP API, as the systemd service
 autoglm-edge (self-contained: no .NET runtime needed).
CONTROL
echo /etc/autoglm/edge.json > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$here/debian/$script" "$root/DEBIAN/$script"
done

mkdir -p "$out"
deb="$out/autoglm-edge_${version}_${arch}.deb"
dpkg-deb --root-owner-group "-Z$compression" --build "$root" "$deb" >/dev/null
echo "$deb"
