-- Next-edit suggestions: after a change, `qwill/nextEdit` proposes the edit that follows it,
-- shown where it would go (the text it removes struck through, the text it adds as virtual
-- text, or whole proposed lines below). <Tab> jumps there, <Tab> again applies it (one undo
-- step), <Esc> dismisses it; the next change cancels it. The server is told what became of
-- each prediction (`qwill/nextEdit/shown|accepted|rejected`, counted locally only).

local M = {}

M.ns = vim.api.nvim_create_namespace('qwill.nextedit')
M.REQUEST = 'qwill/nextEdit'

--- On unless `:Qwill nextedit off` or `settings.nextEdit.enabled = false`.
M.enabled = true
--- Milliseconds after the last change before asking (settings.nextEdit.debounce, seconds).
M.debounce_ms = 300
--- While a prediction is shown: Normal mode's key that jumps/applies (Insert mode's is the
--- accept mapping of init.lua) and the key that dismisses it (false: none; call tab() and
--- dismiss() from your own mappings).
M.tab_key = '<Tab>'
M.dismiss_key = '<Esc>'

---@class qwill.NextEditState
---@field timer? uv.uv_timer_t
---@field request? { client: vim.lsp.Client, id: integer }
---@field asked? integer changedtick of the last request
---@field prediction? table the server's answer, plus `client` and `jumped`
---@type table<integer, qwill.NextEditState>
local buffers = {}

local function state(bufnr)
  buffers[bufnr] = buffers[bufnr] or {}
  return buffers[bufnr]
end

--- The document version Neovim's LSP client last sent for `bufnr` (its changedtick).
local function version(bufnr)
  local versions = vim.lsp.util.buf_versions
  return (versions and versions[bufnr]) or vim.b[bufnr].changedtick
end

--- `bufnr`, or the current buffer for nil or 0.
local function buffer(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'qwill' })[1]
end

local function notify(client, what, id)
  if client and not client:is_stopped() then
    client:notify(M.REQUEST .. '/' .. what, { id = id })
  end
end

--- A position of the prediction (LSP, in the client's encoding) as a 0-based (row, byte col);
--- the line after the last one (an insertion at the end of the file) is the last line's end.
local function to_byte(bufnr, pos, encoding)
  local last = vim.api.nvim_buf_line_count(bufnr) - 1
  if pos.line > last then
    return last, #(vim.api.nvim_buf_get_lines(bufnr, last, last + 1, false)[1] or '')
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, pos.character, false)
  return pos.line, ok and col or #line
end

local function set_hl()
  local delete = vim.api.nvim_get_hl(0, { name = 'DiffDelete', link = false })
  delete.strikethrough = true
  delete.default = true
  vim.api.nvim_set_hl(0, 'QwillNextEditDelete', delete)
  vim.api.nvim_set_hl(0, 'QwillNextEditAdd', { link = 'DiffAdd', default = true })
  vim.api.nvim_set_hl(0, 'QwillNextEditHint', { link = 'Comment', default = true })
end

local function unmap(bufnr)
  for _, mode in ipairs({ 'n', 'i' }) do
    for _, lhs in ipairs({ M.tab_key or '', M.dismiss_key or '' }) do
      if lhs ~= '' and (mode == 'i' and lhs == M.dismiss_key or mode == 'n') then
        pcall(vim.keymap.del, mode, lhs, { buffer = bufnr })
      end
    end
  end
end

--- Remove what is shown (and the keys mapped while it is); `outcome` ('rejected') is sent.
local function clear(bufnr, outcome)
  local s = buffers[bufnr]
  if not s or not s.prediction then
    return
  end
  local pred = s.prediction
  s.prediction = nil
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
    unmap(bufnr)
  end
  if outcome then
    notify(pred.client, outcome, pred.id)
  end
end

--- The edit's result lines: the start line up to the edit, the new text, the end line after it.
local function proposed_lines(bufnr, sr, sc, er, ec, text)
  local first = vim.api.nvim_buf_get_lines(bufnr, sr, sr + 1, false)[1] or ''
  local last = vim.api.nvim_buf_get_lines(bufnr, er, er + 1, false)[1] or ''
  local lines = vim.split(first:sub(1, sc) .. text .. last:sub(ec + 1), '\n', { plain = true })
  return lines
end

--- An insertion after the last line's newline as one at the end of the last line: the same
--- change, which Neovim's apply_text_edits makes without leaving an empty line at the end.
local function at_last_line(bufnr, edits, encoding)
  local count = vim.api.nvim_buf_line_count(bufnr)
  local last = vim.api.nvim_buf_get_lines(bufnr, count - 1, count, false)[1] or ''
  local out = {}
  for _, e in ipairs(edits) do
    local s, t = e.range.start, e.range['end']
    if s.line >= count and t.line >= count and vim.bo[bufnr].eol and e.newText:sub(-1) == '\n' then
      local at = { line = count - 1, character = vim.str_utfindex(last, encoding) }
      e = { range = { start = at, ['end'] = at }, newText = '\n' .. e.newText:sub(1, -2) }
    end
    table.insert(out, e)
  end
  return out
end

local function render(bufnr, pred)
  local enc = pred.client.offset_encoding or 'utf-16'
  local line_count = vim.api.nvim_buf_line_count(bufnr)
  for _, edit in ipairs(pred.edits) do
    local at_end = edit.range.start.line >= line_count -- after the last line, no newline at the end
    local sr, sc = to_byte(bufnr, edit.range.start, enc)
    local er, ec = to_byte(bufnr, edit.range['end'], enc)
    if sr ~= er or sc ~= ec then
      vim.api.nvim_buf_set_extmark(bufnr, M.ns, sr, sc, {
        end_row = er, end_col = ec, hl_group = 'QwillNextEditDelete', priority = 200,
      })
    end
    if sr == er and not edit.newText:find('\n', 1, true) then
      if edit.newText ~= '' then
        vim.api.nvim_buf_set_extmark(bufnr, M.ns, er, ec, {
          virt_text = { { edit.newText, 'QwillNextEditAdd' } }, virt_text_pos = 'inline', priority = 200,
        })
      end
    else
      local virt_lines, above = {}, false
      local lines = at_end and vim.split(edit.newText:gsub('\n$', ''), '\n', { plain = true })
        or proposed_lines(bufnr, sr, sc, er, ec, edit.newText)
      if not at_end and sr == er and sc == ec then
        -- lines inserted: show only the new ones, below or above the line they join
        local line = vim.api.nvim_buf_get_lines(bufnr, sr, sr + 1, false)[1] or ''
        if lines[1] == line then
          table.remove(lines, 1)
        elseif lines[#lines] == line then
          table.remove(lines)
          above = true
        end
      end
      for _, l in ipairs(lines) do
        table.insert(virt_lines, { { l, 'QwillNextEditAdd' } })
      end
      vim.api.nvim_buf_set_extmark(bufnr, M.ns, er, 0, {
        virt_lines = virt_lines, virt_lines_above = above, priority = 200,
      })
    end
  end
  local jr = to_byte(bufnr, pred.jump, enc)
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, jr, 0, {
    virt_text = { { '  Qwill: <Tab> next edit', 'QwillNextEditHint' } }, virt_text_pos = 'eol',
  })
end

--- Keys that act on the prediction while it is shown: <Tab> in Normal mode (Insert mode's
--- <Tab> is the accept key of init.lua, which accepts ghost text first), <Esc> in both.
local function map(bufnr)
  if M.tab_key and M.tab_key ~= '' then
    vim.keymap.set('n', M.tab_key, function()
      M.tab(bufnr)
    end, { buffer = bufnr, desc = 'Qwill: jump to / apply the next edit' })
  end
  if M.dismiss_key and M.dismiss_key ~= '' then
    vim.keymap.set({ 'n', 'i' }, M.dismiss_key, function()
      M.dismiss(bufnr)
      return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' and vim.keycode(M.dismiss_key) or ''
    end, { buffer = bufnr, expr = true, desc = 'Qwill: dismiss the next edit' })
  end
end

local function on_result(bufnr, tick, client, err, result)
  local s = state(bufnr)
  s.request = nil
  if err or type(result) ~= 'table' or type(result.id) ~= 'string' or type(result.edits) ~= 'table'
      or #result.edits == 0 then
    if type(result) == 'table' and result.reason and result.reason ~= '' then
      vim.lsp.log.debug('qwill next edit: ' .. tostring(result.reason))
    end
    return
  end
  -- typed on since the request (or the server's version is not this one): stale
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.b[bufnr].changedtick ~= tick
      or result.version ~= version(bufnr) or not M.enabled then
    notify(client, 'rejected', result.id)
    return
  end
  clear(bufnr, 'rejected')
  result.edits = at_last_line(bufnr, result.edits, client.offset_encoding or 'utf-16')
  result.client = client
  result.jumped = false
  s.prediction = result
  render(bufnr, result)
  map(bufnr)
  notify(client, 'shown', result.id)
  vim.api.nvim_exec_autocmds('User', { pattern = 'QwillNextEdit', modeline = false, data = { id = result.id } })
end

local function cancel_request(s)
  if s.request then
    pcall(s.request.client.cancel_request, s.request.client, s.request.id)
    s.request = nil
  end
end

--- Ask for a prediction at the cursor of the current window, if it shows `bufnr`.
function M.request(bufnr)
  bufnr = buffer(bufnr)
  local s = state(bufnr)
  local client = client_for(bufnr)
  if not client or not M.enabled or vim.api.nvim_get_current_buf() ~= bufnr then
    return
  end
  cancel_request(s)
  local tick = vim.b[bufnr].changedtick
  s.asked = tick
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  -- with `bufnr`, the client sends the pending didChange first
  local ok, id = client:request(M.REQUEST, params, function(err, result)
    on_result(bufnr, tick, client, err, result)
  end, bufnr)
  if ok then
    s.request = { client = client, id = id }
  end
end

--- A change to the buffer: what was shown is stale, a running request is cancelled, and a new
--- one starts once the changes pause for `debounce_ms`.
function M.on_change(bufnr)
  local s = state(bufnr)
  clear(bufnr, 'rejected')
  cancel_request(s)
  if not M.enabled or s.asked == vim.b[bufnr].changedtick then
    return
  end
  s.timer = s.timer or vim.uv.new_timer()
  s.timer:stop()
  s.timer:start(M.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.api.nvim_buf_is_valid(bufnr) and s.asked ~= vim.b[bufnr].changedtick then
      M.request(bufnr)
    end
  end))
end

--- The prediction shown in `bufnr`, if it is still for the buffer's text.
function M.current(bufnr)
  bufnr = buffer(bufnr)
  local s = buffers[bufnr]
  local pred = s and s.prediction
  if pred and pred.version ~= version(bufnr) then
    clear(bufnr, 'rejected')
    return nil
  end
  return pred
end

--- Move the cursor to where the prediction starts.
function M.jump(bufnr)
  bufnr = buffer(bufnr)
  local pred = M.current(bufnr)
  if not pred then
    return false
  end
  local row, col = to_byte(bufnr, pred.jump, pred.client.offset_encoding or 'utf-16')
  if vim.api.nvim_get_mode().mode == 'n' then
    vim.cmd("normal! m'") -- <C-o> goes back
  end
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  pred.jumped = true
  return true
end

--- Apply the prediction as one change (one undo step) and put the cursor after it.
function M.apply(bufnr)
  bufnr = buffer(bufnr)
  local pred = M.current(bufnr)
  if not pred then
    return false
  end
  local client = pred.client
  local enc = client.offset_encoding or 'utf-16'
  clear(bufnr, nil) -- before the change, so that the change does not count it as rejected
  vim.lsp.util.apply_text_edits(pred.edits, bufnr, enc)
  local row, col = to_byte(bufnr, pred.cursor, enc)
  pcall(vim.api.nvim_win_set_cursor, 0, { row + 1, col })
  notify(client, 'accepted', pred.id)
  return true
end

--- <Tab>: jump to the prediction, or apply it when the cursor is already there.
function M.tab(bufnr)
  local pred = M.current(bufnr)
  if not pred then
    return false
  end
  if pred.jumped then
    return M.apply(bufnr)
  end
  return M.jump(bufnr)
end

--- Hide the prediction without applying it (told to the server as rejected).
function M.dismiss(bufnr)
  bufnr = buffer(bufnr)
  if not M.current(bufnr) then
    return false
  end
  clear(bufnr, 'rejected')
  return true
end

--- The keys the Insert-mode accept mapping returns for the prediction (nil: none shown).
--- Insert mode's undo sequence is broken around the change so that `u` undoes just it.
function M.insert_keys(bufnr)
  local pred = M.current(bufnr)
  if not pred then
    return nil
  end
  local cmd = ("<Cmd>lua require('qwill.nextedit').tab(%d)<CR>"):format(bufnr)
  return vim.keycode(pred.jumped and ('<C-g>u' .. cmd .. '<C-g>u') or cmd)
end

--- Start following changes in `bufnr` (called on LspAttach).
function M.attach(bufnr)
  local group = vim.api.nvim_create_augroup('qwill.nextedit.' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'TextChangedP' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.on_change(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufUnload', 'LspDetach' }, {
    group = group,
    buffer = bufnr,
    callback = function(args)
      if args.event == 'LspDetach' and client_for(bufnr) then
        return
      end
      M.detach(bufnr)
    end,
  })
end

function M.detach(bufnr)
  local s = buffers[bufnr]
  if not s then
    return
  end
  clear(bufnr, 'rejected')
  cancel_request(s)
  if s.timer then
    s.timer:stop()
    s.timer:close()
  end
  buffers[bufnr] = nil
  pcall(vim.api.nvim_del_augroup_by_name, 'qwill.nextedit.' .. bufnr)
end

--- `:Qwill nextedit on|off` (no argument: toggle).
function M.set_enabled(on)
  if on == nil then
    on = not M.enabled
  end
  M.enabled = on
  if not on then
    for bufnr, s in pairs(buffers) do
      clear(bufnr, 'rejected')
      cancel_request(s)
      if s.timer then
        s.timer:stop()
      end
    end
  end
  vim.notify('Qwill: next-edit suggestions ' .. (on and 'on' or 'off'))
end

--- Read `settings.nextEdit` ({ enabled, debounce }) and the keys (`keymaps.accept`,
--- `keymaps.dismiss_edit`; false: none).
function M.setup(settings, keymaps)
  local ne = type(settings) == 'table' and settings.nextEdit or {}
  M.enabled = ne.enabled ~= false
  if type(ne.debounce) == 'number' and ne.debounce >= 0 then
    M.debounce_ms = math.floor(ne.debounce * 1000)
  end
  M.tab_key = keymaps and keymaps.accept or false
  M.dismiss_key = keymaps and keymaps.dismiss_edit or false
  set_hl()
  vim.api.nvim_create_autocmd('ColorScheme', {
    group = vim.api.nvim_create_augroup('qwill.nextedit.hl', { clear = true }),
    callback = set_hl,
  })
end

return M
