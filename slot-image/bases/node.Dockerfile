# A local stand-in for node:22-bookworm-slim, built from Debian's packages (Node 18, npm 9) on
# top of a debootstrap'd bookworm (where no registry serves the public image). Only the slot
# image's `cli` stage uses it: npm installs the pinned CLI, whose native binary is copied out.
ARG DEBIAN_IMAGE=localhost/claude-pool-debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ENV LANG=C.UTF-8
CMD ["node"]
