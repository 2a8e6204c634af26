# Shared by tools/image and tools/image-smoke: picks the container engine and
# installs podman when no docker daemon answers. Sourced, not run.
IMAGE=${TICKETD_IMAGE:-ticketd:local}

need_packages() {
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "tools/image: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ -z "${ENGINE:-}" ]; then
  if command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
    ENGINE=docker
  else
    ENGINE=podman
  fi
fi
PODMAN_FLAGS=()
if [ "$ENGINE" = podman ]; then
  # podman's default recommends (crun, slirp, fuse-overlayfs) are not all
  # needed; runc is what runs on our machines.
  need_packages podman runc uidmap iptables
  # shellcheck disable=SC2206
  PODMAN_FLAGS=(${TICKETD_PODMAN_FLAGS:---runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768})
fi

image_size_mb() {
  local bytes
  bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$1")
  echo $((bytes / 1000000))
}
