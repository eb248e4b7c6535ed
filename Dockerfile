# syntax=docker/dockerfile:1
# The supportbot API on CPU. Build and run (docs/api.md, "Deployment"):
#   docker build -t supportbot .
#   docker run --rm -p 127.0.0.1:8000:8000 -v supportbot-data:/data supportbot
#   docker run --rm -v supportbot-data:/data supportbot supportbot keys create --role customer
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SUPPORTBOT_HOME=/data

WORKDIR /app

# CPU torch first, in its own layer: the default index would pull several GB of CUDA libraries.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md ./
COPY supportbot ./supportbot
COPY retrieval ./retrieval
COPY finetune ./finetune
COPY graph ./graph
COPY api ./api
COPY ui ./ui
COPY evaluation ./evaluation
COPY data ./data

# Editable install: the packages read the bundled data/ folder beside them (scope rail examples, demo KB).
RUN pip install --no-cache-dir -e . \
    && groupadd --system --gid 10001 supportbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin supportbot \
    && mkdir -p /data \
    && chown supportbot /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# Ready = graph, index and databases loaded (the first start also builds the demo index: allow for it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# Build the demo index into the volume when no index exists, then serve. SUPPORTBOT_INDEX_DIR selects another one.
CMD ["sh", "-c", "index=\"${SUPPORTBOT_INDEX_DIR:-$SUPPORTBOT_HOME/index}\"; if [ \"${SUPPORTBOT_SEARCH_BACKEND:-faiss}\" != faiss ] || [ ! -f \"$index/CURRENT\" ]; then supportbot kb ingest /app/data/kb --index \"$index\"; fi; exec supportbot serve --host 0.0.0.0 --port 8000"]
