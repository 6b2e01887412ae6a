-- :checkhealth qwill

local M = {}

function M.check()
  local health = vim.health
  local qwill = require('qwill')
  local status = require('qwill.status')

  health.start('Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if qwill.has_inline() then
    health.ok(('Neovim %s has vim.lsp.inline_completion: suggestions show as ghost text'):format(version))
  elseif vim.lsp.inline_completion then
    health.info('ghost text is off (setup({ inline = false })): suggestions come through the completion menu')
  elseif vim.fn.has('nvim-0.11') == 1 then
    health.warn(('Neovim %s has no inline completion; suggestions come through the completion menu'):format(version),
      { 'Neovim 0.12+ shows them as ghost text' })
  else
    health.error(('Neovim %s is too old'):format(version), { 'Qwill needs Neovim 0.11+ (0.12+ for ghost text)' })
  end

  health.start('Configuration')
  local config = vim.lsp.config.qwill
  if not config or not config.cmd then
    health.error('no `qwill` LSP config', { 'add editor-clients/neovim to your runtimepath' })
    return
  end
  local cmd = type(config.cmd) == 'table' and config.cmd or { tostring(config.cmd) }
  health.info('cmd: ' .. table.concat(cmd, ' '))
  if vim.fn.executable(cmd[1]) == 1 then
    health.ok(('`%s` found: %s'):format(cmd[1], vim.fn.exepath(cmd[1])))
  else
    health.error(('`%s` is not executable or not on PATH'):format(cmd[1]), {
      'pip install "qwill[default-model]"',
      'or: require("qwill").setup({ cmd = { "/path/to/.venv/bin/qwill", "serve" } })',
    })
    return
  end
  if vim.lsp.is_enabled and not vim.lsp.is_enabled('qwill') then
    health.warn('the config is not enabled', { "vim.lsp.enable('qwill') or require('qwill').setup()" })
  else
    health.ok('enabled')
  end

  health.start('Server')
  local clients = vim.lsp.get_clients({ name = 'qwill' })
  if #clients == 0 then
    health.info('no Qwill client running (open a file of a configured filetype)')
  end
  for _, client in ipairs(clients) do
    local s = status.clients[client.id]
    local lines = status.describe(client)
    if s and s.state == 'error' then
      health.error(table.concat(lines, '\n'))
    elseif s and s.state == 'ready' then
      health.ok(table.concat(lines, '\n'))
    else
      health.info(table.concat(lines, '\n'))
    end
  end

  health.start('qwill doctor (without loading the model; `:Qwill doctor` loads it)')
  qwill.doctor({ load = false, json = true, sync = true, timeout = 60000 }, function(code, lines)
    local ok, report = pcall(vim.json.decode, table.concat(lines, '\n'))
    if not ok or type(report) ~= 'table' or type(report.checks) ~= 'table' then
      health.error(('doctor failed (exit %s): %s'):format(tostring(code), table.concat(lines, '\n')))
      return
    end
    for _, c in ipairs(report.checks) do
      if c.ok then
        health.ok(c.name .. ': ' .. c.detail)
      else
        health.error(c.name .. ': ' .. c.detail)
      end
    end
  end)
end

return M
