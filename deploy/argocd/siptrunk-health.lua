-- Argo CD health check for sip.bolna.ai/SipTrunk and sip.bolna.ai/CarrierTrunk (the
-- operator writes the same conditions on both kinds).
--
-- Healthy when the operator reports Ready for the current generation; Degraded when it
-- reports Stalled (nothing will progress until the spec or a Secret changes) or when no
-- gateway answers OPTIONS; Progressing otherwise: not yet seen by the operator, an older
-- generation, being deleted, or work in progress. Install it under
-- resource.customizations.health.sip.bolna.ai_SipTrunk and
-- resource.customizations.health.sip.bolna.ai_CarrierTrunk in argocd-cm.
local hs = { status = "Progressing", message = "Waiting for the operator" }

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted"
  return hs
end
if obj.status == nil then
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    conditions[condition.type] = condition
  end
end

local function current(condition)
  return condition.observedGeneration == nil or condition.observedGeneration >= generation
end

local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" and current(stalled) then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

local ready = conditions["Ready"]
if ready ~= nil and current(ready) then
  if ready.status == "True" then
    hs.status = "Healthy"
    hs.message = ready.message or "Ready"
    return hs
  end
  if ready.reason == "NoHealthyGateway" then
    hs.status = "Degraded"
    hs.message = ready.message or "No gateway answers OPTIONS"
    return hs
  end
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
