-- Argo CD health check for cams.dev/ChatGroup (see docs/argocd.md).
--
-- It answers the "Argo CD health" column of the operator's outcome table:
--   Suspended    the object is paused (cams.dev/paused: "true", Synced reason ReconcilePaused)
--   Progressing  no status yet; the operator has not judged the current generation
--                (observedGeneration lags); or a retryable outcome (Synced reason Throttled,
--                ReconcileError or ClockSkew) — the operator retries on its own
--   Degraded     Stalled True (CredentialsInvalid, Forbidden, InvalidSpec, Conflict): it needs
--                a person; the message says what CAMS or the operator answered
--   Healthy      Ready True for the current generation: CAMS accepted the current spec
-- Only Lua 5.1 base and string functions are used, as Argo CD's sandbox allows.

local hs = { status = "Progressing", message = "Waiting for the operator to reconcile" }

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
local conditions = obj.status.conditions
local ready = condition(conditions, "Ready")
local synced = condition(conditions, "Synced")
local stalled = condition(conditions, "Stalled")

local annotations = obj.metadata.annotations or {}
local paused = annotations["cams.dev/paused"] == "true"

if synced ~= nil and synced.reason == "ReconcilePaused" then
  if paused then
    hs.status = "Suspended"
    hs.message = "Paused (cams.dev/paused: \"true\"): no CAMS call until it is removed"
    return hs
  end
  hs.message = "Resuming after cams.dev/paused was removed"
  return hs
end

-- A condition written for an older generation says nothing about the current spec.
local function current(c)
  return c ~= nil and (c.observedGeneration == nil or generation == nil or c.observedGeneration == generation)
end

if generation ~= nil and observed ~= generation then
  hs.message = "Generation " .. tostring(generation) .. " not yet reconciled (observed " .. tostring(observed or "none") .. ")"
  if synced ~= nil and synced.status == "False" and current(synced) then
    hs.message = hs.message .. "; " .. describe(synced)
  end
  return hs
end

if stalled ~= nil and stalled.status == "True" and current(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if synced ~= nil and synced.status == "False" then
  -- Throttled, ReconcileError, ClockSkew (and any reason this check does not know yet):
  -- the operator retries with backoff.
  hs.message = "Retrying: " .. describe(synced)
  return hs
end

if ready ~= nil and ready.status == "True" and current(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil then
  hs.message = "Not ready: " .. describe(ready)
end
return hs
