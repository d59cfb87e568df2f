# One image for every EPIM Search service: API, runner, migrations, Ray head and workers.
#   docker build -t epim-search .                                        # CPU torch (default)
#   docker build -t epim-search:cuda --build-arg TORCH_VARIANT=cu126 .   # CUDA torch
# A torch 2.13.0 wheel placed in docker/wheels/ is installed instead of the variant's index
# (`make compose-smoke` puts this machine's CPU wheel there); its dependencies come from PyPI.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG TORCH_VARIANT=cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EPIM_DATA_DIR=/data

# Real offline data for the proxies (Fashion-MNIST IDX files) and curl for health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin epim \
 && mkdir -p /data /app && chown epim:epim /data /app
WORKDIR /app

# Dependencies first (a layer that changes only with pyproject.toml and constraints.txt):
# torch (a local wheel, else the variant's index), then every pinned dependency.
COPY docker/wheels/ /wheels/
COPY pyproject.toml README.md constraints.txt ./
RUN if ls /wheels/torch-*.whl >/dev/null 2>&1; then \
      pip install -c constraints.txt /wheels/torch-2.13.0*.whl; \
    else \
      pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" torch==2.13.0; \
    fi \
 && rm -rf /wheels \
 && mkdir -p epim && touch epim/__init__.py \
 && pip install -c constraints.txt . && pip uninstall -y epim-search && rm -rf epim build

# The code (changes often; rebuilds from here in seconds).
COPY epim ./epim
COPY examples ./examples
RUN pip install --no-deps . && rm -rf build

USER epim
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 CMD curl -fsS http://localhost:8000/healthz || exit 1
CMD ["epim", "serve", "--host", "0.0.0.0", "--port", "8000", "--runners", "0"]
