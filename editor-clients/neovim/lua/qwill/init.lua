-- Qwill for Neovim: ghost text from a local model through `qwill serve`.
--
--   require('qwill').setup({
--     cmd = { 'qwill', 'serve' },            -- or { '/path/to/.venv/bin/qwill', 'serve' }
--     settings = { engine = { model = 'default' } },   -- sent as initializationOptions
--     keymaps = { accept = '<Tab>', next = '<M-]>', prev = '<M-[>', dismiss = '<C-]>',
--                 dismiss_edit = '<Esc>' },
--   })
--
-- Neovim 0.12+: inline completion (`vim.lsp.inline_completion`, ghost text).
-- Neovim 0.11: the same suggestion as the first item of `vim.lsp.completion`'s menu.
-- Both: next-edit suggestions (qwill.nextedit): <Tab> jumps to the predicted edit and applies it.

local nextedit = require('qwill.nextedit')
local status = require('qwill.status')

local M = {}

---@class qwill.Options
M.defaults = {
  --- Start the server for the filetypes of lsp/qwill.lua (false: only vim.lsp.config).
  enable = true,
  --- Command that starts the server (nil: keep lsp/qwill.lua's `{ 'qwill', 'serve' }`).
  cmd = nil,
  --- Filetypes to attach to (nil: lsp/qwill.lua's list).
  filetypes = nil,
  --- Server settings, nested (`{ completion = { maxTokens = 48 } }`).
  settings = {},
  --- Ghost text on 0.12+; false puts the suggestion in the completion menu (as on 0.11).
  inline = true,
  --- Ask Apply/Reject before an agent step's edit lands (false: apply without asking).
  review = true,
  --- Insert-mode keymaps; false disables all, a key set to false disables that one. `accept`
  --- also jumps to and applies a next-edit suggestion (and does so in Normal mode while one is
  --- shown); `dismiss_edit` hides one (mapped only while one is shown, keeping its usual meaning).
  keymaps = {
    accept = '<Tab>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    dismiss_edit = '<Esc>',
  },
}

M.options = vim.deepcopy(M.defaults)

--- True when this Neovim shows LSP inline completions (0.12+).
function M.has_inline()
  return M.options.inline ~= false and vim.lsp.inline_completion ~= nil
end

--- The running Qwill client for a buffer (nil: any buffer).
function M.client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'qwill' })[1]
end

--- Accept the ghost text shown at the cursor. Returns false when there is none.
function M.accept()
  if M.has_inline() then
    return vim.lsp.inline_completion.get()
  end
  return false
end

--- Hide the ghost text without inserting it. Returns false when there is none.
function M.dismiss()
  if M.has_inline() then
    return vim.lsp.inline_completion.get({ on_accept = function() end })
  end
  return false
end

--- Show the next (count 1) or previous (count -1) suggestion.
function M.select(count)
  if M.has_inline() then
    vim.lsp.inline_completion.select({ count = count })
  end
end

local function map_keys(bufnr)
  local keys = M.options.keymaps
  if not keys then
    return
  end
  if keys.accept then
    -- ghost text first; else the next-edit suggestion (jump, then apply); else the key itself
    vim.keymap.set('i', keys.accept, function()
      if M.accept() then
        return ''
      end
      return nextedit.insert_keys(bufnr) or vim.keycode(keys.accept)
    end, { buffer = bufnr, expr = true, replace_keycodes = false, desc = 'Qwill: accept the suggestion' })
  end
  if not M.has_inline() then
    return
  end
  local function expr_map(lhs, fn, desc)
    if not lhs then
      return
    end
    vim.keymap.set('i', lhs, function()
      if not fn() then
        return vim.api.nvim_replace_termcodes(lhs, true, false, true)
      end
      return ''
    end, { buffer = bufnr, expr = true, replace_keycodes = false, desc = desc })
  end
  expr_map(keys.dismiss, M.dismiss, 'Qwill: dismiss the suggestion')
  if keys.next then
    vim.keymap.set('i', keys.next, function() M.select(1) end, { buffer = bufnr, desc = 'Qwill: next suggestion' })
  end
  if keys.prev then
    vim.keymap.set('i', keys.prev, function() M.select(-1) end, { buffer = bufnr, desc = 'Qwill: previous suggestion' })
  end
end

--- Neovim's completion inserts only the first word of a plain-text item (its `word`); for a
--- Qwill item, replace that word with the item's whole text edit (several lines included).
local function on_complete_done()
  local item = vim.v.completed_item
  local data = type(item) == 'table' and type(item.user_data) == 'table' and item.user_data.nvim
  local lsp_data = type(data) == 'table' and data.lsp
  if type(lsp_data) ~= 'table' then
    return
  end
  local client = vim.lsp.get_client_by_id(lsp_data.client_id)
  local ci = lsp_data.completion_item
  if not client or client.name ~= 'qwill' or type(ci) ~= 'table' or not ci.textEdit
      or ci.insertTextFormat == 2 or ci.textEdit.newText == item.word then
    return
  end
  local start = ci.textEdit.range.start
  local row = start.line
  local line = vim.api.nvim_buf_get_lines(0, row, row + 1, false)[1] or ''
  local col = vim.str_byteindex(line, client.offset_encoding or 'utf-16', start.character, false)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local lines = vim.split(ci.textEdit.newText, '\n', { plain = true })
  vim.api.nvim_buf_set_text(0, row, col, cursor[1] - 1, cursor[2], lines)
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines, last_col })
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= 'qwill' then
    return
  end
  local bufnr = args.buf
  if M.has_inline() then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  elseif vim.lsp.completion and vim.lsp.completion.enable then
    -- Neovim 0.11: no ghost text; the suggestion comes as a completion item.
    vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = true })
    vim.api.nvim_create_autocmd('CompleteDone', {
      group = vim.api.nvim_create_augroup('qwill.complete.' .. bufnr, { clear = true }),
      buffer = bufnr,
      callback = on_complete_done,
    })
  end
  map_keys(bufnr)
  nextedit.attach(bufnr)
end

--- Show `lines` in a centered floating window (q or <Esc> closes it).
function M.float(lines, title, filetype)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  if filetype then
    vim.bo[buf].filetype = filetype
  end
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 2, math.floor(vim.o.columns * 0.9))
  local height = math.min(#lines, math.floor(vim.o.lines * 0.8))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor', style = 'minimal', border = 'rounded', title = title, title_pos = 'center',
    width = width, height = math.max(height, 1),
    row = math.floor((vim.o.lines - height) / 2), col = math.floor((vim.o.columns - width) / 2),
  })
  vim.wo[win].wrap = true
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, function()
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
    end, { buffer = buf, nowait = true })
  end
  return buf, win
end

--- The command that runs `qwill <subcommand>`: the configured `cmd` up to its `serve`.
--- (`{ 'qwill', 'serve' }` -> `{ 'qwill' }`; `{ 'python', '-m', 'qwill', 'serve' }` keeps the prefix.)
function M.qwill_argv()
  local cmd = (vim.lsp.config.qwill or {}).cmd
  if type(cmd) ~= 'table' or not cmd[1] then
    return { 'qwill' }
  end
  local argv = {}
  for _, arg in ipairs(cmd) do
    if arg == 'serve' then
      return argv
    end
    table.insert(argv, arg)
  end
  return { cmd[1] }
end

--- `qwill doctor` with the configured settings; calls `on_done(code, lines)`.
function M.doctor(opts, on_done)
  opts = opts or {}
  local argv = M.qwill_argv()
  if vim.fn.executable(argv[1]) ~= 1 then
    on_done(nil, { ('`%s` was not found. Install the server: pip install "qwill[default-model]",'):format(argv[1]),
      'or set cmd = { "/path/to/qwill", "serve" } in require("qwill").setup().' })
    return
  end
  local config_file = vim.fn.tempname() .. '.json'
  local settings = (vim.lsp.config.qwill or {}).init_options or {}
  vim.fn.writefile({ vim.json.encode(next(settings) and settings or vim.empty_dict()) }, config_file)
  vim.list_extend(argv, { 'doctor', '--config', config_file })
  if opts.load == false then
    table.insert(argv, '--no-load')
  end
  if opts.json then
    table.insert(argv, '--json')
  end
  local function finish(res)
    os.remove(config_file)
    local text = (res.stdout or '') .. (res.stderr or '')
    on_done(res.code, vim.split(vim.trim(text), '\n', { plain = true }))
  end
  if opts.sync then
    finish(vim.system(argv, { text = true }):wait(opts.timeout or 120000))
  else
    vim.system(argv, { text = true }, vim.schedule_wrap(finish))
  end
end

--- Restart the server (stop the clients, start them again for the open buffers).
function M.restart()
  vim.lsp.enable('qwill', false)
  vim.lsp.enable('qwill', true)
end

--- Turn ghost text on or off for every buffer.
function M.toggle()
  if not M.has_inline() then
    vim.notify('Qwill: inline completion needs Neovim 0.12+', vim.log.levels.WARN)
    return
  end
  local on = not vim.lsp.inline_completion.is_enabled()
  vim.lsp.inline_completion.enable(on)
  vim.notify('Qwill: inline completion ' .. (on and 'on' or 'off'))
end

M.commands = {
  status = function()
    local clients = vim.lsp.get_clients({ name = 'qwill' })
    if #clients == 0 then
      vim.notify('Qwill: no server running for this session (is the filetype in lsp/qwill.lua?)',
        vim.log.levels.WARN)
      return
    end
    local lines = {}
    for _, c in ipairs(clients) do
      vim.list_extend(lines, status.describe(c))
    end
    vim.notify(table.concat(lines, '\n'))
  end,
  doctor = function()
    vim.notify('Qwill: running doctor (loads the model once)...')
    M.doctor({}, function(_, lines)
      M.float(lines, ' qwill doctor ')
    end)
  end,
  restart = function()
    M.restart()
  end,
  toggle = function()
    M.toggle()
  end,
  log = function()
    vim.cmd.edit(vim.lsp.log.get_filename())
  end,
  nextedit = function(opts)
    local arg = opts.fargs[2]
    if arg ~= nil and arg ~= 'on' and arg ~= 'off' then
      vim.notify(('Qwill: nextedit takes on or off, not "%s"'):format(arg), vim.log.levels.ERROR)
      return
    end
    nextedit.set_enabled(arg == nil and nil or arg == 'on')
  end,
  explain = function(opts)
    require('qwill.actions').explain_command(opts)
  end,
  rewrite = function(opts)
    require('qwill.actions').rewrite_command(opts)
  end,
  agent = function(opts)
    require('qwill.agent').run(table.concat(vim.list_slice(opts.fargs, 2), ' '), { new = opts.bang })
  end,
  undo = function()
    require('qwill.agent').undo()
  end,
  rewind = function(opts)
    require('qwill.agent').rewind(opts.fargs[2])
  end,
  cancel = function()
    require('qwill.agent').cancel()
  end,
}

local function command(opts)
  local name = opts.fargs[1] or 'status'
  local fn = M.commands[name]
  if not fn then
    vim.notify(('Qwill: unknown subcommand "%s" (%s)'):format(name,
      table.concat(vim.tbl_keys(M.commands), ', ')), vim.log.levels.ERROR)
    return
  end
  fn(opts)
end

function M.create_command()
  vim.api.nvim_create_user_command('Qwill', command, {
    nargs = '*',
    range = true,
    bang = true,
    desc = 'Qwill: status, doctor, restart, toggle, nextedit, log, explain, rewrite, agent, undo, rewind, cancel',
    complete = function(arg_lead, line)
      local words = vim.split(line, '%s+')
      if #words == 3 and words[2] == 'nextedit' then
        return vim.tbl_filter(function(n)
          return vim.startswith(n, arg_lead)
        end, { 'off', 'on' })
      end
      if #words > 2 then
        return {}
      end
      local names = vim.tbl_keys(M.commands)
      table.sort(names)
      return vim.tbl_filter(function(n)
        return vim.startswith(n, arg_lead)
      end, names)
    end,
  })
end

---@param opts? qwill.Options
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.keymaps == false then
    M.options.keymaps = false
  end
  require('qwill.review').enabled = M.options.review ~= false
  nextedit.setup(M.options.settings, M.options.keymaps)
  local config = { init_options = M.options.settings }
  if M.options.cmd then
    config.cmd = M.options.cmd
  end
  if M.options.filetypes then
    config.filetypes = M.options.filetypes
  end
  vim.lsp.config('qwill', config)

  local group = vim.api.nvim_create_augroup('qwill', { clear = true })
  vim.api.nvim_create_autocmd('LspAttach', { group = group, callback = on_attach })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = status.on_progress })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == 'qwill' and vim.tbl_isempty(client.attached_buffers) then
        status.forget(client.id)
      end
    end,
  })
  M.create_command()
  if M.options.enable then
    vim.lsp.enable('qwill')
  end
end

M.statusline = status.statusline

return M
