# The study image: `python -m study ...` (create, worker, best export) and optuna-dashboard.
#
#   docker build -t recon-lambda-study .                 # GPU hosts: torch's CUDA wheels from PyPI
#   docker build --build-arg BASE_IMAGE=... \
#                --build-arg TORCH_SPEC=torch==2.13.0 .  # another base, another torch
#
# Build inputs that never go into git lie in docker/local/ (see its README): a CA bundle that pip
# must trust (ca-certificates.crt) and wheels installed before anything else (wheels/*.whl, e.g. a
# CPU build of torch on hosts without GPUs). They stay in the build stages, not in the image.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python
# A bare base (debootstrap's Debian, a CUDA image) may lack Python: the distribution's python3
# then, which must be >= 3.10 (pyproject's requires-python: pip refuses to install under less).
RUN if ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

FROM python AS deps
# Optional pip settings for mirrors and proxies; unset unless given with --build-arg.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG TORCH_SPEC=torch
COPY docker/local/ /tmp/local/
# torch first, on its own layer: the largest download, and the one a host may swap for its build.
RUN if [ -f /tmp/local/ca-certificates.crt ]; then export PIP_CERT=/tmp/local/ca-certificates.crt; fi \
 && python3 -m venv /opt/venv \
 && if ls /tmp/local/wheels/*.whl >/dev/null 2>&1; then pip install /tmp/local/wheels/*.whl; fi \
 && pip install "$TORCH_SPEC"
# The dependencies from pyproject.toml alone, so that editing the code keeps this layer. The
# project supports Python >= 3.10 (a CUDA base on Ubuntu 22.04 has 3.10): before 3.11 the TOML
# reader is tomli, installed for this step only. STUDY_EXTRAS names optional extras of
# pyproject.toml, comma-separated: s3 (boto3) or gcs (google-cloud-storage) for the artifact store.
ARG STUDY_EXTRAS=
COPY pyproject.toml /tmp/build/pyproject.toml
RUN if [ -f /tmp/local/ca-certificates.crt ]; then export PIP_CERT=/tmp/local/ca-certificates.crt; fi \
 && toml=tomllib \
 && if ! python -c "import tomllib" 2>/dev/null; then toml=tomli && pip install "tomli>=1.1"; fi \
 && python -c "import os, $toml as t; p = t.load(open('/tmp/build/pyproject.toml', 'rb'))['project']; \
extras = [d for e in os.environ.get('STUDY_EXTRAS', '').split(',') if e.strip() for d in p['optional-dependencies'][e.strip()]]; \
print('\n'.join(p['dependencies'] + extras))" \
        > /tmp/build/requirements.txt \
 && if [ "$toml" = tomli ]; then pip uninstall -y tomli; fi \
 && pip install -r /tmp/build/requirements.txt
# librosa compiles its numba kernels (every dtype signature) on first use: half a minute in each
# feature-extraction process of `create`. Compiled once here into a cache the image keeps; numba
# reuses it on the CPU model it was compiled on (compose builds on the host that runs it) and
# compiles afresh, as without it, on any other.
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN python -c "import numpy, soundfile, librosa; \
soundfile.write('/tmp/warm.wav', numpy.zeros(16000, 'float32'), 16000); \
y, sr = librosa.load('/tmp/warm.wav', sr=8000); \
librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr))" \
 && rm /tmp/warm.wav

FROM deps AS wheel
COPY README.md /tmp/build/
COPY objectives/ /tmp/build/objectives/
COPY storage/ /tmp/build/storage/
COPY study/ /tmp/build/study/
RUN if [ -f /tmp/local/ca-certificates.crt ]; then export PIP_CERT=/tmp/local/ca-certificates.crt; fi \
 && pip wheel --no-deps --wheel-dir /tmp/wheel /tmp/build

FROM python
COPY --from=deps /opt/venv /opt/venv
# Owned by the user below (uid 1000): numba uses a cache directory only where it may write.
COPY --from=deps --chown=1000:1000 /opt/numba-cache /opt/numba-cache
COPY --from=wheel /tmp/wheel/ /tmp/wheel/
RUN pip install --no-deps --no-index /tmp/wheel/*.whl && rm -rf /tmp/wheel \
 && useradd --create-home --uid 1000 study \
 && mkdir -p /cache /models /artifacts \
 && chown study:study /cache /models /artifacts
COPY docker/entrypoint.sh /usr/local/bin/study-entrypoint.sh
COPY docker/create.sh /usr/local/bin/study-create.sh
USER study
WORKDIR /home/study
# The volumes of docker-compose.yml; a named volume takes these owners on first use.
ENV STUDY_CACHE_DIR=/cache \
    STUDY_MODEL_DIR=/models \
    STUDY_ARTIFACTS=/artifacts \
    NUMBA_CACHE_DIR=/opt/numba-cache
ENTRYPOINT ["/usr/local/bin/study-entrypoint.sh"]
CMD ["python", "-m", "study", "--help"]
