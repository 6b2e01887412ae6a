-- Agent mode: `:Qwill agent [task]` runs `qwill.agent.run`, the `qwill/agentEvent` stream is
-- shown as it happens in a `qwill://agent` buffer, each step's edit is reviewed (diff in the
-- view, Apply/Reject prompt) before Neovim applies it, and `:Qwill undo`, `:Qwill rewind N`,
-- `:Qwill cancel` go back or stop.

local M = {}

M.RUN = 'qwill.agent.run'
M.UNDO = 'qwill.agent.undoStep'
M.REWIND = 'qwill.agent.rewind'
M.CANCEL = 'qwill.agent.cancel'

---@class qwill.AgentState
---@field session_id? string
---@field running boolean
---@field buf? integer
---@field text_open boolean   -- the last lines are the model's streaming text
---@field last_result? table
M.state = { running = false, text_open = false }

local function short(value, n)
  local s = type(value) == 'string' and value or vim.json.encode(value)
  s = s:gsub('%s+', ' ')
  if #s > n then
    s = s:sub(1, n - 1) .. '…'
  end
  return s
end

local function split(text)
  return vim.split(text or '', '\n', { plain = true })
end

--- The lines an event adds to the view (pure; `streaming` says the last lines are model text).
--- Returns `lines, append_to_last` where append_to_last continues the previous line.
function M.format_event(ev, streaming)
  local kind = ev.kind
  if kind == 'text' then
    return split(ev.text), streaming
  end
  local lines = {}
  if kind == 'start' then
    lines = { '# Task: ' .. (ev.task or ''), '' }
  elseif kind == 'step' then
    lines = { '', ('## Step %d'):format(ev.step or 0) }
  elseif kind == 'tool_call' then
    lines = { ('→ %s %s'):format(ev.name or '?', short(ev.arguments or {}, 120)) }
  elseif kind == 'tool_result' then
    local first = split(ev.output)[1] or ''
    lines = { ('  %s %s: %s'):format(ev.ok and '✓' or '✗', ev.name or '?', short(first, 120)) }
  elseif kind == 'changes' then
    lines = { 'Changes: ' .. (ev.summary or ''), '```diff' }
    vim.list_extend(lines, split(ev.diff))
    table.insert(lines, '```')
    if ev.flagged and #ev.flagged > 0 then
      table.insert(lines, '⚠ touches tests or CI: ' .. table.concat(ev.flagged, ', '))
    end
  elseif kind == 'applied' then
    lines = { '  applied: ' .. (ev.summary or '') }
  elseif kind == 'rejected' then
    lines = { '  rejected: ' .. (ev.reason or '') }
  elseif kind == 'plan' then
    lines = { 'Plan:' }
    for _, item in ipairs(ev.items or {}) do
      table.insert(lines, ('- [%s] %s'):format(item.done and 'x' or ' ', item.text or ''))
    end
  elseif kind == 'stats' then
    lines = { ('  (prompt %s tokens, %s evaluated, %s generated, %.1f s)'):format(
      ev.promptTokens or '?', ev.prefillTokens or '?', ev.generatedTokens or '?',
      (ev.promptSeconds or 0) + (ev.generateSeconds or 0)) }
  elseif kind == 'done' then
    lines = { '', ('**%s** after %d steps, %d tool calls, %d applied, %d rejected'):format(
      ev.reason or 'done', ev.steps or 0, ev.toolCalls or 0, ev.applied or 0, ev.rejected or 0) }
    vim.list_extend(lines, split(ev.message))
  elseif kind == 'error' then
    lines = { 'Error: ' .. (ev.message or '') }
  elseif kind == 'restored' then
    lines = { '', ('Restored to before step %d: %s'):format(ev.step or 0, table.concat(ev.files or {}, ', ')) }
  elseif kind == 'compacted' then
    lines = { '(older tool results elided to fit the context)' }
  else
    lines = { ('[%s] %s'):format(kind or '?', short(ev, 120)) }
  end
  if streaming then
    table.insert(lines, 1, '')  -- end the model's paragraph before the next item
  end
  return lines, false
end

--- The agent view buffer (created on first use).
function M.view_buf()
  local buf = M.state.buf
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, 'qwill://agent')
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].modifiable = false
  M.state.buf = buf
  M.state.text_open = false
  return buf
end

--- Show the view in a split (unless a window shows it already).
function M.open_view()
  local buf = M.view_buf()
  if vim.fn.bufwinid(buf) == -1 then
    local cur = vim.api.nvim_get_current_win()
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_win_set_height(0, math.max(8, math.floor(vim.o.lines / 3)))
    vim.wo.wrap = true
    vim.api.nvim_set_current_win(cur)
  end
  return buf
end

local function append(lines, continue_last)
  local buf = M.view_buf()
  vim.bo[buf].modifiable = true
  local count = vim.api.nvim_buf_line_count(buf)
  local empty = count == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
  if continue_last and not empty then
    local last = vim.api.nvim_buf_get_lines(buf, count - 1, count, false)[1]
    lines = vim.deepcopy(lines)
    lines[1] = last .. lines[1]
    vim.api.nvim_buf_set_lines(buf, count - 1, count, false, lines)
  elseif empty then
    vim.api.nvim_buf_set_lines(buf, 0, 1, false, lines)
  else
    vim.api.nvim_buf_set_lines(buf, count, count, false, lines)
  end
  vim.bo[buf].modifiable = false
  local win = vim.fn.bufwinid(buf)
  if win ~= -1 then
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  end
end

--- Handler for the server's `qwill/agentEvent` notification.
function M.on_event(_, ev, _)
  if type(ev) ~= 'table' then
    return
  end
  if ev.sessionId then
    M.state.session_id = ev.sessionId
  end
  local lines, continue_last = M.format_event(ev, M.state.text_open)
  append(lines, continue_last)
  M.state.text_open = ev.kind == 'text'
  vim.api.nvim_exec_autocmds('User', { pattern = 'QwillAgentEvent', modeline = false, data = ev })
end

local function client_for()
  local client = vim.lsp.get_clients({ bufnr = 0, name = 'qwill' })[1] or vim.lsp.get_clients({ name = 'qwill' })[1]
  if not client then
    vim.notify('Qwill: no server running', vim.log.levels.WARN)
  end
  return client
end

local function request(client, command, arg, on_result)
  client:request('workspace/executeCommand', { command = command, arguments = { arg } }, function(err, result)
    if err then
      append({ 'Error: ' .. (err.message or tostring(err)) })
      vim.notify('Qwill: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
      result = { status = 'error', message = err.message }
    elseif type(result) == 'table' and result.status == 'error' then
      append({ 'Error: ' .. (result.message or '') })
      vim.notify('Qwill: ' .. (result.message or 'failed'), vim.log.levels.WARN)
    end
    if on_result then
      on_result(result or {})
    end
  end)
end

--- Run `task` (asked with vim.ui.input when nil); continues the current session.
function M.run(task, opts)
  opts = opts or {}
  local client = client_for()
  if not client then
    return
  end
  local function go(text)
    if not text or vim.trim(text) == '' then
      return
    end
    if M.state.running then
      vim.notify('Qwill: the agent is running; :Qwill cancel stops it', vim.log.levels.WARN)
      return
    end
    M.open_view()
    M.state.running = true
    local arg = { task = vim.trim(text), root = client.root_dir or vim.fn.getcwd() }
    if M.state.session_id and not opts.new then
      arg.sessionId = M.state.session_id
    end
    request(client, M.RUN, arg, function(result)
      M.state.running = false
      M.state.last_result = result
      if result.sessionId then
        M.state.session_id = result.sessionId
      end
      vim.api.nvim_exec_autocmds('User', { pattern = 'QwillAgentDone', modeline = false, data = result })
    end)
  end
  if task and vim.trim(task) ~= '' then
    go(task)
  else
    vim.ui.input({ prompt = 'Qwill agent task: ' }, go)
  end
end

local function need_session()
  if not M.state.session_id then
    vim.notify('Qwill: no agent session yet (:Qwill agent <task>)', vim.log.levels.WARN)
    return false
  end
  return true
end

--- Undo the last step of the current session.
function M.undo()
  local client = client_for()
  if client and need_session() then
    request(client, M.UNDO, { sessionId = M.state.session_id })
  end
end

--- Go back to before step `step`.
function M.rewind(step)
  local client = client_for()
  step = tonumber(step)
  if not step then
    vim.notify('Qwill: :Qwill rewind N (the step to go back before)', vim.log.levels.WARN)
    return
  end
  if client and need_session() then
    request(client, M.REWIND, { sessionId = M.state.session_id, step = step })
  end
end

--- Stop the running task.
function M.cancel()
  local client = client_for()
  if client and need_session() then
    request(client, M.CANCEL, { sessionId = M.state.session_id })
  end
end

return M
