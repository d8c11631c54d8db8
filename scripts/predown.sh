#!/bin/sh
# azd predown hook: remove what `azd down` does not, because it lives outside the app's resource group:
# the event subscriptions (also on reused system topics), system topics this deployment created in other
# subscriptions (rg-<env>-events), and the restore point role assignments and custom role definitions.
# Failures are reported but do not stop `azd down`.
set -u

if ! command -v az >/dev/null 2>&1; then
  echo "predown: the Azure CLI (az) is required to clean up Event Grid and roles; see README.md, "Deploy"" >&2
  exit 1
fi

words() { printf '%s' "$1" | tr -d '[]" \r\n' | tr ',' ' '; }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
subscription_name="rpr-${AZURE_ENV_NAME:-}"

for sub in $(words "${EVENTGRID_SOURCE_SUBSCRIPTION_IDS:-[]}"); do
  for topic_id in $(az eventgrid system-topic list --subscription "$sub" \
    --query "[?topicType=='Microsoft.Resources.Subscriptions'].id" -o tsv 2>/dev/null); do
    topic_rg=$(printf '%s' "$topic_id" | sed -E 's#.*/[Rr][Ee][Ss][Oo][Uu][Rr][Cc][Ee][Gg][Rr][Oo][Uu][Pp][Ss]/([^/]+)/.*#\1#')
    az eventgrid system-topic event-subscription delete --subscription "$sub" -g "$topic_rg" \
      --system-topic-name "${topic_id##*/}" -n "$subscription_name" --yes -o none 2>/dev/null \
      && echo "predown: deleted event subscription $subscription_name on $topic_id"
  done
  if [ "$(lower "$sub")" != "$(lower "${AZURE_SUBSCRIPTION_ID:-}")" ]; then
    az group delete --subscription "$sub" -n "rg-${AZURE_ENV_NAME:-}-events" --yes --no-wait -o none 2>/dev/null \
      && echo "predown: deleting rg-${AZURE_ENV_NAME:-}-events in $sub"
  fi
done

for role_id in ${SOURCE_ROLE_DEFINITION_ID:-} ${TARGET_ROLE_DEFINITION_ID:-}; do
  for assignment in $(az role assignment list --all --role "$role_id" --query "[].id" -o tsv 2>/dev/null); do
    az role assignment delete --ids "$assignment" -o none && echo "predown: deleted role assignment $assignment"
  done
  role_sub=$(printf '%s' "$role_id" | cut -d/ -f3)
  az role definition delete --name "${role_id##*/}" --scope "/subscriptions/$role_sub" --custom-role-only true -o none \
    && echo "predown: deleted role definition $role_id"
done
exit 0
