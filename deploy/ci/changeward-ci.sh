#!/bin/sh
# Changeward from a CI job, with curl and jq only: create or reference a change, ask the
# deploy gate before each stage (exit 1 on deny, printing every reason), report results.
# The GitHub action and the GitLab template embed this script; a test keeps them equal.
#
#   CHANGEWARD_URL, CHANGEWARD_TOKEN   where Changeward answers, an executor's token
#   CHANGEWARD_STEP    create | gate | start | verify | complete | finish
#   CHANGEWARD_CHANGE_ID or, for `create`, CHANGEWARD_CHANGE_FILE (a change request as JSON)
#   CHANGEWARD_SERVICE, CHANGEWARD_ENVIRONMENT, CHANGEWARD_STAGE (a number, from 1)
#   CHANGEWARD_RESULTS  for `verify`: [{"name": "5xx rate", "result": "pass", "measured": 0.01}]
#   CHANGEWARD_PIPELINE_URL  recorded with each gate check
set -eu
: "${CHANGEWARD_URL:?set CHANGEWARD_URL}" "${CHANGEWARD_TOKEN:?set CHANGEWARD_TOKEN}"
: "${CHANGEWARD_STEP:?set CHANGEWARD_STEP to create, gate, start, verify, complete or finish}"
cw_body=$(mktemp)
trap 'rm -f "$cw_body"' EXIT
cw() {
  if [ $# -ge 3 ]; then
    curl -sS -o "$cw_body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $CHANGEWARD_TOKEN" \
      -H 'Content-Type: application/json' --data "$3" "${CHANGEWARD_URL%/}$2"
  else
    curl -sS -o "$cw_body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $CHANGEWARD_TOKEN" \
      "${CHANGEWARD_URL%/}$2"
  fi
}
cw_fail() {
  echo "changeward: $1 (HTTP $2)" >&2
  jq -r '(.detail // empty), ((.reasons // [])[] | "  - \(.code): \(.message)")' "$cw_body" >&2 \
    || cat "$cw_body" >&2
  exit 1
}
cw_output() {
  echo "$1=$2"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >> "$GITHUB_OUTPUT"; fi
}
change_id=${CHANGEWARD_CHANGE_ID:-}
stage=${CHANGEWARD_STAGE:-}
if [ "$CHANGEWARD_STEP" != create ]; then
  : "${CHANGEWARD_CHANGE_ID:?set CHANGEWARD_CHANGE_ID}"
fi
case "$CHANGEWARD_STEP" in
  create)
    if [ -z "$change_id" ]; then
      : "${CHANGEWARD_CHANGE_FILE:?set CHANGEWARD_CHANGE_FILE or CHANGEWARD_CHANGE_ID}"
      status=$(cw POST /v1/changes "$(cat "$CHANGEWARD_CHANGE_FILE")")
      [ "$status" = 201 ] || cw_fail "the change could not be created" "$status"
      change_id=$(jq -r .id "$cw_body")
      status=$(cw POST "/v1/changes/$change_id/submit")
      [ "$status" = 200 ] || cw_fail "change $change_id could not be submitted" "$status"
    fi
    cw_output change-id "$change_id"
    ;;
  gate | start)
    : "${CHANGEWARD_SERVICE:?set CHANGEWARD_SERVICE}" "${CHANGEWARD_ENVIRONMENT:?set CHANGEWARD_ENVIRONMENT}"
    body=$(jq -n --arg c "$change_id" --arg s "$CHANGEWARD_SERVICE" \
      --arg e "$CHANGEWARD_ENVIRONMENT" --arg n "$stage" --arg p "${CHANGEWARD_PIPELINE_URL:-}" \
      '{change_id: $c, service: $s, environment: $e}
       + (if $n == "" then {} else {stage: ($n | tonumber)} end)
       + (if $p == "" then {} else {pipeline_url: $p} end)')
    status=$(cw POST /v1/gate/checks "$body")
    [ "$status" = 201 ] || cw_fail "the gate could not be asked" "$status"
    jq -r '.reasons[] | "  \(if .blocking then "DENY" else "ok  " end) \(.code): \(.message)"' "$cw_body"
    allow=$(jq -r .allow "$cw_body")
    cw_output allow "$allow"
    if [ "$allow" != true ]; then
      echo "changeward: the gate denies this deploy; next allowed at:" \
        "$(jq -r '.next_allowed_at // "not until someone acts on the reasons"' "$cw_body")" >&2
      exit 1
    fi
    if [ "$CHANGEWARD_STEP" = start ]; then
      : "${CHANGEWARD_STAGE:?set CHANGEWARD_STAGE}"
      status=$(cw POST "/v1/executions/$change_id/stages/$stage/start")
      [ "$status" = 200 ] || cw_fail "stage $stage could not start" "$status"
      echo "changeward: stage $stage started"
    fi
    ;;
  verify)
    : "${CHANGEWARD_STAGE:?set CHANGEWARD_STAGE}" "${CHANGEWARD_RESULTS:?set CHANGEWARD_RESULTS}"
    status=$(cw POST "/v1/executions/$change_id/stages/$stage/verifications" \
      "$(jq -n --argjson r "$CHANGEWARD_RESULTS" '{results: $r}')")
    [ "$status" = 201 ] || cw_fail "the results of stage $stage were not taken" "$status"
    if [ "$(jq -r .status "$cw_body")" = failed ]; then
      echo "changeward: stage $stage failed: $(jq -r .failure_reason "$cw_body")" >&2
      exit 1
    fi
    echo "changeward: stage $stage results recorded"
    ;;
  complete)
    : "${CHANGEWARD_STAGE:?set CHANGEWARD_STAGE}"
    status=$(cw POST "/v1/executions/$change_id/stages/$stage/complete")
    [ "$status" = 200 ] || cw_fail "stage $stage could not complete" "$status"
    echo "changeward: stage $stage completed"
    ;;
  finish)
    status=$(cw POST "/v1/executions/$change_id/complete")
    [ "$status" = 200 ] || cw_fail "the rollout could not be completed" "$status"
    echo "changeward: change $change_id completed"
    ;;
  *)
    echo "changeward: unknown CHANGEWARD_STEP '$CHANGEWARD_STEP'" >&2
    exit 2
    ;;
esac
