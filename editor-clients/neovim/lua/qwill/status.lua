-- What the server says about its model (`qwill/status`, `$/progress`), per client, and a
-- short text for the statusline: require('qwill').statusline().

local M = {}

---@class qwill.Status
---@field state 'not-loaded'|'loading'|'ready'|'error'
---@field message string
---@field model? table
---@field agentMode? string
---@field progress table<string, {title?: string, message?: string, percentage?: integer}>

---@type table<integer, qwill.Status>
M.clients = {}

local function get(client_id)
  local s = M.clients[client_id]
  if not s then
    s = { state = 'not-loaded', message = 'starting', progress = {} }
    M.clients[client_id] = s
  end
  return s
end

local function redraw()
  vim.schedule(function()
    vim.cmd('redrawstatus')
  end)
end

--- Handler for the server's `qwill/status` notification.
function M.on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  local s = get(ctx.client_id)
  s.state = result.state or s.state
  s.message = result.message or ''
  if type(result.agentMode) == 'string' then
    s.agentMode = result.agentMode
  end
  if result.model ~= nil and result.model ~= vim.NIL then
    s.model = result.model
  elseif s.state ~= 'ready' then
    s.model = nil
  end
  if s.state == 'error' then
    vim.schedule(function()
      vim.notify('Qwill: ' .. s.message, vim.log.levels.ERROR)
    end)
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'QwillStatus', modeline = false, data = {
    client_id = ctx.client_id, state = s.state, message = s.message,
  } })
  redraw()
end

--- `LspProgress` autocmd callback: remember the server's work-done progress.
function M.on_progress(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  if not client or client.name ~= 'qwill' then
    return
  end
  local params = ev.data.params or {}
  local value = params.value or {}
  local token = tostring(params.token)
  local s = get(client.id)
  if value.kind == 'end' then
    s.progress[token] = nil
  else
    local prev = s.progress[token] or {}
    s.progress[token] = {
      title = value.title or prev.title,
      message = value.message or prev.message,
      percentage = value.percentage or prev.percentage,
    }
  end
  redraw()
end

function M.forget(client_id)
  M.clients[client_id] = nil
end

--- True while the model works for this client (an inline completion or a command pending).
function M.busy(client)
  for _, req in pairs(client.requests or {}) do
    if req.type == 'pending' and (req.method == 'textDocument/inlineCompletion'
        or req.method == 'textDocument/completion' or req.method == 'workspace/executeCommand'
        or req.method == 'codeAction/resolve') then
      return true
    end
  end
  return next(get(client.id).progress) ~= nil and get(client.id).state == 'ready'
end

--- One short line: `Qwill: loading 42%`, `Qwill: ready`, `Qwill: busy`, `Qwill: error`.
---@param s qwill.Status
---@param busy boolean
function M.format(s, busy)
  if s.state == 'error' then
    return 'Qwill: error'
  end
  if s.state == 'ready' then
    -- the default agent mode (ask) is not repeated; the others are worth seeing at a glance
    local mode = (s.agentMode and s.agentMode ~= 'ask') and (' [' .. s.agentMode .. ']') or ''
    return (busy and 'Qwill: busy' or 'Qwill: ready') .. mode
  end
  if s.state == 'loading' then
    for _, p in pairs(s.progress) do
      if p.percentage then
        return ('Qwill: loading %d%%'):format(p.percentage)
      end
    end
    return 'Qwill: loading'
  end
  return 'Qwill: starting'
end

--- Lines describing a client's state and model, for `:Qwill status` and `:checkhealth`.
function M.describe(client)
  local s = get(client.id)
  local lines = { M.format(s, M.busy(client)) .. (s.message ~= '' and (' (' .. s.message .. ')') or '') }
  local m = s.model
  if m then
    table.insert(lines, ('model: %s (%s, %s parameters, context %s, FIM %s)'):format(
      m.name or '?', m.architecture or '?', m.parameters and ('%.0fM'):format(m.parameters / 1e6) or '?',
      m.contextLength or '?', (m.fimTemplate ~= vim.NIL and m.fimTemplate) or 'none'))
    if m.path then
      table.insert(lines, 'path: ' .. m.path)
    end
  end
  if s.agentMode then
    table.insert(lines, 'agent mode: ' .. s.agentMode .. ' (settings.agent.approvalMode)')
  end
  return lines
end

--- The statusline text for the current buffer's Qwill client, or '' when there is none.
function M.statusline(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr or 0, name = 'qwill' })[1]
  if not client then
    return ''
  end
  return M.format(get(client.id), M.busy(client))
end

return M
