# One image for every production service: api, relay, scheduler, projections.
# docker compose (docker-compose.yml) picks the service with its `command`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so code edits reuse this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY crowdfund ./crowdfund
COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY workers ./workers
RUN pip install --no-deps . && rm -rf /src

# No root at run time; the data dir is only used for scratch files in production
# (the event store and read models live in PostgreSQL). Documents filed with offerings
# go to /var/lib/crowdfund/documents (a volume, see docker-compose.yml), owned by the
# user so that a new volume is writable.
RUN useradd --create-home --uid 10001 crowdfund \
    && mkdir -p /var/lib/crowdfund/documents && chown crowdfund /var/lib/crowdfund/documents
USER crowdfund
WORKDIR /home/crowdfund

EXPOSE 8000
ENTRYPOINT ["crowdfund"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
