# A local stand-in for python:3.11-slim-bookworm, built from Debian's packages on top of a
# debootstrap'd bookworm (where no registry serves the public image). It offers what the
# Dockerfiles use from the public image: `python` and `pip` on PATH installing into the
# system interpreter, apt-get, useradd. `make images` builds it (claude_pool.devenv.images).
ARG DEBIAN_IMAGE=localhost/claude-pool-debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python-is-python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# The image is the environment: pip may install into the system interpreter (PEP 668 marker).
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8
CMD ["python3"]
