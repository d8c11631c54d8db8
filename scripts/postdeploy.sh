#!/bin/sh
# azd postdeploy hook: wire Event Grid to the deployed EventGridTrigger function.
#
# An event subscription with an AzureFunction destination is validated on creation, so it can only be
# created once the function code is deployed (Azure/bicep#11656); azd runs this after `azd deploy`.
# For each source subscription (output EVENTGRID_SOURCE_SUBSCRIPTION_IDS) it deploys infra/eventgrid.bicep,
# the one place that defines the filter, retry policy and dead-lettering:
#   * reusing that subscription's Microsoft.Resources.Subscriptions system topic when one exists (a
#     subscription may have only one): listed in EVENTGRID_EXISTING_SYSTEM_TOPIC_IDS, or discovered;
#   * otherwise creating one (in the app's resource group for the app's subscription, else in
#     rg-<env>-events of the source subscription).
# Idempotent: re-running updates the same event subscription.
set -eu

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

if ! command -v az >/dev/null 2>&1; then
  echo "postdeploy: the Azure CLI (az) is required (see README.md, "Deploy")" >&2
  exit 1
fi
for name in AZURE_ENV_NAME AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_LOCATION AZURE_FUNCTION_APP_ID \
  AZURE_STORAGE_ACCOUNT_ID EVENTGRID_DEADLETTER_CONTAINER EVENTGRID_IDENTITY_ID EVENTGRID_SOURCE_SUBSCRIPTION_IDS; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "postdeploy: $name is not set; run 'azd provision' first" >&2
    exit 1
  fi
done

# JSON arrays of plain ids (GUIDs / resource ids) -> space-separated words.
words() { printf '%s' "$1" | tr -d '[]" \r\n' | tr ',' ' '; }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

subscription_name="rpr-$AZURE_ENV_NAME"
max_attempts=${EVENTGRID_MAX_DELIVERY_ATTEMPTS:-30}
ttl_minutes=${EVENTGRID_EVENT_TTL_MINUTES:-1440}

for sub in $(words "$EVENTGRID_SOURCE_SUBSCRIPTION_IDS"); do
  topic_id=""
  for candidate in $(words "${EVENTGRID_EXISTING_SYSTEM_TOPIC_IDS:-[]}"); do
    case "$(lower "$candidate")" in
      /subscriptions/"$(lower "$sub")"/*) topic_id=$candidate ;;
    esac
  done
  if [ -z "$topic_id" ]; then
    topic_id=$(az eventgrid system-topic list --subscription "$sub" \
      --query "[?topicType=='Microsoft.Resources.Subscriptions'] | [0].id" -o tsv 2>/dev/null || true)
  fi

  if [ -n "$topic_id" ]; then
    use_existing=true
    topic_rg=$(printf '%s' "$topic_id" | sed -E 's#.*/[Rr][Ee][Ss][Oo][Uu][Rr][Cc][Ee][Gg][Rr][Oo][Uu][Pp][Ss]/([^/]+)/.*#\1#')
    topic_name=${topic_id##*/}
    # The topic writes dead letters as our Event Grid identity: attach it if missing (keeps other identities).
    attached=$(az eventgrid system-topic show --ids "$topic_id" --query "identity.userAssignedIdentities" -o json 2>/dev/null || echo "{}")
    if ! printf '%s' "$(lower "$attached")" | grep -q "$(lower "$EVENTGRID_IDENTITY_ID")"; then
      current_type=$(az eventgrid system-topic show --ids "$topic_id" --query "identity.type" -o tsv 2>/dev/null || true)
      case "$current_type" in
        *SystemAssigned*) new_type="SystemAssigned, UserAssigned" ;;
        *) new_type="UserAssigned" ;;
      esac
      echo "postdeploy: attaching identity $EVENTGRID_IDENTITY_ID to existing system topic $topic_id"
      az rest --method patch --url "https://management.azure.com${topic_id}?api-version=2022-06-15" \
        --body "{\"identity\":{\"type\":\"$new_type\",\"userAssignedIdentities\":{\"$EVENTGRID_IDENTITY_ID\":{}}}}" \
        -o none
    fi
    echo "postdeploy: reusing system topic $topic_id"
  else
    use_existing=false
    topic_name="evgt-rpr-$AZURE_ENV_NAME"
    if [ "$(lower "$sub")" = "$(lower "$AZURE_SUBSCRIPTION_ID")" ]; then
      topic_rg=$AZURE_RESOURCE_GROUP
    else
      topic_rg="rg-$AZURE_ENV_NAME-events"
      az group create --subscription "$sub" --name "$topic_rg" --location "$AZURE_LOCATION" \
        --tags "azd-env-name=$AZURE_ENV_NAME" -o none
    fi
    echo "postdeploy: creating system topic $topic_name in $sub/$topic_rg"
  fi

  az deployment group create \
    --subscription "$sub" \
    --resource-group "$topic_rg" \
    --name "eventgrid-$subscription_name" \
    --template-file "$repo_root/infra/eventgrid.bicep" \
    --parameters \
      systemTopicName="$topic_name" \
      useExistingSystemTopic="$use_existing" \
      functionAppId="$AZURE_FUNCTION_APP_ID" \
      eventSubscriptionName="$subscription_name" \
      deadLetterStorageAccountId="$AZURE_STORAGE_ACCOUNT_ID" \
      deadLetterContainerName="$EVENTGRID_DEADLETTER_CONTAINER" \
      deadLetterIdentityId="$EVENTGRID_IDENTITY_ID" \
      maxDeliveryAttempts="$max_attempts" \
      eventTimeToLiveInMinutes="$ttl_minutes" \
    -o none
  echo "postdeploy: event subscription $subscription_name on $topic_name ($sub) -> eventgrid_restore_point_written"
done
