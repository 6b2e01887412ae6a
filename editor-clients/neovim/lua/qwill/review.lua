-- `workspace/applyEdit` for the Qwill client: the agent marks its edits `needsConfirmation`;
-- here they are reviewed (the step's diff is in the agent view, then Apply/Reject) and a
-- rejection or a stale buffer is answered `applied = false`, so the agent knows.
-- (Neovim's default handler answers `applied = true` even when its own prompt is declined.)

local M = {}

--- Ask before applying edits that need confirmation (false: apply them as they come).
M.enabled = true

local function stale(edit)
  for _, change in ipairs(edit.documentChanges or {}) do
    local td = change.textDocument
    if td and type(td.version) == 'number' and td.version > 0 then
      local bufnr = vim.uri_to_bufnr(td.uri)
      local current = vim.api.nvim_buf_is_loaded(bufnr) and vim.lsp.util.buf_versions[bufnr]
      if current and current > td.version then
        return ('%s changed since the server read it'):format(vim.uri_to_fname(td.uri))
      end
    end
  end
end

local function confirmations(edit)
  local out = {}
  for _, ann in pairs(edit.changeAnnotations or {}) do
    if ann.needsConfirmation then
      table.insert(out, ann.label .. ((ann.description and ann.description ~= '') and (': ' .. ann.description) or ''))
    end
  end
  table.sort(out)
  return out
end

function M.apply_edit(_, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client or type(params) ~= 'table' or type(params.edit) ~= 'table' then
    return { applied = false, failureReason = 'malformed workspace/applyEdit' }
  end
  local edit = params.edit
  local why = stale(edit)
  if why then
    return { applied = false, failureReason = why }
  end
  local asks = confirmations(edit)
  if #asks > 0 then
    if M.enabled then
      local agent = require('qwill.agent')
      if agent.state.buf then
        agent.open_view()
        vim.cmd('redraw')
      end
      local choice = vim.fn.confirm('Qwill: apply?\n' .. table.concat(asks, '\n'), '&Apply\n&Reject', 1, 'Question')
      if choice ~= 1 then
        return { applied = false, failureReason = 'rejected in review' }
      end
    end
    for _, ann in pairs(edit.changeAnnotations) do
      ann.needsConfirmation = false -- asked once, here
    end
  end
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, edit, client.offset_encoding)
  if not ok then
    return { applied = false, failureReason = tostring(err) }
  end
  return { applied = true }
end

return M
