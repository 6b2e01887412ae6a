-- Code actions that need the editor's help: explain (markdown in a float) and rewrite (asks
-- for the instruction with vim.ui.input). The other actions (fix, docstring, tests) come
-- from the server's code action list (`gra` / vim.lsp.buf.code_action()) and need nothing here.

local M = {}

--- The server commands this module answers on the client side (see lsp/qwill.lua `commands`).
M.EXPLAIN = 'qwill.explain'
M.REWRITE = 'qwill.rewrite'

local function client_for(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'qwill' })[1]
  if not client then
    vim.notify('Qwill: no server attached to this buffer', vim.log.levels.WARN)
  end
  return client
end

--- An LSP range for lines `line1`..`line2` (1-based, inclusive), or the cursor when no range.
function M.target(bufnr, line1, line2, client)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local enc = client and client.offset_encoding or 'utf-16'
  local range
  if line1 and line2 then
    local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
    range = {
      start = { line = line1 - 1, character = 0 },
      ['end'] = { line = line2 - 1, character = vim.str_utfindex(last, enc) },
    }
  else
    local pos = vim.lsp.util.make_position_params(0, enc).position
    range = { start = pos, ['end'] = pos }
  end
  return { uri = vim.uri_from_bufnr(bufnr), range = range }
end

--- Send `workspace/executeCommand` and call `on_result(result)`; errors are shown.
function M.execute(client, bufnr, command, arguments, on_result)
  client:request('workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      vim.notify(('Qwill: %s failed: %s'):format(command, err.message or tostring(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result or {})
    end
  end, bufnr)
end

local function show_markdown(result)
  if result.status ~= 'ok' or type(result.markdown) ~= 'string' then
    if result.status == 'error' then
      vim.notify('Qwill: ' .. (result.message or 'explain failed'), vim.log.levels.WARN)
    end
    return
  end
  local lines = vim.split(result.markdown, '\n', { plain = true })
  require('qwill').float(lines, ' ' .. (result.title or 'Qwill') .. ' ', 'markdown')
end

--- Explain a target ({uri, range}) and show the answer in a markdown float.
function M.explain(client, bufnr, target)
  vim.notify('Qwill: explaining...')
  M.execute(client, bufnr, M.EXPLAIN, { target }, show_markdown)
end

local function report_edit(result)
  if result.status == 'applied' then
    vim.notify('Qwill: ' .. (result.label or 'applied'))
  elseif result.status == 'error' and result.message then
    vim.notify('Qwill: ' .. result.message, vim.log.levels.WARN)
  elseif result.status == 'cancelled' then
    vim.notify('Qwill: cancelled')
  end
end

--- Rewrite a target with `instruction` (asked with vim.ui.input when nil).
function M.rewrite(client, bufnr, target, instruction)
  local function run(text)
    if not text or vim.trim(text) == '' then
      vim.notify('Qwill: no instruction; nothing changed')
      return
    end
    M.execute(client, bufnr, M.REWRITE, { target, vim.trim(text) }, report_edit)
  end
  if instruction and instruction ~= '' then
    run(instruction)
  else
    vim.ui.input({ prompt = 'Qwill: rewrite how? ' }, run)
  end
end

--- Client-side handlers for the server's explain/rewrite commands, so that picking them in
--- the code action menu shows the explanation and asks for the instruction.
M.commands = {
  [M.EXPLAIN] = function(command, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client then
      M.explain(client, ctx.bufnr, (command.arguments or {})[1])
    end
  end,
  [M.REWRITE] = function(command, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    local args = command.arguments or {}
    if client then
      M.rewrite(client, ctx.bufnr, args[1], type(args[2]) == 'string' and args[2] or nil)
    end
  end,
}

--- `:[range]Qwill explain`
function M.explain_command(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client then
    local ranged = opts.range and opts.range > 0
    M.explain(client, bufnr, M.target(bufnr, ranged and opts.line1 or nil, ranged and opts.line2 or nil, client))
  end
end

--- `:[range]Qwill rewrite [instruction]` (no range: the current line)
function M.rewrite_command(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client then
    local line1 = opts.range and opts.range > 0 and opts.line1 or vim.fn.line('.')
    local line2 = opts.range and opts.range > 0 and opts.line2 or line1
    local instruction = table.concat(vim.list_slice(opts.fargs, 2), ' ')
    M.rewrite(client, bufnr, M.target(bufnr, line1, line2, client), instruction)
  end
end

return M
