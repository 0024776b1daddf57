#!/usr/bin/env bash
# Wait until LocalStack answers and every service docpipe's stack uses is available.
# Usage: scripts/localstack_health.sh [timeout-seconds]   (LOCALSTACK_ENDPOINT, default http://localhost:4566)
set -euo pipefail

ENDPOINT="${LOCALSTACK_ENDPOINT:-${AWS_ENDPOINT_URL:-http://localhost:4566}}"
TIMEOUT="${1:-120}"
# What `samlocal deploy` of template.yaml touches (S3 Vectors is not among them: it runs on moto server).
SERVICES="${LOCALSTACK_SERVICES:-cloudformation s3 sqs dynamodb lambda iam sts logs events secretsmanager cloudwatch}"

deadline=$(( $(date +%s) + TIMEOUT ))
echo "waiting for LocalStack at ${ENDPOINT} (services: ${SERVICES}; timeout ${TIMEOUT}s)"
while :; do
  if body=$(curl -fsS --max-time 5 "${ENDPOINT}/_localstack/health" 2>/dev/null); then
    if missing=$(printf '%s' "$body" | python3 -c '
import json, sys
health = json.load(sys.stdin).get("services", {})
wanted = sys.argv[1].split()
bad = [f"{s}={health.get(s, 'absent')}" for s in wanted if health.get(s) not in ("available", "running")]
print(" ".join(bad))
sys.exit(1 if bad else 0)
' "$SERVICES"); then
      echo "LocalStack is ready: ${SERVICES}"
      exit 0
    fi
    status="not ready: ${missing}"
  else
    status="no answer"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "LocalStack is not ready after ${TIMEOUT}s (${status})" >&2
    exit 1
  fi
  echo "  ${status}; retrying"
  sleep 3
done
